"""quantlab.analysis.maps (the resiliency map) on synthetic rows with known gaps, and its charts."""

import math

import pytest

import fakes
from quantlab import charts
from quantlab.analysis import maps
from quantlab.analysis.rows import record_rows

BITS = (2, 3, 4, 6)
# Retrained gap to the float control (fractions) per width and bit width; seeds add +-0.1 pp.
GAPS = {8: {2: 0.10, 3: 0.04, 4: 0.012, 6: 0.001},
        64: {2: 0.02, 3: 0.003, 4: 0.001, 6: 0.0},
        512: {2: 0.002, 3: 0.0, 4: 0.0, 6: 0.0}}


def record(width, seed):
    params = 800 * width + 10
    control = 0.12 + 0.001 * seed
    noise = 0.001 * (seed - 1)
    metrics = fakes.metrics(
        params, params - 10, fakes.stage(control + 0.003, 0.12),
        direct={b: fakes.stage(control + 4 * GAPS[width][b] + 0.01, 0.2) for b in BITS},
        retrain={b: fakes.stage(control + GAPS[width][b] + noise, 0.13) for b in BITS},
        control=fakes.stage(control, 0.12))
    return fakes.record("ffdnn", (width, 3), seed, metrics)


@pytest.fixture(scope="module")
def rows():
    return [r for w in GAPS for s in (0, 1, 2) for r in record_rows(record(w, s))]


def test_gap_grid_has_one_cell_per_network_and_bit_width(rows):
    grid = maps.gap_grid(rows)
    assert [(c["params"], c["bits"]) for c in grid] == [(800 * w + 10, b) for w in GAPS for b in BITS]
    cell = next(c for c in grid if c["params"] == 8 * 800 + 10 and c["bits"] == 3)
    assert cell["gap"] == pytest.approx(0.04) and cell["gap_se"] == pytest.approx(0.001 / math.sqrt(3))
    assert not cell["vanished"]
    assert next(c for c in grid if c["params"] == 512 * 800 + 10 and c["bits"] == 2)["vanished"]


def test_bits_needed_is_the_narrowest_width_from_which_every_gap_has_vanished(rows):
    needed = maps.bits_needed(maps.gap_grid(rows))
    assert [(n["params"] // 800, n["bits"]) for n in needed] == [(8, 6), (64, 3), (512, 2)]
    assert maps.needed_text(needed).endswith("The bits needed never grow with size.")
    # A network whose gap reappears at a wider width needs that wider width's successor, or none.
    grid = [{"network": "n", "params": 1, "bits": b, "gap": g, "gap_se": 0.0, "vanished": v}
            for b, g, v in ((2, 0.1, True), (3, 2.0, False), (4, 0.2, True))]
    assert maps.bits_needed(grid)[0]["bits"] == 4
    grid[-1]["vanished"] = False
    assert maps.bits_needed(grid)[0]["bits"] is None and maps.bits_needed(grid)[0]["widest"] == 4
    assert "Not within 4 bits: n." in maps.needed_text(maps.bits_needed(grid))


def test_unmeasured_text_says_whether_the_skipped_bit_widths_could_matter(rows):
    needed = maps.bits_needed(maps.gap_grid(rows))  # w8 needs 6 bits, the others 3 and 2
    assert maps.unmeasured_text([needed], BITS) == ("5 bits are not measured, and they might matter for "
                                                    "ffdnn-w8-d3, whose gap has not vanished below 5 bits.")
    small = [n for n in needed if n["bits"] < 5]
    assert maps.unmeasured_text([small], BITS) == (
        "5 bits are not measured: no network here needs more than 3 bits, so they cannot change the bits needed, "
        "and on the memory front such a network would compete, within seed noise, with the same network at 4 bits, "
        "which needs less memory.")
    assert maps.unmeasured_text([needed], (2, 3, 4)) == ""


def test_memory_front_splits_the_budget_range_between_precisions(rows):
    front = maps.memory_front(rows)
    memories = [p["weight_bits"] for p in front["front"]]
    assert memories == sorted(memories)
    errors = [p["test_error"] for p in front["front"]]
    assert errors == sorted(errors, reverse=True)
    assert front["front"][0]["bits"] == 2  # the smallest memory is the narrowest network at 2 bits
    assert sum(s["share"] for s in front["stretches"]) == pytest.approx(1.0)
    text = maps.front_text(front)
    assert "ternary on" in text and "Ternary wins from" in text


def test_resiliency_map_and_bits_needed_chart(rows):
    spec = charts.resiliency_map(rows).to_dict()
    values = spec["data"]["values"]
    assert len(values) == 2 * len(GAPS) * len(BITS)  # retrained and direct panels
    ringed = {(v["method"], v["network"]) for v in values if v["needed"] == "yes"}
    assert ringed == {("retrained", f"ffdnn-w{w}-d3") for w in GAPS}  # direct: +1 pp everywhere, never vanished
    assert {v["bits"] for v in values} == {"2 (ternary)", "3", "4", "6"}
    assert "Fashion-MNIST" in spec["title"]["subtitle"][0]
    with pytest.raises(ValueError, match="baseline must be one of"):
        charts.resiliency_map(rows, baseline="other")
    table = maps.bits_needed(maps.gap_grid(rows))
    chart = charts.bits_needed_chart({"FFDNN": table}).to_dict()
    assert {v["bits"] for v in chart["data"]["values"]} == {6, 3, 2}


def test_gap_by_data_draws_one_line_per_training_set_size(rows):
    data = [{**r, "train_subset": n} for n in (1000, None) for r in rows]
    spec = charts.gap_by_data(data, bits=(2,)).to_dict()
    values = spec["data"]["values"]
    assert {v["line"] for v in values} == {"1,000", "all"}
    assert len(values) == 2 * len(GAPS) and all(v["bits"] == 2 for v in values)
    assert spec["spec"]["layer"][1]["encoding"]["color"]["sort"] == ["1,000", "all"]


def signal_rows(rows):
    """The fixture's trials at 2- and 4-bit signals and float: 2-bit signals add 1 pp to every
    quantized network's error, 4-bit signals nothing (the float network and its control: float signals)."""
    extra = {2: 0.01, 4: 0.0, None: 0.0}
    return [{**r, "signal_bits": sb, "test_error": r["test_error"] + (extra[sb] if r["method"] != "float" else 0.0)}
            for sb in extra for r in rows]


def test_signal_grid_gives_the_signal_bits_each_network_needs(rows):
    grid = maps.signal_grid(signal_rows(rows), weight_bits=3)
    assert {c["bits"] for c in grid} == {2, 4}  # float signals are the weight-only result, not a cell
    needed = {n["params"] // 800: n["bits"] for n in maps.bits_needed(grid)}
    assert needed == {8: None, 64: 4, 512: 4}  # w8's 3-bit gap (4 pp) never vanishes; 2-bit signals add 1 pp
    with pytest.raises(ValueError, match="fixed-point signals"):
        maps.signal_grid(rows)


def test_signal_verdicts_judge_the_size_claim_at_each_signal_width(rows):
    from quantlab.analysis import report

    verdicts = report.signal_verdicts(signal_rows(rows))
    assert [v["signal_bits"] for v in verdicts] == [2, 4, None]
    by = {v["signal_bits"]: v for v in verdicts}
    assert by[None]["claim1"].verdict == report.REPRODUCED  # w8's ternary gap: 10 pp
    assert by[4]["verdict"] == by[None]["verdict"] == report.REPRODUCED  # w512: 0.2 pp
    assert by[2]["claim2"].verdict == report.NOT_REPRODUCED and by[2]["verdict"] == report.NOT_REPRODUCED
    assert report.signal_verdict_text(verdicts).startswith("2-bit signals: not reproduced; 4-bit signals: reproduced")
    text = report.signal_claims_text(verdicts)
    assert text.startswith("Claim 1 (a gap at the smallest network) is reproduced at every signal width.")
    assert ("Claim 2 (the gap almost vanishes at the largest): not reproduced with 2-bit signals; "
            "reproduced with 4-bit, float signals.") in text


def test_gap_by_signals_draws_one_line_per_signal_width_float_last(rows):
    spec = charts.gap_by_signals(signal_rows(rows), bits=(2,)).to_dict()
    assert spec["spec"]["layer"][1]["encoding"]["color"]["sort"] == ["2-bit", "4-bit", "float"]


def test_activation_table_counts_the_hidden_signals_at_each_width(rows):
    table = maps.activation_table([{**r, "dataset": "fashion_mnist"} for r in rows], [3, None])
    assert [t["signals"] for t in table] == [3 * w for w in GAPS]  # three hidden layers of w units
    assert table[0]["3-bit"] == 3 * 8 * 3 and table[0]["float"] == 3 * 8 * 32


def test_float_by_data_tabulates_each_training_set_size(rows):
    data = [{**r, "train_subset": n, "test_error": r["test_error"] + (0.05 if n else 0.0)}
            for n in (1000, None) for r in rows]
    table = maps.float_by_data(data)
    assert [t["network"] for t in table] == [f"ffdnn-w{w}-d3" for w in GAPS]
    assert list(table[0]) == ["network", "1,000", "all"]
    assert table[0]["all"] == "12.40" and table[0]["1,000"] == "17.40"  # control 12.1 + 0.3, seeds 0..2


def test_rule_table_compares_every_rule_with_l2_per_policy(rows):
    by_rule = {"l2": 0.0, "absmax": 0.02, "twn": 0.0005}  # extra retrained error per rule
    data = []
    for rule, extra in by_rule.items():
        for r in rows:
            if r["method"] == "retrain" and r["bits"] == 2:
                r = {**r, "test_error": r["test_error"] + extra}
            elif r["method"] == "direct":
                r = {**r, "weight_error": 0.3 + extra}
            data.append({**r, "quantizer": rule, "step_policy": "fixed"})
    table = maps.rule_table(data)
    assert len(table) == len(GAPS) * len(by_rule)
    absmax = [t for t in table if t["quantizer"] == "absmax"]
    assert all(t["vs_l2"] == pytest.approx(0.02) and t["vs_l2_beyond_noise"] for t in absmax)
    assert not any(t["vs_l2_beyond_noise"] for t in table if t["quantizer"] == "twn")
    assert all(math.isnan(t["vs_l2"]) for t in table if t["quantizer"] == "l2")
    assert absmax[0]["weight_error"] == pytest.approx(0.32)
    text = maps.rules_text(table)
    assert "absmax (fixed) differs from l2 beyond seed noise at ffdnn-w8-d3 (+2.00 pp)" in text
    assert "twn (fixed) is within seed noise of l2 at every size" in text


def test_rules_chart_has_a_panel_per_measure():
    table = [{"network": "n", "params": 100, "quantizer": q, "step_policy": p, "seeds": 3, "weight_error": 0.3,
              "direct_gap": 0.1, "direct_gap_se": 0.01, "gap": 0.02, "gap_se": 0.005,
              "vs_l2": math.nan if q == "l2" else 0.01, "vs_l2_se": 0.001, "vs_l2_beyond_noise": q != "l2"}
             for q in ("l2", "twn") for p in ("fixed", "adaptive")]
    spec = charts.rules_chart(table).to_dict()
    values = spec["data"]["values"]
    assert {v["panel"] for v in values} == set(charts.RULE_MEASURES.values())
    assert {v["value"] for v in values if v["panel"].startswith("L2 error")} == {30.0}
    with pytest.raises(ValueError, match="empty rule table"):
        charts.rules_chart([])


def test_jumps_text_groups_the_cases_by_a_field():
    jumps = [{"quantizer": "absmax", "train_subset": n, "trial": t, "params": p, "seed": 0, "epoch": 2,
              "val_change": 0.04, "train_change": 0.03}
             for n, t, p in ((1000, "ffdnn-w16-d3", 13_002), (1000, "ffdnn-w8-d3", 6_442),
                             (None, "ffdnn-w8-d3", 6_442))]
    text = maps.jumps_text(jumps, "train_subset")
    assert text.startswith("3 retraining epochs move the validation error by more than 3 points")
    # networks smallest first (by parameters, not by name)
    assert "(1,000 training examples: 2 in ffdnn-w8-d3, ffdnn-w16-d3; all training examples: 1 in ffdnn-w8-d3)" in text
    assert text.endswith("In every one the same network's training error moved the same way, by 3.00 points on "
                         "average against 4.00 on validation: the network itself changed, while its cross-entropy "
                         "barely moved (many of its predictions are near ties between two classes).")
    assert "absmax: 3 in" in maps.jumps_text(jumps, "quantizer")
    assert maps.jumps_text([], "quantizer").startswith("No retraining")
