"""quantlab.charts: the chart specs (Vega-Lite dicts) have the encodings, scales, tooltips and
colours the book relies on. Rows are small synthetic ones (unit tests only)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

import fakes
from quantlab import charts
from quantlab.analysis import rows as rowmod
from quantlab.numerics import quantize as qz

SEEDS = (0, 1, 2)


def record(family, size, seed, err=0.2, bits=(2, 3)):
    params = 5000 * (size[0] if family == "ffdnn" else sum(size)) + 10
    metrics = fakes.metrics(
        params, params - 10, fakes.stage(err + 0.001 * seed, err),
        direct={b: fakes.stage(err + 0.3 / b + 0.01 * seed, err + 0.3 / b) for b in bits},
        retrain={b: fakes.stage(err + 0.05 / b + 0.002 * seed, err + 0.05 / b) for b in bits},
        control=fakes.stage(err - 0.002 + 0.001 * seed, err - 0.002))
    return fakes.record(family, size, seed, metrics)


def rows_for(family, sizes, seeds=SEEDS):
    out = []
    for i, size in enumerate(sizes):
        for s in seeds:
            out += rowmod.record_rows(record(family, size, s, err=0.3 - 0.05 * i))
    return out


@pytest.fixture(scope="module")
def width_rows():
    return rows_for("ffdnn", [(8, 3), (64, 3), (512, 3)])


@pytest.fixture(scope="module")
def depth_rows():
    return rows_for("ffdnn", [(w, d) for w in (32, 128) for d in (1, 2, 3)])


@pytest.fixture(scope="module")
def cnn_rows():
    return rows_for("cnn", [(2, 2, 4), (8, 8, 16)])


def layers(spec):
    """Every unit spec (with a mark) inside a layered / faceted spec."""
    if "mark" in spec:
        yield spec
    for key in ("layer",):
        for sub in spec.get(key, []):
            yield from layers(sub)
    if "spec" in spec:
        yield from layers(spec["spec"])


def mark_type(unit):
    return unit["mark"]["type"] if isinstance(unit["mark"], dict) else unit["mark"]


def by_mark(spec, mark):
    found = [u for u in layers(spec) if mark_type(u) == mark]
    assert found, f"no {mark} layer"
    return found


def params_of(spec):
    out = list(spec.get("params", []))
    for u in layers(spec):
        out += u.get("params", [])
    if "spec" in spec:
        out += spec["spec"].get("params", [])
    return out


def data_values(spec):
    return spec["data"]["values"]


def tooltip_fields(unit):
    return {t["field"]: t for t in unit["encoding"]["tooltip"]}


def assert_method_colours(enc):
    scale = enc["color"]["scale"]
    for label, colour in zip(scale["domain"], scale["range"]):
        method = {v: k for k, v in charts.METHOD_LABELS.items()}[label]
        assert colour == charts.METHOD_COLORS[method]


def assert_legend_selections(spec):
    bound = {tuple(p["select"]["fields"]) for p in params_of(spec)
             if p.get("bind") == "legend" and isinstance(p.get("select"), dict)}
    assert ("method",) in bound and ("precision",) in bound
    for u in layers(spec):
        op = u["encoding"].get("opacity")
        if op and "condition" in op:
            assert {c["param"] for c in op["condition"]["test"]["and"]} == {"method_pick", "precision_pick"}


def test_error_vs_params_encodings(width_rows):
    spec = charts.error_vs_params(width_rows, title="T").to_dict()
    line, = by_mark(spec, "line")
    point, = by_mark(spec, "point")
    rule, = by_mark(spec, "rule")
    enc = point["encoding"]
    # log x over parameters, with the networks' sizes as tick labels
    assert enc["x"]["field"] == "params" and enc["x"]["scale"]["type"] == "log"
    assert "parameters" in enc["x"]["title"] and "log" in enc["x"]["title"]
    assert enc["x"]["axis"]["values"] == sorted({r["params"] for r in width_rows})
    assert "'8x3'" in enc["x"]["axis"]["labelExpr"]
    # y: test error in percent
    assert enc["y"]["field"] == "error" and "%" in enc["y"]["title"]
    # error bars: mean +- std
    assert rule["encoding"]["y"]["field"] == "error_lo" and rule["encoding"]["y2"]["field"] == "error_hi"
    # colour per method, dash/shape per precision
    assert enc["color"]["field"] == "method"
    assert_method_colours(enc)
    assert enc["color"]["scale"]["domain"] == ["float", "direct quantization", "retrained"]
    assert line["encoding"]["strokeDash"]["field"] == "precision"
    assert line["encoding"]["strokeDash"]["scale"]["domain"] == ["32-bit float", "2-bit (ternary)", "3-bit"]
    assert line["encoding"]["strokeDash"]["scale"]["range"] == [charts.PRECISION_DASH[b] for b in (32, 2, 3)]
    assert enc["shape"]["field"] == "precision"
    shape_of = dict(zip(enc["shape"]["scale"]["domain"], enc["shape"]["scale"]["range"]))
    assert shape_of == {charts.precision_label(b): charts.PRECISION_SHAPES[b] for b in (32, 2, 3)}
    # tooltips with exact numbers
    tips = tooltip_fields(point)
    assert tips["params"]["format"] == ","
    assert tips["error"]["format"] == ".2f" and "%" in tips["error"]["title"]
    assert {"trial", "method", "precision", "error_std", "gap", "seeds"} <= set(tips)
    assert_legend_selections(spec)
    assert spec["title"]["text"] == "T"
    assert spec["title"]["subtitle"][0] == "Fashion-MNIST, 3 seeds"
    assert "mean ± std over seeds" in " ".join(spec["title"]["subtitle"])


def test_error_vs_params_data_is_percent_mean_and_std(width_rows):
    spec = charts.error_vs_params(width_rows).to_dict()
    values = data_values(spec)
    assert len(values) == 3 * 5
    summ = rowmod.summarise(width_rows)
    for v, s in zip(values, summ):
        assert v["error"] == pytest.approx(100 * s.test_error, abs=1e-3)
        assert v["error_lo"] == pytest.approx(100 * (s.test_error - s.test_error_std), abs=1e-3)
        assert v["error_hi"] == pytest.approx(100 * (s.test_error + s.test_error_std), abs=1e-3)
        assert v["params"] == s.params


def test_error_vs_params_other_x_and_linear_y(width_rows):
    spec = charts.error_vs_params(width_rows, x="weight_bits", y_scale="linear", size_ticks=False).to_dict()
    point, = by_mark(spec, "point")
    assert point["encoding"]["x"]["field"] == "weight_bits" and point["encoding"]["x"]["scale"]["type"] == "log"
    assert "bits" in point["encoding"]["x"]["title"]
    assert point["encoding"]["y"]["scale"].get("type") in (None, "linear")
    with pytest.raises(ValueError):
        charts.error_vs_params(width_rows, x="nope")


def test_gap_vs_params(width_rows):
    spec = charts.gap_vs_params(width_rows).to_dict()
    point, = by_mark(spec, "point")
    enc = point["encoding"]
    assert enc["y"]["field"] == "gap" and "percentage points" in enc["y"]["title"]
    # symmetric log: gaps of tenths and of tens of points are both readable; ticks include 0 and 1
    assert enc["y"]["scale"]["type"] == "symlog" and enc["y"]["scale"]["constant"] == 1
    assert {0, 1} <= set(enc["y"]["axis"]["values"])
    assert enc["x"]["scale"]["type"] == "log"
    assert enc["color"]["scale"]["domain"] == ["retrained"]
    assert_method_colours(enc)
    zero = [u for u in by_mark(spec, "rule") if u["encoding"]["y"].get("datum") == 0]
    assert zero, "no zero line"
    values = data_values(spec)
    assert {v["method"] for v in values} == {"retrained"}
    summ = [s for s in rowmod.summarise(width_rows) if s.method == "retrain"]
    for v, s in zip(values, summ):  # against the float control by default
        assert v["gap"] == pytest.approx(100 * s.gap("control").mean, abs=1e-3)
        assert v["gap_hi"] - v["gap_lo"] == pytest.approx(200 * s.gap("control").se, abs=1e-3)
    against_float = data_values(charts.gap_vs_params(width_rows, baseline="float").to_dict())
    for v, s in zip(against_float, summ):
        assert v["gap"] == pytest.approx(100 * s.gap("float").mean, abs=1e-3)
        assert v["gap_hi"] - v["gap_lo"] == pytest.approx(200 * s.gap("float").se, abs=1e-3)
        assert s.gap("float").se == pytest.approx(s.gap("float").std / 3 ** 0.5)
    with pytest.raises(ValueError, match="baseline must be one of"):
        charts.gap_vs_params(width_rows, baseline="best")
    assert (charts.GAP_SPREAD in " ".join(spec["title"]["subtitle"])
            and charts.SPREAD not in " ".join(spec["title"]["subtitle"]))
    assert tooltip_fields(point)["gap"]["format"] == "+.2f"
    assert "gap_se" in tooltip_fields(point)
    # symlog ticks formatted one by one (a scale-derived precision writes 10 as "1e+1")
    assert enc["y"]["axis"]["labelExpr"] == "format(datum.value, '~g')" and "format" not in enc["y"]["axis"]
    assert_legend_selections(spec)


def test_gap_vs_params_linear(width_rows):
    point, = by_mark(charts.gap_vs_params(width_rows, y_scale="linear").to_dict(), "point")
    assert point["encoding"]["y"]["scale"].get("type") in (None, "linear")
    assert point["encoding"]["y"]["scale"]["zero"] is True
    with pytest.raises(ValueError):
        charts.gap_vs_params(width_rows, y_scale="sqrt")


def test_group_draws_one_line_per_width(depth_rows):
    spec = charts.gap_vs_params(depth_rows, size_ticks=False, group="width").to_dict()
    line, = by_mark(spec, "line")
    assert {d["field"] for d in line["encoding"]["detail"]} == {"precision", "width"}
    plain, = by_mark(charts.gap_vs_params(depth_rows, size_ticks=False).to_dict(), "line")
    assert [d["field"] for d in plain["encoding"]["detail"]] == ["precision"]


def test_depth_charts_facet_by_width(depth_rows):
    for make, field in ((charts.error_vs_depth, "error"), (charts.gap_vs_depth, "gap")):
        spec = make(depth_rows).to_dict()
        assert spec["facet"]["column"]["field"] == "width_label"
        assert spec["facet"]["column"]["sort"] == ["32 units per layer", "128 units per layer"]
        point, = by_mark(spec, "point")
        assert point["encoding"]["x"]["field"] == "depth" and "hidden layers" in point["encoding"]["x"]["title"]
        assert point["encoding"]["x"]["axis"]["values"] == [1, 2, 3]
        assert point["encoding"]["y"]["field"] == field
        assert "depth" in tooltip_fields(point)
        assert_method_colours(point["encoding"])
        assert_legend_selections(spec)
        assert spec["title"]["subtitle"][0] == "Fashion-MNIST, 3 seeds"
    with pytest.raises(ValueError):
        charts.error_vs_depth(rows_for("cnn", [(2, 2, 4)]))


def test_cnn_ticks_name_feature_maps(cnn_rows):
    spec = charts.error_vs_params(cnn_rows).to_dict()
    point, = by_mark(spec, "point")
    assert "'8-8-16'" in point["encoding"]["x"]["axis"]["labelExpr"]
    assert "feature maps" in point["encoding"]["x"]["title"]


def test_colours_are_the_same_in_every_chart(width_rows, depth_rows):
    seen = {}
    specs = [charts.error_vs_params(width_rows), charts.gap_vs_params(width_rows, methods=("direct", "retrain")),
             charts.error_vs_depth(depth_rows),
             charts.error_bars([{"method": "float", "bits": 32, "test_error": 0.1},
                                {"method": "retrain", "bits": 2, "test_error": 0.12}])]
    for chart in specs:
        for u in layers(chart.to_dict()):
            color = u["encoding"].get("color")
            if color and "scale" in color:
                for label, colour in zip(color["scale"]["domain"], color["scale"]["range"]):
                    assert seen.setdefault(label, colour) == colour
    assert seen == {charts.METHOD_LABELS[m]: charts.METHOD_COLORS[m] for m in charts.METHOD_LABELS}


def test_precision_labels_and_order():
    assert charts.precision_label(32) == "32-bit float"
    assert charts.precision_label(2) == "2-bit (ternary)"
    assert charts.precision_label(4) == "4-bit"
    dash, shape = charts.precision_scales([3, 2, 32])
    assert dash.to_dict()["domain"] == ["32-bit float", "2-bit (ternary)", "3-bit"]


def test_quantizer_error_curve_spec():
    rng = np.random.default_rng(1)
    w = rng.normal(0, 0.05, (32, 32)).astype(np.float32)
    spec = charts.quantizer_error_curve(qz.step_error_curves(w, (3, 2)), dataset="Fashion-MNIST").to_dict()
    line, = by_mark(spec, "line")
    assert line["encoding"]["x"]["field"] == "step" and "step D" in line["encoding"]["x"]["title"]
    assert "%" in line["encoding"]["y"]["title"]
    assert line["encoding"]["strokeDash"]["scale"]["domain"] == ["2-bit (ternary)", "3-bit"]
    optima = [v for v in data_values(spec) if v["optimal"]]
    assert sorted(v["step"] for v in optima) == pytest.approx(sorted(float(qz.optimal_step(w, b)) for b in (2, 3)))
    tips = [tooltip_fields(u) for u in by_mark(spec, "point") if "tooltip" in u["encoding"]]
    assert any(t.get("step", {}).get("format") == ".5f" for t in tips)
    assert spec["title"]["subtitle"][0].startswith("Fashion-MNIST")


def test_weight_histogram_levels_and_thresholds():
    rng = np.random.default_rng(2)
    w = rng.normal(0, 0.05, 5000).astype(np.float32)
    step = float(qz.optimal_step(w, 2))
    spec = charts.weight_histogram(w, step, bits=2, dataset="Fashion-MNIST").to_dict()
    values = data_values(spec)
    bins = [v for v in values if v["kind"] == "bin"]
    assert sum(v["count"] for v in bins) == w.size
    levels = sorted(v["x"] for v in values if v["kind"] == "level")
    thresholds = sorted(v["x"] for v in values if v["kind"] == "threshold")
    assert levels == pytest.approx([-step, 0.0, step])
    assert thresholds == pytest.approx([-step / 2, step / 2])
    bar, = by_mark(spec, "bar")
    assert tooltip_fields(bar)["count"]["format"] == ","
    rule, = by_mark(spec, "rule")
    assert rule["encoding"]["strokeDash"]["field"] == "kind"
    zeros = float(np.mean(np.abs(w) < step / 2))
    assert f"{zeros:.1%}" in " ".join(spec["title"]["subtitle"])
    spec3 = charts.weight_histogram(w, step, bits=3).to_dict()
    assert len([v for v in data_values(spec3) if v["kind"] == "level"]) == 7


def test_learning_curve_continues_epochs_after_float_training():
    fh = [{"epoch": e, "train_loss": [1.0], "val_error": [0.3 - 0.05 * e]} for e in (1, 2, 3)]
    rh = [{"epoch": e, "train_loss": 0.5, "val_error": 0.2 - 0.01 * e} for e in (1, 2)]
    spec = charts.learning_curve(fh, {2: rh}, direct_errors={2: 0.5}, dataset="Fashion-MNIST").to_dict()
    values = data_values(spec)
    floats = [v for v in values if v["method"] == "float"]
    retrains = sorted((v for v in values if v["method"] == "retrained"), key=lambda v: v["epoch"])
    assert [v["epoch"] for v in floats] == [1, 2, 3]
    assert [v["epoch"] for v in retrains] == [3, 4, 5]  # starts at the directly quantized network
    assert retrains[0]["error"] == pytest.approx(50.0) and retrains[-1]["error"] == pytest.approx(18.0)
    direct = [v for v in values if v["method"] == "direct quantization"]
    assert len(direct) == 1 and direct[0]["epoch"] == 3
    point, = by_mark(spec, "point")
    assert_method_colours(point["encoding"])
    assert "%" in point["encoding"]["y"]["title"]


def test_error_bars_chart():
    rows = [{"method": "float", "bits": 32, "test_error": 0.1}, {"method": "direct", "bits": 2, "test_error": 0.3},
            {"method": "retrain", "bits": 2, "test_error": 0.12}]
    spec = charts.error_bars(rows, dataset="Fashion-MNIST").to_dict()
    bar, = by_mark(spec, "bar")
    assert bar["encoding"]["x"]["field"] == "error" and "%" in bar["encoding"]["x"]["title"]
    assert_method_colours(bar["encoding"])
    assert [v["error"] for v in data_values(spec)] == pytest.approx([10.0, 30.0, 12.0])
    assert bar["encoding"]["y"]["sort"][0] == "float, 32-bit float"


def test_importing_quantlab_does_not_import_altair():
    code = "import sys, quantlab, quantlab.analysis.rows; assert 'altair' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_retraining_curves_start_at_the_direct_network():
    metrics = record("ffdnn", (8, 3), 0)["metrics"]
    metrics["float"]["history"] = [{"epoch": 1, "train_loss": 1.0, "val_error": 0.3}]
    metrics["float_control"]["history"] = [{"epoch": 1, "train_loss": 0.9, "val_error": 0.29}]
    for b in ("2", "3"):
        metrics["retrain"][b]["history"] = [{"epoch": e, "train_loss": 0.5, "val_error": 0.25 - 0.01 * e}
                                            for e in (1, 2)]
    rows = rowmod.curve_rows(metrics, trial="net", seed=0, size_label="8x3", params=100, step_policy="fixed")
    stages = {(r["stage"], r["bits"], r["epoch"]) for r in rows}
    assert ("control", 32, 0) in stages and ("retrain", 2, 0) in stages and ("float", 32, 1) in stages
    start = next(r for r in rows if r["stage"] == "retrain" and r["bits"] == 2 and r["epoch"] == 0)
    assert start["val_error"] == metrics["direct"]["2"]["val_error"] and start["train_loss"] is None
    spec = charts.retraining_curves(rows).to_dict()
    values = spec["data"]["values"]
    assert len(values) == 6 and {v["epoch"] for v in values} == {0, 1, 2}
    assert spec["facet"]["field"] == "size_label"
    single = charts.retraining_curves(rows, color="step_policy", facet=None).to_dict()
    assert single["layer"][0]["encoding"]["color"]["field"] == "step_policy"
    assert single["title"]["subtitle"][0].startswith("validation error")  # rows without a dataset: none named
    named = charts.retraining_curves([{**r, "dataset": "fashion_mnist"} for r in rows], facet=None).to_dict()
    assert named["title"]["subtitle"][0] == "Fashion-MNIST, 1 seed"
    with pytest.raises(ValueError, match="color must be one of"):
        charts.retraining_curves(rows, color="network")
    with pytest.raises(ValueError, match="no retraining curves"):
        charts.retraining_curves([r for r in rows if r["stage"] != "retrain"])


def budget_rows() -> list[dict]:
    """Tidy rows of one network retrained for 1 and 4 epochs with both step policies."""
    rows = []
    for epochs in (1, 4):
        for policy in ("fixed", "adaptive"):
            for s in SEEDS:
                for r in rowmod.record_rows(record("ffdnn", (8, 3), s)):
                    rows.append({**r, "retrain_epochs": epochs, "step_policy": policy})
    return rows


def test_gap_vs_budget_one_point_per_policy_and_budget():
    rows = budget_rows()
    spec = charts.gap_vs_budget(rows).to_dict()
    values = spec["data"]["values"]
    assert sorted((v["step_policy"], v["epochs"]) for v in values) == [
        ("adaptive", 1), ("adaptive", 4), ("fixed", 1), ("fixed", 4)]
    assert spec["spec"]["layer"][1]["encoding"]["x"]["scale"]["type"] == "log"
    with pytest.raises(ValueError, match="no retrained 5-bit"):
        charts.gap_vs_budget(rows, bits=5)


def test_method_colours_mean_only_methods():
    """Step policies, curve colours (here seeds and policies) take the category palette: no black, orange
    or blue, which mean float, direct quantization and retrained everywhere."""
    assert not set(charts.CATEGORY_COLORS) & set(charts.METHOD_COLORS.values())
    rows = budget_rows()
    metrics = record("ffdnn", (8, 3), 0)["metrics"]
    metrics["retrain"]["2"]["history"] = [{"epoch": 1, "train_loss": 0.5, "val_error": 0.2}]
    curves = rowmod.curve_rows(metrics, trial="net", seed=0, size_label="8x3", params=100, step_policy="fixed")
    for chart in (charts.gap_vs_budget(rows), charts.retraining_curves(curves, color="seed", facet=None)):
        colours = [u["encoding"]["color"] for u in layers(chart.to_dict()) if "color" in u.get("encoding", {})]
        assert colours and all(c["scale"]["range"] == charts.CATEGORY_COLORS for c in colours)


def test_precision_legend_shows_line_samples(width_rows):
    """One precision legend, of line samples in each dash: the markers repeat the dash on the points and
    have no legend, and their scale's domain differs from the dash scale's (reversed), so that Vega-Lite
    does not merge the two into a legend of dashed marker outlines."""
    curves = qz.step_error_curves(np.linspace(-1, 1, 101), (2, 3))
    for chart in (charts.error_vs_params(width_rows), charts.quantizer_error_curve(curves),
                  charts.ecr_chart(width_rows)):
        spec = chart.to_dict()
        dashes = [u["encoding"]["strokeDash"] for u in layers(spec) if "strokeDash" in u.get("encoding", {})
                  and u["encoding"]["strokeDash"].get("field") == "precision"]
        shapes = [u["encoding"]["shape"] for u in layers(spec) if "shape" in u.get("encoding", {})]
        assert dashes and shapes
        for d in dashes:
            assert d["legend"]["symbolType"] == "stroke" and d["legend"]["orient"] == "bottom"
        for sh in shapes:
            assert sh["legend"] is None
            assert sh["scale"]["domain"] == dashes[0]["scale"]["domain"][::-1]
            assert dict(zip(sh["scale"]["domain"], sh["scale"]["range"])) == {
                label: charts.PRECISION_SHAPES[b] for b in (32, 2, 3) for label in [charts.precision_label(b)]
                if label in sh["scale"]["domain"]}



def test_memory_chart_one_shade_of_the_method_colour_per_bit_width(width_rows):
    """Many bit widths of one method stay apart: each (method, bits) is a series in the method's colour,
    darkest at the fewest bits, named in the legend."""
    spec = charts.memory_chart(width_rows).to_dict()
    colour = next(u["encoding"]["color"] for u in layers(spec)
                  if u.get("encoding", {}).get("color", {}).get("field") == "series")
    pairs = dict(zip(colour["scale"]["domain"], colour["scale"]["range"]))
    assert list(pairs) == ["float", "direct quantization, 2-bit (ternary)", "direct quantization, 3-bit",
                           "retrained, 2-bit (ternary)", "retrained, 3-bit"]
    assert pairs["float"] == charts.METHOD_COLORS["float"]
    for method in ("direct", "retrain"):
        two, three = (pairs[f"{charts.METHOD_LABELS[method]}, {charts.precision_label(b)}"] for b in (2, 3))
        assert two == charts.METHOD_COLORS[method]
        assert sum(int(three[i:i + 2], 16) for i in (1, 3, 5)) > sum(int(two[i:i + 2], 16) for i in (1, 3, 5))
    drawn = {v["series"] for u in layers(spec) if "values" in u.get("data", {}) for v in u["data"]["values"]}
    assert drawn == set(pairs)

def test_ecr_chart_names_the_naive_ratios_in_a_legend(width_rows):
    spec = charts.ecr_chart(width_rows).to_dict()
    texts = [u for u in layers(spec) if mark_type(u) == "text"]
    assert all("naive" not in str(u["encoding"].get("text")) for u in texts)  # no label inside the plot
    naive = [u for u in layers(spec) if u.get("encoding", {}).get("strokeDash", {}).get("title") == "naive ratio 32/b"]
    assert naive
    assert naive[0]["encoding"]["strokeDash"]["scale"]["domain"] == ["2-bit (ternary): 32/2 = 16x",
                                                                     "3-bit: 32/3 = 10.7x"]
    assert all(u["encoding"]["strokeDash"]["legend"]["orient"] == "bottom" for u in layers(spec)
               if u.get("encoding", {}).get("strokeDash", {}).get("legend"))


def test_gap_overview_one_panel_per_sweep(width_rows, depth_rows, cnn_rows):
    spec = charts.gap_overview({"w": width_rows, "d": depth_rows, "c": cnn_rows},
                               titles={"w": "FFDNN width", "d": "FFDNN depth", "c": "CNN"}).to_dict()
    assert spec["facet"]["column"]["field"] == "panel"
    assert spec["facet"]["column"]["sort"] == ["FFDNN width", "FFDNN depth", "CNN"]
    assert spec["resolve"]["scale"]["x"] == "independent"
    values = data_values(spec)
    assert {v["panel"] for v in values} == {"FFDNN width", "FFDNN depth", "CNN"}
    assert {v["method"] for v in values} == {"retrained"}
    # lines join the depths of one width in the depth sweep only
    assert {v["line_group"] for v in values if v["panel"] == "FFDNN depth"} == {"width 32", "width 128"}
    assert {v["line_group"] for v in values if v["panel"] != "FFDNN depth"} == {"all"}
    # each width's cluster of the depth panel is named once, at its highest bar
    labels = {v["cluster_label"]: v for v in values if v["cluster_label"]}
    assert sorted(labels) == ["128 units", "32 units"] and all(v["panel"] == "FFDNN depth" for v in labels.values())
    for v in labels.values():
        assert v["gap_hi"] == max(w["gap_hi"] for w in values if w["panel"] == "FFDNN depth"
                                  and w["width"] == v["width"])
    text, = by_mark(spec, "text")
    assert text["encoding"]["text"]["field"] == "cluster_label"
    point, = by_mark(spec, "point")
    assert point["encoding"]["y"]["field"] == "gap" and point["encoding"]["y"]["scale"]["type"] == "symlog"
    assert point["encoding"]["x"]["field"] == "params" and point["encoding"]["x"]["scale"]["type"] == "log"
    assert charts.GAP_SPREAD in " ".join(spec["title"]["subtitle"])
    for v in values:
        assert v["gap_hi"] - v["gap_lo"] == pytest.approx(2 * v["gap_se"], abs=1e-3)
    assert_legend_selections(spec)


def test_ecr_envelope_reads_nf_off_the_float_envelope(width_rows):
    from quantlab.analysis import stats
    from quantlab.numerics import compression

    spec = charts.ecr_envelope(width_rows, stats.ecr_example(width_rows, 2, "ffdnn-w64-d3")).to_dict()
    table = {t["trial"]: t for t in stats.ecr_table(width_rows) if t["bits"] == 2}
    q = table["ffdnn-w64-d3"]
    units = list(layers(spec))
    datasets = [u["data"]["values"] for u in units if "data" in u and "values" in u["data"]]
    envelope = next(d for d in datasets if d and d[0].get("series") == "float envelope")
    curve = compression.float_curve(*stats.float_sweep(width_rows))
    assert [e["params"] for e in envelope] == list(curve.params)
    assert [e["error"] for e in envelope] == pytest.approx([100 * x for x in curve.envelope], abs=1e-3)
    read = next(d for d in datasets if d and "order" in d[0])  # the read-off: from Q along e_Q, then down at N_F
    assert read[0]["params"] == q["params"] and read[1]["params"] == pytest.approx(q["float_params"])
    assert read[0]["error"] == read[1]["error"] == pytest.approx(100 * q["test_error"], abs=1e-3)
    assert read[2]["params"] == pytest.approx(q["float_params"]) and read[2]["error"] < read[1]["error"]
    sub = " ".join(spec["title"]["subtitle"])
    assert "ffdnn-w64-d3" in sub and q["ecr_text"] in sub and f"{q['weight_bits']:,}" in sub
    labels = next(d for d in datasets if d and "text" in d[0])
    assert any(lab["text"].startswith("N_F(e_Q)") and f"{q['float_params']:,.0f}" in lab["text"] for lab in labels)
    # the default network: of those whose N_F is interpolated (not a bound), the one with the largest N_Q / N_F
    default = charts.ecr_envelope(width_rows, stats.ecr_example(width_rows)).to_dict()
    exact = [t for t in table.values() if t["relation"] == "="]
    assert exact
    best = max(exact, key=lambda t: t["params"] / t["float_params"])
    assert f"Q = {best['trial']}," in " ".join(default["title"]["subtitle"])
    with pytest.raises(ValueError, match="no retrained 2-bit network"):
        stats.ecr_example(width_rows, trial="nope")
