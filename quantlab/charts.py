"""The book's Altair charts, with one visual language throughout.

* One colour per method everywhere: float, direct quantization, retrained (:data:`METHOD_COLORS`:
  black, orange, blue), and those colours mean nothing else: other categories (quantizer rules, step
  policies, sweeps, seeds, bit widths in curve charts) take :data:`CATEGORY_COLORS`, which has neither;
  ordered quantities (signal widths, training-set sizes) a sequential scheme (viridis), and the gap on
  the resiliency maps a diverging one centred on zero.
* Precision (32-bit float, 2-bit ternary, 3- to 8-bit) by line dash and point shape (:data:`PRECISION_DASH`,
  :data:`PRECISION_SHAPES`), in one merged legend.
* Interactive: tooltips with the exact numbers (errors in %, parameter counts with thousands
  separators); click a legend entry to highlight that method or precision (shift-click for more);
  drag to pan and scroll to zoom where the axes are numeric.
* One meaning of "±" per kind of quantity, said in every subtitle: a **test error** is drawn as
  mean ± one sample standard deviation over seeds (the spread of one training run, :data:`SPREAD`);
  a **gap** to float as mean ± its standard error over seeds (the uncertainty of the mean of the
  paired per-seed differences, :data:`GAP_SPREAD`), the same "±" as the verdicts of
  :mod:`quantlab.analysis.report`.

The sweep charts take :func:`quantlab.analysis.rows.tidy` rows and aggregate them with
:func:`quantlab.analysis.rows.summarise` (tables of networks: :mod:`quantlab.analysis.stats`). Chart data is
inlined in the chart (``alt.Data(values=...)``), so no
data frame library is needed. Altair is imported here and nowhere else in quantlab.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import altair as alt
import numpy as np

from quantlab.analysis import rows as rowmod
from quantlab.vocabulary import FLOAT_BITS, METHODS, signal_label

METHOD_LABELS = {"float": "float", "direct": "direct quantization", "retrain": "retrained"}
METHOD_COLORS = {"float": "#3d3d3d", "direct": "#e4572e", "retrain": "#2a6fdb"}
CATEGORY_COLORS = ["#1b9e77", "#7570b3", "#e7298a", "#66a61e", "#a6761d", "#e6ab02", "#17becf", "#8c564b"]
"""Colours of every other category (ColorBrewer's Dark2 without its orange, then two more): no black,
orange or blue, which mean the methods."""
PRECISION_DASH = {32: [1, 0], 2: [7, 3], 3: [2, 2], 4: [8, 2, 2, 2], 5: [1, 3], 6: [10, 4], 7: [6, 2, 1, 2],
                  8: [12, 2, 2, 2, 2, 2]}
PRECISION_SHAPES = {32: "circle", 2: "triangle-up", 3: "square", 4: "diamond", 5: "cross", 6: "triangle-down",
                    7: "triangle-left", 8: "triangle-right"}
WIDTH, HEIGHT = 520, 300  # fits the book's content column with the legends below the plot
FACET_WIDTH, FACET_HEIGHT = 160, 240
PANEL_WIDTH = 125  # panels of the three-column facet charts (each with its own y axis) fit the text column
_LEGEND_KW = {"orient": "bottom", "direction": "vertical", "titleAnchor": "start"}
SPREAD = "mean ± std over seeds"
GAP_SPREAD = "mean ± standard error over seeds"
_TICKS_NOTE = {"ffdnn": "width x hidden layers", "cnn": "feature maps per conv layer"}
X_FIELDS = {
    "params": ("parameters (count, log scale)", ","),
    "weights": ("quantized weights (count, log scale)", ","),
    "weight_bits": ("weight memory (bits, log scale)", ",.0f"),
}


def precision_label(bits: int) -> str:
    """``32 -> '32-bit float'``, ``2 -> '2-bit (ternary)'``, ``3 -> '3-bit'``."""
    bits = int(bits)
    if bits >= FLOAT_BITS:
        return f"{bits}-bit float"
    return "2-bit (ternary)" if bits == 2 else f"{bits}-bit"


def method_scale(methods: Sequence[str]) -> alt.Scale:
    """The colour scale of ``methods`` (keys of :data:`METHOD_LABELS`), in book order."""
    methods = [m for m in METHOD_LABELS if m in methods]
    return alt.Scale(domain=[METHOD_LABELS[m] for m in methods], range=[METHOD_COLORS[m] for m in methods])


def _sorted_bits(bits: Sequence[int]) -> list[int]:
    return sorted({int(b) for b in bits}, key=lambda b: (b < FLOAT_BITS, b))  # 32 first, then 2, 3


def precision_scales(bits: Sequence[int]) -> tuple[alt.Scale, alt.Scale]:
    """``(dash scale, shape scale)`` of the precision legend for the bit widths ``bits``."""
    bits = _sorted_bits(bits)
    domain = [precision_label(b) for b in bits]
    dash = alt.Scale(domain=domain, range=[PRECISION_DASH[b] for b in bits])
    shape = alt.Scale(domain=domain, range=[PRECISION_SHAPES[b] for b in bits])
    return dash, shape


def _seeds_text(rows: Sequence[Mapping[str, Any]]) -> str:
    seeds: dict[tuple, set] = {}
    for r in rows:
        seeds.setdefault(rowmod.network_key(r), set()).add(r["seed"])
    counts = sorted({len(s) for s in seeds.values()})
    if not counts:
        return "no seeds"
    n = f"{counts[0]}" if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    return f"{n} seed" + ("" if counts == [1] else "s")


def dataset_text(rows: Sequence[Mapping[str, Any]]) -> str:
    """The datasets of ``rows`` (one or more) by display name, e.g. ``Fashion-MNIST``."""
    names = []
    for r in rows:
        name = rowmod.dataset_name(r["dataset"])
        if name not in names:
            names.append(name)
    return " + ".join(names) or "no data"


def subtitle(rows: Sequence[Mapping[str, Any]], *extra: str) -> list[str]:
    """``["Fashion-MNIST, 3 seeds", *extra]``: the subtitle lines of a sweep chart of the tidy ``rows``
    (:func:`quantlab.analysis.rows.tidy`): its dataset and seeds per network, then what it shows."""
    return [f"{dataset_text(rows)}, {_seeds_text(rows)}", *(e for e in extra if e)]


def _pct(x: float | None) -> float | None:
    return None if x is None else round(100.0 * float(x), 4)


def chart_rows(summary_rows: Sequence[Mapping[str, Any]]) -> list[dict]:
    """JSON-ready chart data from :func:`quantlab.analysis.rows.summarise` rows: errors in percent,
    ``error_lo``/``error_hi`` of the mean ± std bars, ``gap_lo``/``gap_hi`` of the mean ± standard
    error bars of the gaps, labels for the legends and tooltips."""
    out = []
    for r in summary_rows:
        err, std = _pct(r["test_error"]), _pct(r["test_error_std"]) or 0.0
        gap, gap_std, gap_se = _pct(r.get("gap")), _pct(r.get("gap_std")) or 0.0, _pct(r.get("gap_se")) or 0.0
        out.append({
            "trial": r["trial"], "size_label": r["size_label"], "family": r["family"],
            "width": r.get("width"), "depth": r.get("depth"), "maps": r.get("maps"),
            "params": int(r["params"]), "weights": int(r["weights"]), "weight_bits": int(r["weight_bits"]),
            "weight_kib": round(r["weight_bits"] / 8 / 1024, 3),
            "method": METHOD_LABELS.get(r["method"], r["method"]), "bits": int(r["bits"]),
            "precision": precision_label(r["bits"]), "seeds": int(r["seeds"]),
            "error": err, "error_std": std, "error_hi": round(err + std, 4),
            # an error rate is never below 0 (and a log axis has no 0): clip the bar's lower end
            "error_lo": round(max(err - std, min(err, 0.01)), 4),
            "val_error": _pct(r["val_error"]),
            "gap": gap, "gap_std": gap_std, "gap_se": gap_se,
            "gap_lo": None if gap is None else round(gap - gap_se, 4),
            "gap_hi": None if gap is None else round(gap + gap_se, 4),
        })
    return out


def _dash_channel(dash: alt.Scale, title: str = "weights", color: str = "#444444") -> alt.StrokeDash:
    """The precision as line dash, with the precision legend: line samples in each entry's dash."""
    return alt.StrokeDash("precision:N", scale=dash, title=title, legend=alt.Legend(
        symbolType="stroke", symbolSize=500, symbolStrokeWidth=2, symbolStrokeColor=color, labelLimit=220,
        **_LEGEND_KW))


def _shape_channel(shape: alt.Scale) -> alt.Shape:
    """The precision as marker shape, repeating the line's dash on the points, without a legend: the
    markers sit on the lines that the dash legend explains. Vega-Lite merges the legends of scales
    with equal domains, and a merged legend draws the dash on the outline of a marker, where it
    cannot be read; the shape scale therefore lists the same precisions in reverse order (same
    mapping, another domain), which keeps it out of the dash legend."""
    scale = shape.to_dict()
    return alt.Shape("precision:N", legend=None,
                     scale=alt.Scale(domain=scale["domain"][::-1], range=scale["range"][::-1]))


def _selections() -> tuple[Any, Any]:
    method = alt.selection_point(name="method_pick", fields=["method"], bind="legend")
    precision = alt.selection_point(name="precision_pick", fields=["precision"], bind="legend")
    return method, precision


def _tooltips(x_field: str, gap: bool) -> list[alt.Tooltip]:
    tips = [
        alt.Tooltip("trial:N", title="network"),
        alt.Tooltip("method:N", title="method"),
        alt.Tooltip("precision:N", title="weights"),
        alt.Tooltip("params:Q", title="parameters", format=","),
        alt.Tooltip("weights:Q", title="quantized weights", format=","),
        alt.Tooltip("weight_kib:Q", title="weight memory (KiB)", format=",.1f"),
        alt.Tooltip("error:Q", title="test error, mean (%)", format=".2f"),
        alt.Tooltip("error_std:Q", title="test error, std (%)", format=".2f"),
        alt.Tooltip("gap:Q", title="gap to float (points)", format="+.2f"),
        alt.Tooltip("gap_se:Q", title="gap, standard error (points)", format=".2f"),
        alt.Tooltip("gap_std:Q", title="gap, std over seeds (points)", format=".2f"),
        alt.Tooltip("val_error:Q", title="validation error, mean (%)", format=".2f"),
        alt.Tooltip("seeds:Q", title="seeds"),
    ]
    if x_field == "depth":
        tips.insert(3, alt.Tooltip("depth:Q", title="hidden layers"))
    if not gap:
        tips = [t for t in tips if not str(t.to_dict()["field"]).startswith("gap")]
    return tips


def _decade_axis(values: Iterable[float], **kw) -> alt.Axis:
    """A log axis with one labelled tick per power of ten over ``values`` (1k, 10k, 100k, ...), so that
    the labels of the ticks Vega puts at 2x and 3x a power (``200k300k``) never collide."""
    values = [v for v in values if v and v > 0]
    lo, hi = math.floor(math.log10(min(values))), math.ceil(math.log10(max(values)))
    return alt.Axis(format="~s", values=[10.0 ** k for k in range(lo, hi + 1)], **kw)


def _size_axis(data: Sequence[Mapping[str, Any]], x_field: str, size_ticks: bool) -> alt.Axis:
    """A log axis; with ``size_ticks`` the ticks sit at the networks of the sweep and read
    ``[size label, count]`` (two lines)."""
    if not size_ticks:
        return alt.Axis(format="~s", grid=True)
    fmt = X_FIELDS[x_field][1]
    ticks: dict[int, str] = {}
    for r in data:
        ticks.setdefault(int(r[x_field]), r["size_label"])
    expr = "''"
    for value, label in sorted(ticks.items(), reverse=True):
        expr = f"datum.value == {value} ? [{label!r}, format(datum.value, {fmt!r})] : {expr}"
    return alt.Axis(values=sorted(ticks), labelExpr=expr, labelAngle=0, labelOverlap=False, grid=True)


def _sweep_layers(data, x: alt.X, y_field: str, y_title: str, y_scale: alt.Scale, lo: str, hi: str,
                  tooltips, methods, bits, zero_line: bool = False, group: str | None = None) -> alt.LayerChart:
    detail = ["precision:N"] + ([f"{group}:N"] if group else [])
    # Vega formats the ticks of a symlog axis with a scale-derived precision (10 reads "1e+1"): the
    # label expression formats each tick value on its own.
    axis = (alt.Axis(values=_symlog_ticks(data, lo, hi), labelExpr="format(datum.value, '~g')")
            if y_scale.type == "symlog" else alt.Axis())
    method_sel, precision_sel = _selections()
    dash, shape = precision_scales(bits)
    highlight = method_sel & precision_sel
    color = alt.Color("method:N", scale=method_scale(methods), title="method",
                      legend=alt.Legend(symbolStrokeWidth=3, **_LEGEND_KW))
    base = alt.Chart().encode(x=x, color=color, opacity=alt.condition(highlight, alt.value(1.0), alt.value(0.12)))
    y = alt.Y(f"{y_field}:Q", title=y_title, scale=y_scale, axis=axis)
    line = base.mark_line(strokeWidth=2).encode(
        y=y, strokeDash=_dash_channel(dash), detail=detail,
    )
    bars = base.mark_rule(strokeWidth=1.5).encode(y=alt.Y(f"{lo}:Q", scale=y_scale), y2=f"{hi}:Q", detail=detail)
    zoom = alt.selection_interval(name="zoom", bind="scales")
    points = base.mark_point(filled=True, size=70).encode(
        y=y, shape=_shape_channel(shape), tooltip=tooltips,
    ).add_params(method_sel, precision_sel, zoom)
    layers = [line, bars, points]
    if zero_line:
        layers.insert(0, alt.Chart().mark_rule(color="#888888", strokeDash=[3, 3]).encode(y=alt.datum(0)))
    return alt.layer(*layers)


def _title(title: str | None, default: str, sub: list[str]) -> alt.TitleParams:
    return alt.TitleParams(text=title or default, subtitle=sub, anchor="start")


def _summarise(rows: Sequence[Mapping[str, Any]], methods: Sequence[str]) -> list[dict]:
    """:func:`quantlab.analysis.rows.summarise` of the tidy ``rows`` of ``methods``."""
    rows = [r for r in rowmod.check_rows(rows, purpose="to draw") if r["method"] in methods]
    if not rows:
        raise ValueError(f"no rows for methods {list(methods)}")
    return rowmod.summarise(rows)


BASELINE_TEXT = {"control": "float control", "float": "float network"}
"""How chart subtitles name a gap's baseline (the float control: the float network trained on for the
retraining's epochs, defined in the chapters)."""


def _gap_rows(rows: Sequence[Mapping[str, Any]], methods: Sequence[str], baseline: str) -> list[dict]:
    """Quantized summary rows whose ``gap``, ``gap_std`` and ``gap_se`` are against ``baseline``
    ("control" | "float"); rows without that gap are left out."""
    prefix = rowmod.gap_field(baseline)
    methods = [m for m in methods if m != "float"]
    out = []
    for r in _summarise(rows, ["float", *methods]):
        if r["method"] != "float" and r.get(prefix) is not None:
            out.append({**r, "gap": r[prefix], "gap_std": r.get(f"{prefix}_std"), "gap_se": r.get(f"{prefix}_se")})
    return out


def _y_scale(kind: str, field: str) -> alt.Scale:
    if kind not in ("linear", "log", "symlog"):
        raise ValueError(f"y_scale must be 'linear', 'log' or 'symlog'; got {kind!r}")
    if kind == "log":
        return alt.Scale(type="log", nice=False, padding=12)
    if kind == "symlog":  # linear within +-1 point, logarithmic beyond: small and large gaps both visible
        return alt.Scale(type="symlog", constant=1, nice=False, padding=12)
    return alt.Scale(zero=field.startswith("gap"), nice=True)


def _symlog_ticks(data: Sequence[Mapping[str, Any]], lo: str, hi: str) -> list[float]:
    """Readable ticks (0, ±0.5, ±1, ±2, ±5, ±10, ...) spanning the data of a symlog axis."""
    values = [v for r in data for v in (r.get(lo), r.get(hi)) if v is not None] or [0.0]
    low, high = min(0.0, min(values)), max(0.0, max(values))
    steps = [0.5, 1, 2, 5, 10, 20, 50, 100]
    return sorted({0.0, *(-t for t in steps if -t >= low * 1.05), *(t for t in steps if t <= high * 1.05)})


_Y_NOTE = {"linear": "", "log": ", log scale", "symlog": ", symmetric log scale"}


def _size_x(data: Sequence[Mapping[str, Any]], x: str, size_ticks: bool) -> alt.X:
    """The log-scale size axis of the sweep charts (ticks at the sweep's networks if ``size_ticks``)."""
    title = X_FIELDS[x][0]
    if size_ticks:
        title += "; ticks: " + _TICKS_NOTE.get(data[0]["family"], "networks")
    return alt.X(f"{x}:Q", title=title, scale=alt.Scale(type="log", nice=False, padding=18),
                 axis=_size_axis(data, x, size_ticks))


def error_vs_params(
    rows: Sequence[Mapping[str, Any]],
    title: str | None = None,
    x: str = "params",
    methods: Sequence[str] = METHODS,
    y_scale: str = "log",
    size_ticks: bool = True,
    group: str | None = None,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> alt.LayerChart:
    """Test error (mean +- std over seeds) against network size on a log axis, one colour per
    method, one dash/shape per precision.

    Args:
      rows: :func:`quantlab.analysis.rows.tidy` rows.
      x: ``params`` (all parameters), ``weights`` (quantized kernels) or ``weight_bits`` (memory).
      methods: which of float / direct / retrain to draw.
      y_scale: ``log`` (default: errors from a few to tens of percent stay readable) or ``linear``.
      size_ticks: ticks at the sweep's networks, labelled with their size (e.g. ``8x3``, ``8-8-16``).
      group: a row field (e.g. ``width``) whose values get separate lines; by default one line joins
        all sizes of a method and precision.
    """
    if x not in X_FIELDS:
        raise ValueError(f"x must be one of {tuple(X_FIELDS)}; got {x!r}")
    summ = _summarise(rows, methods)
    data = chart_rows(summ)
    enc_x = _size_x(data, x, size_ticks)
    layers = _sweep_layers(
        data, enc_x, "error", f"test error (%{_Y_NOTE.get(y_scale, '')})",
        _y_scale(y_scale, "error"), "error_lo", "error_hi", _tooltips(x, gap=True), {r["method"] for r in summ},
        [r["bits"] for r in summ], group=group,
    )
    sub = subtitle(rows, f"test error, {SPREAD}")
    return layers.properties(data=alt.Data(values=data), width=width, height=height,
                             title=_title(title, "Test error against network size", sub))


def gap_vs_params(
    rows: Sequence[Mapping[str, Any]],
    title: str | None = None,
    x: str = "params",
    methods: Sequence[str] = ("retrain",),
    size_ticks: bool = True,
    y_scale: str = "symlog",
    group: str | None = None,
    width: int = WIDTH,
    height: int = HEIGHT,
    baseline: str = "control",
) -> alt.LayerChart:
    """The gap to float (quantized minus float test error, percentage points; mean ± standard error
    over seeds of the per-seed difference) against network size on a log axis. A zero line marks "no gap".
    ``y_scale``: ``symlog`` (default: linear within ±1 point, logarithmic beyond, so that gaps of a
    few tenths and of tens of points are both readable) or ``linear``; ``group`` as in
    :func:`error_vs_params`; ``baseline``: ``control`` (default: the float control, trained as
    long as the retrained network) or ``float`` (the float network itself)."""
    if x not in X_FIELDS:
        raise ValueError(f"x must be one of {tuple(X_FIELDS)}; got {x!r}")
    summ = _gap_rows(rows, methods, baseline)
    if not summ:
        raise ValueError("no quantized rows with a float counterpart: cannot draw gaps")
    data = chart_rows(summ)
    enc_x = _size_x(data, x, size_ticks)
    layers = _sweep_layers(
        data, enc_x, "gap", f"gap to float (percentage points{_Y_NOTE.get(y_scale, '')})", _y_scale(y_scale, "gap"),
        "gap_lo", "gap_hi", _tooltips(x, gap=True), {r["method"] for r in summ}, [r["bits"] for r in summ],
        zero_line=True, group=group,
    )
    sub = subtitle(rows, f"quantized test error minus that of the {BASELINE_TEXT[baseline]}, {GAP_SPREAD}")
    return layers.properties(
        data=alt.Data(values=data), width=width, height=height,
        title=_title(title, "Gap between float and quantized networks against size", sub),
    )


def _depth_facet(layers: alt.LayerChart, data: list[dict], title: alt.TitleParams) -> alt.FacetChart:
    widths = sorted({r["width"] for r in data})
    for r in data:
        r["width_label"] = f"{r['width']} units per layer"
    return layers.properties(width=FACET_WIDTH, height=FACET_HEIGHT).facet(
        data=alt.Data(values=data),
        column=alt.Column("width_label:N", title=None, sort=[f"{w} units per layer" for w in widths],
                          header=alt.Header(labelFontSize=12, labelFontWeight="bold")),
        title=title,
    )


def _depth_x(data: Sequence[Mapping[str, Any]]) -> alt.X:
    depths = sorted({int(r["depth"]) for r in data})
    return alt.X("depth:Q", title="hidden layers (count)",
                 scale=alt.Scale(domain=[depths[0] - 0.3, depths[-1] + 0.3], nice=False),
                 axis=alt.Axis(values=depths, format="d", grid=True))


def error_vs_depth(
    rows: Sequence[Mapping[str, Any]],
    title: str | None = None,
    methods: Sequence[str] = METHODS,
    y_scale: str = "log",
) -> alt.FacetChart:
    """Test error (mean +- std over seeds) against the number of hidden layers, one panel per width."""
    summ = _summarise(rows, methods)
    if any(r["family"] != "ffdnn" for r in summ):
        raise ValueError("error_vs_depth needs FFDNN rows (width and depth)")
    data = chart_rows(summ)
    layers = _sweep_layers(
        data, _depth_x(data), "error", f"test error (%{_Y_NOTE.get(y_scale, '')})",
        _y_scale(y_scale, "error"), "error_lo", "error_hi", _tooltips("depth", gap=True),
        {r["method"] for r in summ}, [r["bits"] for r in summ],
    )
    sub = subtitle(rows, f"test error, {SPREAD}")
    return _depth_facet(layers, data, _title(title, "Test error against depth", sub))


def gap_vs_depth(
    rows: Sequence[Mapping[str, Any]],
    title: str | None = None,
    methods: Sequence[str] = ("retrain",),
    y_scale: str = "symlog",
    baseline: str = "control",
) -> alt.FacetChart:
    """The gap to float (percentage points, mean ± standard error over seeds) against the number of
    hidden layers, one panel per width (``y_scale`` and ``baseline`` as in :func:`gap_vs_params`)."""
    summ = _gap_rows(rows, methods, baseline)
    if not summ or any(r["family"] != "ffdnn" for r in summ):
        raise ValueError("gap_vs_depth needs quantized FFDNN rows with float counterparts")
    data = chart_rows(summ)
    layers = _sweep_layers(
        data, _depth_x(data), "gap", f"gap to float (percentage points{_Y_NOTE.get(y_scale, '')})",
        _y_scale(y_scale, "gap"),
        "gap_lo", "gap_hi", _tooltips("depth", gap=True), {r["method"] for r in summ}, [r["bits"] for r in summ],
        zero_line=True,
    )
    sub = subtitle(rows, f"quantized test error minus that of the {BASELINE_TEXT[baseline]}, {GAP_SPREAD}")
    return _depth_facet(layers, data,
                        _title(title, "Gap between float and quantized networks against depth", sub))


# -- a single layer: the quantizer ---------------------------------------------------------------

def step_error_curve(w: Any, bits: int, num: int = 241, max_step: float | None = None) -> list[dict]:
    """The relative L2 quantization error ``sum (Q_D(w) - w)^2 / sum w^2`` of weights ``w`` over a
    grid of ``num`` steps ``D`` from ``max_step / num`` to ``max_step`` (default: 2.5 times the
    L2-optimal ternary step), plus the optimum itself. Rows: ``{"bits", "step", "error",
    "optimal"}`` with ``error`` a fraction. Uses :func:`quantlab.numerics.quantize.quantize` and
    :func:`~quantlab.numerics.quantize.optimal_step`."""
    import jax
    import jax.numpy as jnp

    from quantlab.numerics import quantize as qz

    w = jnp.asarray(w, jnp.float32).ravel()
    energy = float(jnp.sum(w * w))
    if energy == 0:
        raise ValueError("all weights are zero: the relative error is undefined")
    best = float(qz.optimal_step(w, bits))
    if max_step is None:
        max_step = 2.5 * float(qz.optimal_step(w, 2))
    grid = np.linspace(max_step / num, max_step, num, dtype=np.float32)
    errs = jax.jit(jax.vmap(lambda d: qz.quantization_error(w, d, bits)))(jnp.asarray(grid))
    rows = [{"bits": int(bits), "step": float(d), "error": float(e) / energy, "optimal": False}
            for d, e in zip(grid, np.asarray(errs))]
    rows.append({"bits": int(bits), "step": best,
                 "error": float(qz.quantization_error(w, best, bits)) / energy, "optimal": True})
    return sorted(rows, key=lambda r: r["step"])


def quantizer_error_curve(
    w: Any,
    bits: Sequence[int] = (2, 3),
    title: str | None = None,
    dataset: str | None = None,
    layer: str | None = None,
    num: int = 241,
    width: int = WIDTH,
    height: int = 280,
) -> alt.LayerChart:
    """The relative L2 error of quantizing one layer's weights ``w`` against the step ``D``, one curve
    per bit width (dash as elsewhere), with the L2-optimal step of
    :func:`quantlab.numerics.quantize.optimal_step` marked by a rule and a point (tooltips give the numbers)."""
    bits = _sorted_bits(bits)
    from quantlab.numerics import quantize as qz

    max_step = 2.5 * max(float(qz.optimal_step(np.asarray(w), b)) for b in bits)
    rows = [r for b in bits for r in step_error_curve(w, b, num, max_step)]
    for r in rows:
        r["precision"] = precision_label(r["bits"])
        r["error_pct"] = round(100 * r["error"], 4)
    dash, shape = precision_scales(bits)
    precision_sel = alt.selection_point(name="precision_pick", fields=["precision"], bind="legend")
    opacity = alt.condition(precision_sel, alt.value(1.0), alt.value(0.15))
    color = METHOD_COLORS["direct"]
    x = alt.X("step:Q", title="step D (weight units)", scale=alt.Scale(domain=[0, max_step], nice=False))
    y = alt.Y("error_pct:Q", title="relative L2 error (% of sum of w²)", scale=alt.Scale(domain=[0, 100]))
    tips = [alt.Tooltip("precision:N", title="weights"), alt.Tooltip("step:Q", title="step D", format=".5f"),
            alt.Tooltip("error_pct:Q", title="relative L2 error (%)", format=".3f")]
    curve = alt.Chart().mark_line(color=color, strokeWidth=2).encode(
        x=x, y=y, strokeDash=_dash_channel(dash), opacity=opacity,
    ).transform_filter("!datum.optimal")
    hover = alt.Chart().transform_filter("!datum.optimal").mark_point(color=color, size=20, opacity=0).encode(
        x=x, y=y, tooltip=tips)
    best = alt.Chart().transform_filter("datum.optimal")
    rule = best.mark_rule(color=METHOD_COLORS["retrain"], strokeWidth=1.5).encode(
        x=x, strokeDash=_dash_channel(dash), opacity=opacity)
    dot = best.mark_point(color=METHOD_COLORS["retrain"], filled=True, size=110).encode(
        x=x, y=y, shape=_shape_channel(shape), opacity=opacity,
        tooltip=[alt.Tooltip("precision:N", title="weights"),
                 alt.Tooltip("step:Q", title="L2-optimal step D*", format=".5f"),
                 alt.Tooltip("error_pct:Q", title="relative L2 error at D* (%)", format=".3f")],
    ).add_params(precision_sel)
    label = best.mark_text(align="left", dx=7, dy=-10, color=METHOD_COLORS["retrain"], fontSize=11).encode(
        x=x, y=y, text=alt.Text("step:Q", format=".4f"), opacity=opacity)
    sub = [p for p in [dataset, layer, "blue: the L2-optimal step D* (quantlab.numerics.quantize.optimal_step)"] if p]
    return alt.layer(curve, hover, rule, dot, label).properties(
        data=alt.Data(values=rows), width=width, height=height,
        title=_title(title, "Quantization error of one layer against the step D", sub),
    )


def weight_histogram(
    w: Any,
    step: float,
    bits: int = 2,
    title: str | None = None,
    dataset: str | None = None,
    layer: str | None = None,
    bins: int = 81,
    width: int = WIDTH,
    height: int = 260,
) -> alt.LayerChart:
    """Histogram of one layer's weights with the quantization levels ``k D`` (solid) and the
    decision thresholds ``(k - 1/2) D`` (dashed) of a ``bits``-bit quantizer with step ``D = step``
    marked; for ternary the levels are 0 and ±D and the thresholds ±D/2."""
    from quantlab.numerics import quantize as qz

    w = np.asarray(w, np.float32).ravel()
    step = float(step)
    top = qz.max_level(bits)
    edge = max(float(np.abs(w).max()), (top + 0.5) * step) * 1.02
    counts, edges = np.histogram(w, bins=bins, range=(-edge, edge))
    hist = [{"kind": "bin", "lo": float(a), "hi": float(b), "count": int(c), "share": float(c) / w.size}
            for a, b, c in zip(edges[:-1], edges[1:], counts)]
    marks = []
    for k in range(-top, top + 1):
        name = "0" if k == 0 else f"{k:+d}D".replace("+1D", "+D").replace("-1D", "-D")
        marks.append({"kind": "level", "x": k * step, "name": f"level {name}"})
    for k in range(1, top + 1):
        for sign in (-1, 1):
            name = f"{'-' if sign < 0 else '+'}{'' if k == 1 else 2 * k - 1}D/2"
            marks.append({"kind": "threshold", "x": sign * (k - 0.5) * step, "name": f"threshold {name}"})
    zero_share = float(np.mean(np.abs(w) < 0.5 * step))
    bar_color = "#9aa5b1"
    x_scale = alt.Scale(domain=[-edge, edge], nice=False)
    bars = alt.Chart().transform_filter("datum.kind == 'bin'").mark_bar(color=bar_color, binSpacing=0).encode(
        x=alt.X("lo:Q", title="weight value", scale=x_scale), x2="hi:Q",
        y=alt.Y("count:Q", title="weights (count)", scale=alt.Scale(domainMin=0, nice=True)), y2=alt.datum(0),
        tooltip=[alt.Tooltip("lo:Q", title="from", format=".4f"), alt.Tooltip("hi:Q", title="to", format=".4f"),
                 alt.Tooltip("count:Q", title="weights", format=","),
                 alt.Tooltip("share:Q", title="share", format=".2%")],
    )
    kinds = alt.Scale(domain=["level", "threshold"], range=[[1, 0], [5, 3]])
    pick = alt.selection_point(name="mark_pick", fields=["kind"], bind="legend")
    rule_mark = alt.Chart().transform_filter("datum.kind != 'bin'").mark_rule(
        color=METHOD_COLORS["retrain"], strokeWidth=2)
    rules = rule_mark.encode(
        x=alt.X("x:Q", scale=x_scale),
        strokeDash=alt.StrokeDash("kind:N", scale=kinds, title=f"{precision_label(bits)} quantizer",
                                  legend=alt.Legend(symbolStrokeWidth=2, symbolStrokeColor=METHOD_COLORS["retrain"],
                                                    **_LEGEND_KW)),
        opacity=alt.condition(pick, alt.value(1.0), alt.value(0.15)),
        tooltip=[alt.Tooltip("name:N", title="mark"), alt.Tooltip("x:Q", title="weight value", format=".5f")],
    ).add_params(pick)
    sub = [", ".join(p for p in [dataset, layer] if p),
           f"{w.size:,} weights, D = {step:.4f}: {zero_share:.1%} of them fall within ±D/2 and become 0"]
    return alt.layer(bars, rules).properties(
        data=alt.Data(values=hist + marks), width=width, height=height,
        title=_title(title, "Weights of one layer and the quantizer's levels", sub),
    )


def error_bars(
    rows: Sequence[Mapping[str, Any]],
    title: str | None = None,
    dataset: str | None = None,
    network: str | None = None,
    width: int = 360,
    height: int = 200,
) -> alt.LayerChart:
    """Test error of one network per method and precision, as horizontal bars (colour = method,
    as elsewhere) with the exact value printed at the end of each bar.

    Args:
      rows: ``{"method", "bits", "test_error"}`` dicts (errors as fractions), e.g. the float network
        (bits 32) and its direct and retrained ternary and 3-bit versions.
    """
    data = []
    for r in rows:
        data.append({
            "method": METHOD_LABELS.get(r["method"], r["method"]), "precision": precision_label(r["bits"]),
            "bits": int(r["bits"]), "error": round(100 * float(r["test_error"]), 4),
            "bar": f"{METHOD_LABELS.get(r['method'], r['method'])}, {precision_label(r['bits'])}",
        })
    order = [d["bar"] for d in sorted(data, key=lambda d: (
        list(METHOD_LABELS.values()).index(d["method"]) if d["method"] in METHOD_LABELS.values() else 9,
        d["bits"] < FLOAT_BITS, d["bits"]))]
    methods = [m for m, label in METHOD_LABELS.items() if label in {d["method"] for d in data}]
    y = alt.Y("bar:N", sort=order, title=None, axis=alt.Axis(labelLimit=260))
    x = alt.X("error:Q", title="test error (%)", scale=alt.Scale(zero=True, nice=True))
    bars = alt.Chart().mark_bar(height={"band": 0.7}).encode(
        x=x, y=y, color=alt.Color("method:N", scale=method_scale(methods), title="method", legend=None),
        tooltip=[alt.Tooltip("method:N"), alt.Tooltip("precision:N", title="weights"),
                 alt.Tooltip("error:Q", title="test error (%)", format=".2f")],
    )
    text = alt.Chart().mark_text(align="left", dx=4, fontSize=11).encode(
        x=x, y=y, text=alt.Text("error:Q", format=".2f"))
    sub = [", ".join(p for p in [dataset, network] if p), "test error of one network (one seed)"]
    return alt.layer(bars, text).properties(
        data=alt.Data(values=data), width=width, height=height,
        title=_title(title, "Direct quantization against retraining", sub),
    )


def _epoch_values(history: Sequence[Mapping[str, Any]], key: str, seed: int) -> list[tuple[int, float]]:
    out = []
    for h in history:
        v = h[key]
        if isinstance(v, (list, tuple, np.ndarray)):
            v = v[seed]
        out.append((int(h["epoch"]), float(v)))
    return out


def learning_curve(
    float_history: Sequence[Mapping[str, Any]],
    retrain_histories: Mapping[int, Sequence[Mapping[str, Any]]],
    direct_errors: Mapping[int, float] | None = None,
    title: str | None = None,
    dataset: str | None = None,
    seed: int = 0,
    width: int = WIDTH,
    height: int = 280,
) -> alt.LayerChart:
    """Validation error per epoch: float training, then (after a rule marking the quantization)
    the retraining of each bit width, starting from the directly quantized network's error.

    Args:
      float_history: :class:`quantlab.training.train.FitResult` ``history`` (per-seed lists) or a record's
        ``history`` (per-seed values).
      retrain_histories: ``{bits: history}`` of the retrainings.
      direct_errors: ``{bits: validation error}`` of direct quantization (drawn at the junction).
      seed: which seed's curve to draw when the histories hold several.
    """
    float_pts = _epoch_values(float_history, "val_error", seed)
    last = float_pts[-1][0] if float_pts else 0
    rows = [{"method": METHOD_LABELS["float"], "bits": 32, "epoch": e, "stage_epoch": e, "error": 100 * v}
            for e, v in float_pts]
    direct_errors = dict(direct_errors or {})
    for bits, hist in retrain_histories.items():
        if int(bits) in direct_errors:
            v = float(direct_errors[int(bits)])
            rows.append({"method": METHOD_LABELS["direct"], "bits": int(bits), "epoch": last, "stage_epoch": 0,
                         "error": 100 * v})
            rows.append({"method": METHOD_LABELS["retrain"], "bits": int(bits), "epoch": last, "stage_epoch": 0,
                         "error": 100 * v, "junction": True})
        for e, v in _epoch_values(hist, "val_error", seed):
            rows.append({"method": METHOD_LABELS["retrain"], "bits": int(bits), "epoch": last + e, "stage_epoch": e,
                         "error": 100 * v})
    for r in rows:
        r["precision"] = precision_label(r["bits"])
        r["error"] = round(r["error"], 4)
        r.setdefault("junction", False)
    methods = ["float", *(["direct"] if direct_errors else []), "retrain"]
    bits = [32, *retrain_histories]
    dash, shape = precision_scales(bits)
    method_sel, precision_sel = _selections()
    opacity = alt.condition(method_sel & precision_sel, alt.value(1.0), alt.value(0.12))
    color = alt.Color("method:N", scale=method_scale(methods), title="method",
                      legend=alt.Legend(symbolStrokeWidth=3, **_LEGEND_KW))
    x = alt.X("epoch:Q", title="epoch (float training, then retraining)",
              axis=alt.Axis(values=sorted({r["epoch"] for r in rows}), format="d"))
    y = alt.Y("error:Q", title="validation error (%)", scale=alt.Scale(zero=False, nice=True, padding=8))
    tips = [alt.Tooltip("method:N"), alt.Tooltip("precision:N", title="weights"),
            alt.Tooltip("stage_epoch:Q", title="epoch of this stage"),
            alt.Tooltip("error:Q", title="validation error (%)", format=".2f")]
    not_direct = f"datum.method != '{METHOD_LABELS['direct']}'"
    lines = alt.Chart().transform_filter(not_direct).mark_line(strokeWidth=2).encode(
        x=x, y=y, detail="precision:N", opacity=opacity,
        color=color,
        strokeDash=_dash_channel(dash),
    )
    points = alt.Chart().transform_filter("!datum.junction").mark_point(filled=True, size=70).encode(
        x=x, y=y, color=color, shape=_shape_channel(shape),
        opacity=opacity, tooltip=tips,
    ).add_params(method_sel, precision_sel)
    junction = alt.Chart(alt.Data(values=[{"epoch": last, "text": "quantize"}]))
    quantize_rule = junction.mark_rule(color="#888888", strokeDash=[3, 3]).encode(x=alt.X("epoch:Q"))
    note = junction.mark_text(align="left", dx=4, dy=-4, color="#666666", baseline="bottom").encode(
        x=alt.X("epoch:Q"), y=alt.value(height), text="text:N")
    sub = [p for p in [dataset, "validation error of one network (one seed); retraining starts from the "
                                 "directly quantized network"] if p]
    return alt.layer(quantize_rule, note, lines, points).properties(
        data=alt.Data(values=rows), width=width, height=height,
        title=_title(title, "Learning curve: float training, quantization, retraining", sub),
    )


CURVE_FIELDS = {"bits": "weights", "step_policy": "step policy", "seed": "seed"}


def retraining_curves(
    rows: Sequence[Mapping[str, Any]],
    color: str = "bits",
    facet: str | None = "size_label",
    title: str | None = None,
    dataset: str | None = None,
    columns: int = 3,
) -> alt.Chart:
    """Validation error per retraining epoch, one line per seed (epoch 0 = the directly quantized
    network every retraining starts from), so a reader can see whether retraining converged.

    Args:
      rows: :func:`quantlab.analysis.rows.curve_rows` / :func:`~quantlab.analysis.rows.curves` rows; only
        ``stage == "retrain"`` rows are drawn.
      color: the row field that picks the colour: ``bits`` (precision), ``step_policy`` or ``seed``.
      facet: a row field with one panel per value (default: one per network), or None.
      dataset: the first subtitle line (default: the rows' ``dataset`` and seeds, when they have one).
    """
    if color not in CURVE_FIELDS:
        raise ValueError(f"color must be one of {tuple(CURVE_FIELDS)}; got {color!r}")
    data = [r for r in rows if r["stage"] == "retrain"]
    if not data:
        raise ValueError("no retraining curves in rows (stage 'retrain')")
    if dataset is None and all(r.get("dataset") for r in data):
        dataset = f"{dataset_text(data)}, {_seeds_text(data)}"
    values = []
    for r in data:
        v = {k: r.get(k) for k in ("seed", "epoch", "bits", "step_policy", "params", facet) if k}
        v.update({"error": round(100 * r["val_error"], 4), "precision": precision_label(r["bits"]),
                  "line": f"{r.get('seed')}-{r['bits']}-{r.get('step_policy')}"})
        values.append(v)
    field = {"bits": "precision", "step_policy": "step_policy", "seed": "seed"}[color]
    epochs = sorted({v["epoch"] for v in values})
    base = alt.Chart().encode(
        x=alt.X("epoch:Q", title="retraining epoch",
                axis=alt.Axis(values=epochs, format="d"), scale=alt.Scale(nice=False, padding=6)),
        y=alt.Y("error:Q", title="validation error (%)", scale=alt.Scale(zero=False, nice=True)),
        color=alt.Color(f"{field}:N", title=CURVE_FIELDS[color], scale=alt.Scale(range=CATEGORY_COLORS),
                        legend=alt.Legend(**_LEGEND_KW)),
        detail="line:N",
    )
    tips = [alt.Tooltip("precision:N", title="weights"), alt.Tooltip("step_policy:N", title="step policy"),
            alt.Tooltip("seed:N"), alt.Tooltip("epoch:Q"),
            alt.Tooltip("error:Q", title="validation error (%)", format=".2f")]
    layers = alt.layer(base.mark_line(strokeWidth=1.5, opacity=0.8),
                       base.mark_point(filled=True, size=30).encode(tooltip=tips))
    sub = [p for p in [dataset, "validation error of every seed during retraining (epoch 0: directly quantized);",
                       "the selected network is the best epoch (epoch 0 included)"] if p]
    head = _title(title, "Retraining curves", sub)
    if facet is None:
        return layers.properties(data=alt.Data(values=values), width=WIDTH, height=HEIGHT, title=head)
    order = [v[facet] for v in sorted(values, key=lambda v: (v.get("params") or 0, str(v[facet])))]
    order = list(dict.fromkeys(order))
    return layers.properties(width=PANEL_WIDTH, height=150).facet(
        data=alt.Data(values=values), facet=alt.Facet(f"{facet}:N", title=None, sort=order), columns=columns,
        title=head,
    ).resolve_scale(y="independent")


def gap_vs_budget(
    rows: Sequence[Mapping[str, Any]],
    bits: int = 2,
    baseline: str = "control",
    title: str | None = None,
    columns: int = 3,
) -> alt.FacetChart:
    """A retraining-budget study: the retrained gap (percentage points, mean ± standard error over
    seeds of the per-seed difference to ``baseline``, as in :func:`gap_vs_params`) against the number of
    retraining epochs (log axis), one colour per step policy, one panel per network.

    Args:
      rows: :func:`quantlab.analysis.rows.tidy` rows of a spec with several ``retrain_epochs``.
    """
    summ = [r for r in _gap_rows(rows, ["retrain"], baseline) if int(r["bits"]) == int(bits)]
    if not summ:
        raise ValueError(f"no retrained {bits}-bit rows with a float counterpart")
    values = []
    for r in summ:
        gap, se = _pct(r["gap"]), _pct(r["gap_se"]) or 0.0
        values.append({"network": r["size_label"], "params": int(r["params"]), "step_policy": r["step_policy"],
                       "epochs": int(r["retrain_epochs"]), "gap": gap, "gap_se": se,
                       "gap_lo": round(gap - se, 4), "gap_hi": round(gap + se, 4), "seeds": int(r["seeds"])})
    epochs = sorted({v["epochs"] for v in values})
    x = alt.X("epochs:Q", title="retraining epochs (log scale)", scale=alt.Scale(type="log", nice=False, padding=10),
              axis=alt.Axis(values=epochs, format="d"))
    color = alt.Color("step_policy:N", title="step policy", scale=alt.Scale(range=CATEGORY_COLORS),
                      legend=alt.Legend(**_LEGEND_KW))
    tips = [alt.Tooltip("network:N"), alt.Tooltip("step_policy:N", title="step policy"),
            alt.Tooltip("epochs:Q", title="retraining epochs"),
            alt.Tooltip("gap:Q", title="gap (points)", format="+.2f"),
            alt.Tooltip("gap_se:Q", title="gap, standard error (points)", format=".2f"), alt.Tooltip("seeds:Q")]
    y = alt.Y("gap:Q", title="gap (percentage points)", scale=alt.Scale(zero=True, nice=True))
    base = alt.Chart()
    layers = alt.layer(
        base.mark_rule(color="#999999", strokeDash=[2, 2]).encode(y=alt.datum(0)),
        base.mark_rule().encode(x=x, y=alt.Y("gap_lo:Q", title=None), y2="gap_hi:Q", color=color),
        base.mark_line().encode(x=x, y=y, color=color),
        base.mark_point(filled=True, size=50).encode(x=x, y=y, color=color, tooltip=tips),
    )
    order = [v["network"] for v in sorted(values, key=lambda v: v["params"])]
    sub = [f"{dataset_text(rows)}, {_seeds_text(rows)}; {precision_label(bits)} weights;",
           f"retrained test error minus that of the {BASELINE_TEXT[baseline]}, {GAP_SPREAD}"]
    return layers.properties(width=PANEL_WIDTH, height=170).facet(
        data=alt.Data(values=values), facet=alt.Facet("network:N", title=None, sort=list(dict.fromkeys(order))),
        columns=columns, title=_title(title, "Gap against the retraining budget", sub),
    ).resolve_scale(y="independent")


# -- charts of chapters 6 and 7: effective compression ratio and memory

def ecr_chart(rows: Sequence[Mapping[str, Any]], title: str | None = None, width: int = 480, height: int = 320):
    """ECR of every retrained quantized network against its parameter count (both axes log), one
    line per precision through the interpolated values (dash and shape as elsewhere in the book,
    the retrained colour), with the
    naive ratio 32 / b of each precision as a grey dashed rule and ECR = 1 (break-even) as a thin
    rule. Bounds are hollow points labelled ``>=`` (the quantized network beats every float network
    of the sweep: ECR is a lower bound) or ``<=`` (worse than the smallest float network: an upper
    bound). Tooltips give the exact numbers."""
    from quantlab.analysis import stats

    table = stats.ecr_table(rows)
    if not table:
        raise ValueError("rows hold no retrained quantized networks: no ECR to chart")
    data = [{
        "network": rowmod.network_label(t), "precision": precision_label(t["bits"]), "bits": t["bits"],
        "params": t["params"],
        "weights": t["weights"], "memory_bits": t["weight_bits"], "error": round(100 * t["test_error"], 4),
        "float_params": round(t["float_params"]), "float_bits": round(t["float_bits"]), "ecr": t["ecr"],
        "ecr_text": t["ecr_text"], "relation": t["relation"], "naive": t["naive"],
        "exact": t["relation"] == "=", "mark": {"=": "", ">=": "≥", "<=": "≤"}[t["relation"]],
        "bound": {"=": "interpolated", ">=": "lower bound (beats every float network)",
                  "<=": "upper bound (worse than the smallest float network)"}[t["relation"]],
    } for t in table]
    bits = sorted({t["bits"] for t in table})
    dash, shape = precision_scales(bits)
    color = METHOD_COLORS["retrain"]
    sel = alt.selection_point(name="ecr_precision", fields=["precision"], bind="legend")
    opacity = alt.condition(sel, alt.value(1.0), alt.value(0.15))
    lo = min(min(d["ecr"] for d in data), 1.0) / 1.5
    hi = max(max(d["ecr"] for d in data), max(d["naive"] for d in data)) * 1.5
    x = alt.X("params:Q", title="parameters of the quantized network (count, log scale)",
              scale=alt.Scale(type="log", nice=False, padding=18), axis=alt.Axis(format="~s"))
    y = alt.Y("ecr:Q", title="effective compression ratio (x, log scale)",
              scale=alt.Scale(type="log", domain=[lo, hi], nice=False))
    tips = [alt.Tooltip("network:N"), alt.Tooltip("precision:N", title="weights"),
            alt.Tooltip("params:Q", title="parameters", format=","),
            alt.Tooltip("memory_bits:Q", title="memory (bits)", format=","),
            alt.Tooltip("error:Q", title="test error, mean (%)", format=".2f"),
            alt.Tooltip("float_params:Q", title="N_F: float parameters for that error", format=","),
            alt.Tooltip("float_bits:Q", title="float memory N_F x 32 (bits)", format=","),
            alt.Tooltip("ecr_text:N", title="ECR"), alt.Tooltip("bound:N", title="ECR is"),
            alt.Tooltip("naive:Q", title="naive ratio 32/b", format=".2f")]
    base = alt.Chart().encode(x=x, opacity=opacity)
    line = base.transform_filter("datum.exact").mark_line(color=color, strokeWidth=2).encode(
        y=y, strokeDash=_dash_channel(dash, "retrained weights", color), detail="precision:N")
    pts = base.mark_point(size=80, strokeWidth=2, color=color).encode(
        y=y, shape=_shape_channel(shape),
        fill=alt.condition("datum.exact", alt.value(color), alt.value("white")), tooltip=tips,
    ).add_params(sel)
    marks = base.mark_text(dy=-13, fontSize=13, fontWeight="bold", color=color).encode(y=y, text="mark:N")
    # The naive ratios are grey rules named in a legend of their own (not labels in the plot, which
    # the ECR lines could cross).
    naive_rows = [{"precision": precision_label(b), "naive": 32 / b,
                   "label": f"{precision_label(b)}: 32/{b} = {32 / b:.3g}x"} for b in bits]
    naive_dash = alt.Scale(domain=[r["label"] for r in naive_rows], range=[PRECISION_DASH[b] for b in bits])
    naive = [alt.Chart(alt.Data(values=naive_rows)).mark_rule(color="#888888", strokeWidth=1.2).encode(
        y=alt.Y("naive:Q"),
        strokeDash=alt.StrokeDash("label:N", scale=naive_dash, title="naive ratio 32/b", legend=alt.Legend(
            symbolType="stroke", symbolSize=500, symbolStrokeWidth=1.5, symbolStrokeColor="#888888", labelLimit=260,
            **_LEGEND_KW)),
        tooltip=[alt.Tooltip("label:N", title="naive compression")])]
    one = alt.Chart(alt.Data(values=[{"one": 1.0}])).mark_rule(color="#bbbbbb", strokeDash=[2, 4]).encode(y="one:Q")
    spec = {r.get("spec") for r in rows} - {None}
    sub = subtitle(rows, "ECR = N_F(error) x 32 / quantized memory; hollow ≥ / ≤: bound outside the float sweep")
    layered = alt.layer(one, *naive, alt.layer(line, pts, marks, data=alt.Data(values=data))).resolve_scale(
        strokeDash="independent")
    return layered.properties(width=width, height=height, title=alt.TitleParams(
        text=title or f"Effective compression ratio against size{' (' + ', '.join(sorted(spec)) + ')' if spec else ''}",
        subtitle=sub, anchor="start"))


def memory_chart(rows: Sequence[Mapping[str, Any]], title: str | None = None, width: int = 440, height: int = 340):
    """Mean test error against weight memory (bits; both axes log) for every network of ``rows``:
    float, directly quantized and retrained, colours and shapes as elsewhere in the book. The
    Pareto front (the best network under each memory budget, :func:`quantlab.numerics.compression.pareto_front`)
    is the black step line; its networks are ringed. Tooltips give the exact numbers."""
    from quantlab.analysis import stats

    pts = stats.memory_points(rows)
    data = [{
        "network": rowmod.network_label(p), "method": METHOD_LABELS[p["method"]],
        "precision": precision_label(p["bits"]),
        "params": p["params"], "memory_bits": p["weight_bits"], "memory_kib": round(p["weight_bits"] / 8192, 3),
        "error": round(100 * p["test_error"], 4), "error_std": round(100 * (p["test_error_std"] or 0.0), 4),
        "seeds": p["seeds"], "pareto": p["pareto"], "on_front": "yes" if p["pareto"] else "no",
    } for p in pts]
    front = sorted((d for d in data if d["pareto"]), key=lambda d: d["memory_bits"])
    hi_mem = max(d["memory_bits"] for d in data)
    step_rows = ([{**d, "order": i} for i, d in enumerate(front)]
                 + [{**front[-1], "memory_bits": hi_mem, "order": len(front)}])
    methods = {p["method"] for p in pts}
    dash, shape = precision_scales(sorted({p["bits"] for p in pts}))
    sel = alt.selection_point(name="mem_method", fields=["method"], bind="legend")
    opacity = alt.condition(sel, alt.value(0.95), alt.value(0.12))
    x = alt.X("memory_bits:Q", title="weight memory (bits, log scale)",
              scale=alt.Scale(type="log", nice=False, padding=14), axis=_decade_axis(d["memory_bits"] for d in data))
    y = alt.Y("error:Q", title="test error, mean over seeds (%, log scale)",
              scale=alt.Scale(type="log", nice=False, padding=12))
    tips = [alt.Tooltip("network:N"), alt.Tooltip("method:N"), alt.Tooltip("precision:N", title="weights"),
            alt.Tooltip("params:Q", title="parameters", format=","),
            alt.Tooltip("memory_bits:Q", title="memory (bits)", format=","),
            alt.Tooltip("memory_kib:Q", title="memory (KiB)", format=",.1f"),
            alt.Tooltip("error:Q", title="test error, mean (%)", format=".2f"),
            alt.Tooltip("error_std:Q", title="test error, std (%)", format=".2f"),
            alt.Tooltip("seeds:Q"), alt.Tooltip("on_front:N", title="on the Pareto front")]
    color = alt.Color("method:N", scale=method_scale(methods), title="method",
                      legend=alt.Legend(labelLimit=220, symbolStrokeWidth=3, **_LEGEND_KW))
    base = alt.Chart(alt.Data(values=data)).encode(x=x, y=y, color=color, opacity=opacity)
    lines = base.mark_line(strokeWidth=1.2).encode(strokeDash=_dash_channel(dash), detail="precision:N",
                                                   order="memory_bits:Q")
    points = base.mark_point(filled=True, size=60).encode(shape=_shape_channel(shape), tooltip=tips).add_params(sel)
    ring = alt.Chart(alt.Data(values=front)).mark_point(size=260, color="black", strokeWidth=1.5, filled=False).encode(
        x=x, y=y, tooltip=tips)
    step = alt.Chart(alt.Data(values=step_rows)).mark_line(color="black", strokeWidth=1.5,
                                                           interpolate="step-after").encode(x=x, y=y, order="order:Q")
    sub = subtitle(rows, "black step: Pareto front (best network under a memory budget), ringed networks on it")
    return alt.layer(step, lines, points, ring).properties(width=width, height=height, title=alt.TitleParams(
        text=title or "Test error against weight memory: which network under a memory budget", subtitle=sub,
        anchor="start"))


# -- the book's front page and the ECR picture ---------------------------------------------------

def gap_overview(
    rows_by_sweep: Mapping[str, Sequence[Mapping[str, Any]]],
    titles: Mapping[str, str] | None = None,
    title: str | None = None,
    methods: Sequence[str] = ("retrain",),
    width: int = 150,
    height: int = 220,
    baseline: str = "control",
) -> alt.FacetChart:
    """The gap to float (percentage points, mean ± standard error over seeds; against ``baseline``
    as in :func:`gap_vs_params`) against the number of
    parameters for several sweeps side by side, one panel per sweep (x scales independent, the
    symmetric-log y axis shared), colours, dashes and shapes as in :func:`gap_vs_params`. Within a
    panel a line joins the networks of one width where the sweep has several depths per width
    (the depth sweep), else all networks of a precision.

    Args:
      rows_by_sweep: ``{sweep name: tidy rows}`` in panel order.
      titles: panel titles by sweep name (default: the sweep names).
    """
    titles = dict(titles or {})
    data, summ_all = [], []
    for sweep, rows in rows_by_sweep.items():
        summ = _gap_rows(rows, methods, baseline)
        if not summ:
            raise ValueError(f"sweep {sweep!r}: no quantized rows with a float counterpart")
        summ_all += summ
        depths_per_width: dict[Any, set] = {}
        for r in summ:
            depths_per_width.setdefault(r.get("width"), set()).add(r.get("depth"))
        by_width = any(w is not None and len(d) > 1 for w, d in depths_per_width.items())
        labelled: set = set()
        for d in sorted(chart_rows(summ), key=lambda d: (-d["gap_hi"], d["params"])):
            d["panel"] = titles.get(sweep, sweep)
            d["line_group"] = f"width {d['width']}" if by_width else "all"
            d["cluster_label"] = ""  # every row has the field: a layer filtered empty warns in the browser
            if by_width and d["width"] not in labelled:  # name each width's cluster above its highest bar
                d["cluster_label"] = f"{d['width']} units"
                labelled.add(d["width"])
            data.append(d)
    x = alt.X("params:Q", title="parameters (count, log scale)", scale=alt.Scale(type="log", nice=False, padding=10),
              axis=_decade_axis((d["params"] for d in data), grid=True))
    y_scale = _y_scale("symlog", "gap")
    layers = _sweep_layers(
        data, x, "gap", "gap to float (percentage points)", y_scale,
        "gap_lo", "gap_hi", _tooltips("params", gap=True), {r["method"] for r in summ_all},
        [r["bits"] for r in summ_all], zero_line=True, group="line_group",
    )
    labels = alt.Chart().mark_text(dy=-9, dx=-6, align="left", fontSize=10, color="#444444").encode(
        x=x, y=alt.Y("gap_hi:Q", scale=y_scale), text="cluster_label:N")
    layers = alt.layer(layers, labels)
    panels = list(dict.fromkeys(d["panel"] for d in data))
    sub = subtitle([r for rows in rows_by_sweep.values() for r in rows],
                   f"retrained test error minus that of the {BASELINE_TEXT[baseline]}, {GAP_SPREAD}")
    return layers.properties(width=width, height=height).facet(
        data=alt.Data(values=data),
        column=alt.Column("panel:N", title=None, sort=panels,
                          header=alt.Header(labelFontSize=12, labelFontWeight="bold")),
        title=_title(title, "The gap to float against network size, every sweep", sub),
    ).resolve_scale(x="independent")


def ecr_envelope(
    rows: Sequence[Mapping[str, Any]],
    trial: str | None = None,
    bits: int = 2,
    title: str | None = None,
    width: int = 480,
    height: int = 300,
) -> alt.LayerChart:
    """How N_F(e_Q), and with it the ECR, is read off the float sweep for one quantized network.

    Drawn: the float networks of ``rows`` (mean test error ± std over seeds against parameters, log
    x), the monotone **float envelope** that :func:`quantlab.numerics.compression.float_params_for_error`
    interpolates (log-linear between its points, a straight line on this log axis), one retrained
    ``bits``-bit network Q at its own size and mean error e_Q, and the read-off: a dashed line at
    e_Q to the envelope and down to the axis at N_F(e_Q). The subtitle gives the ECR arithmetic.

    Args:
      trial: Q's network label (e.g. ``ffdnn-w1024-d3``); default: among the retrained ``bits``-bit
        networks whose N_F is interpolated (not a bound), the one with the largest ratio of its own
        size to N_F, where the read-off is widest and easiest to see (else the largest network).
    """
    from quantlab.analysis import stats
    from quantlab.numerics import compression

    table = [t for t in stats.ecr_table(rows) if int(t["bits"]) == int(bits)]
    if not table:
        raise ValueError(f"rows hold no retrained {bits}-bit networks: no ECR to draw")
    if trial is not None:
        chosen = [t for t in table if rowmod.network_label(t) == trial]
        if not chosen:
            raise ValueError(f"no retrained {bits}-bit network {trial!r} in rows; have "
                             f"{', '.join(rowmod.network_label(t) for t in table)}")
        q = chosen[0]
    else:
        exact = [t for t in table if t["relation"] == "="]
        q = (max(exact, key=lambda t: (t["params"] / t["float_params"], t["params"])) if exact
             else max(table, key=lambda t: t["params"]))
    curve = compression.float_curve(*stats.float_sweep(rows))
    floats = stats.network_summary(rows, ["float"])
    prec = precision_label(bits)
    q_name = f"{rowmod.network_label(q)}, retrained {prec}"
    series = ["float network", "float envelope", q_name]
    colors = [METHOD_COLORS["float"], "#8a8a8a", METHOD_COLORS["retrain"]]
    color = alt.Color("series:N", scale=alt.Scale(domain=series, range=colors), title=None,
                      legend=alt.Legend(symbolStrokeWidth=2, labelLimit=320, **_LEGEND_KW))
    nf, e_q = float(q["float_params"]), round(100 * q["test_error"], 4)
    mark = {"=": "≈", ">=": "≥", "<=": "≤"}[q["relation"]]
    fl_data = [{"series": series[0], "network": rowmod.network_label(n), "params": n["params"],
                "error": round(100 * n["test_error"], 4), "error_std": round(100 * (n["test_error_std"] or 0.0), 4),
                "lo": round(100 * (n["test_error"] - (n["test_error_std"] or 0.0)), 4),
                "hi": round(100 * (n["test_error"] + (n["test_error_std"] or 0.0)), 4), "seeds": n["seeds"]}
               for n in floats]
    env_data = [{"series": series[1], "params": int(p), "error": round(100 * float(e), 4)}
                for p, e in zip(curve.params, curve.envelope)]
    q_data = [{"series": series[2], "network": rowmod.network_label(q), "precision": prec, "params": q["params"],
               "error": e_q, "memory_bits": q["weight_bits"], "float_params": round(nf), "ecr": q["ecr_text"]}]
    errors = [d["lo"] for d in fl_data] + [d["hi"] for d in fl_data] + [e_q]
    y_scale = alt.Scale(type="log", nice=False, domain=[min(errors) / 1.08, max(errors) * 1.08])
    x = alt.X("params:Q", title="parameters (count, log scale)", scale=alt.Scale(type="log", nice=False, padding=16),
              axis=alt.Axis(format="~s", grid=True))
    y = alt.Y("error:Q", title="test error (%, log scale)", scale=y_scale)
    fl = alt.Chart(alt.Data(values=fl_data))
    float_tips = [alt.Tooltip("network:N"), alt.Tooltip("params:Q", title="parameters", format=","),
                  alt.Tooltip("error:Q", title="test error, mean (%)", format=".2f"),
                  alt.Tooltip("error_std:Q", title="test error, std (%)", format=".2f"), alt.Tooltip("seeds:Q")]
    float_bars = fl.mark_rule(strokeWidth=1.2, color=METHOD_COLORS["float"]).encode(
        x=x, y=alt.Y("lo:Q", scale=y_scale), y2="hi:Q")
    float_pts = fl.mark_point(filled=True, size=55).encode(x=x, y=y, color=color, tooltip=float_tips)
    env = alt.Chart(alt.Data(values=env_data)).mark_line(strokeWidth=2.5, opacity=0.8).encode(x=x, y=y, color=color)
    # the N_F label points into the plot: right of the drop line in the left half of the x range, else left
    span = [min(int(curve.params[0]), int(q["params"])), max(int(curve.params[-1]), int(q["params"]))]
    left_half = math.log(nf) <= (math.log(span[0]) + math.log(span[1])) / 2
    lo_error = y_scale.domain[0]
    read = [{"params": q["params"], "error": e_q}, {"params": nf, "error": e_q}, {"params": nf, "error": lo_error}]
    read_line = alt.Chart(alt.Data(values=[{**r, "order": i} for i, r in enumerate(read)])).mark_line(
        color=METHOD_COLORS["retrain"], strokeDash=[4, 3], strokeWidth=1.5).encode(x=x, y=y, order="order:Q")
    q_tips = [alt.Tooltip("network:N"), alt.Tooltip("precision:N", title="weights"),
              alt.Tooltip("params:Q", title="parameters N_Q", format=","),
              alt.Tooltip("error:Q", title="test error e_Q, mean (%)", format=".2f"),
              alt.Tooltip("memory_bits:Q", title="memory M_Q (bits)", format=","),
              alt.Tooltip("float_params:Q", title="N_F(e_Q)", format=","), alt.Tooltip("ecr:N", title="ECR")]
    q_pt = alt.Chart(alt.Data(values=q_data)).mark_point(filled=True, size=110, shape=PRECISION_SHAPES[bits]).encode(
        x=x, y=y, color=color, tooltip=q_tips)
    nf_text = f"N_F(e_Q) {mark} {nf:,.0f}"
    labels = alt.Chart(alt.Data(values=[
        {"params": nf, "error": lo_error, "text": nf_text, "align": "nf"},
        {"params": q["params"], "error": e_q, "text": "Q", "align": "q"},
    ]))
    nf_label = labels.transform_filter("datum.align == 'nf'").mark_text(
        align="left" if left_half else "right", dx=5 if left_half else -5, dy=-6, fontSize=11, fontWeight="bold",
        color=METHOD_COLORS["retrain"]).encode(x=x, y=y, text="text:N")
    q_label = labels.transform_filter("datum.align == 'q'").mark_text(
        align="left", dx=8, dy=-8, fontSize=12, fontWeight="bold", color=METHOD_COLORS["retrain"]).encode(
        x=x, y=y, text="text:N")
    sub = [f"{dataset_text(rows)}, {_seeds_text(rows)}; float networks: test error, {SPREAD}",
           f"Q = {rowmod.network_label(q)}, retrained {prec}: e_Q = {e_q:.2f} %, M_Q = {q['weight_bits']:,} bits",
           f"ECR = N_F(e_Q) x 32 / M_Q {'=' if q['relation'] == '=' else q['relation']} {q['ecr_text']} "
           f"(naive 32/{bits} = {q['naive']:.3g})"]
    return alt.layer(float_bars, env, float_pts, read_line, q_pt, nf_label, q_label).properties(
        width=width, height=height,
        title=_title(title, "Reading N_F(e_Q) off the float envelope", sub))


# -- the precision x size map (quantlab.analysis.maps) ---------------------------------------------

def _vanished_text() -> str:
    from quantlab.analysis import inference, report

    return (f"upper one-sided {inference.CONFIDENCE:.0%} bound at most {report.VANISHED_GAP_PP:g} points")


def _bits_label(bits: int) -> str:
    return "2 (ternary)" if int(bits) == 2 else str(int(bits))


def resiliency_map(
    rows: Sequence[Mapping[str, Any]],
    methods: Sequence[str] = ("retrain", "direct"),
    baseline: str = "control",
    title: str | None = None,
    cell: int = 34,
) -> alt.FacetChart:
    """The gap to float (percentage points, mean over seeds, against ``baseline``) of every network
    (rows, largest on top) at every bit width (columns), one panel per method of ``methods``; the
    colour scale is shared and symmetric-logarithmic, so gaps of a tenth of a point and of tens of
    points are both legible. Each cell prints its gap; the outlined cell of a row is the fewest bits
    from which on the gap has vanished (:func:`quantlab.analysis.maps.bits_needed`). Tooltips give the
    gap ± standard error, the seeds' std, both errors and the seed count."""
    from quantlab.analysis import maps

    if baseline not in BASELINE_TEXT:
        raise ValueError(f"baseline must be one of {tuple(BASELINE_TEXT)}; got {baseline!r}")
    data = []
    for method in methods:
        grid = maps.gap_grid(rows, method, baseline)
        needed = {n["params"]: n["bits"] for n in maps.bits_needed(grid)}
        for c in grid:
            gap = _pct(c["gap"])
            data.append({
                "method": METHOD_LABELS[method], "network": c["network"], "params": c["params"],
                "bits": _bits_label(c["bits"]), "bits_n": c["bits"],
                "gap": gap, "gap_text": f"{gap:+.1f}" if abs(gap) < 9.95 else f"{gap:+.0f}",
                "gap_se": _pct(c["gap_se"]), "gap_std": _pct(c["gap_std"]),
                "quantized": _pct(c["quantized_error"]), "baseline": _pct(c["float_error"]),
                "seeds": c["seeds"], "needed": "yes" if needed[c["params"]] == c["bits"] else "no",
                "dark": abs(gap) > 8,
            })
    if not data:
        raise ValueError("rows hold no quantized results: no resiliency map")
    networks = [d["network"] for d in sorted(data, key=lambda d: -d["params"])]
    networks = list(dict.fromkeys(networks))
    bits = [_bits_label(b) for b in sorted({d["bits_n"] for d in data})]
    x = alt.X("bits:O", title="weight bits", sort=bits, axis=alt.Axis(labelAngle=0))
    y = alt.Y("network:O", title=None, sort=networks)
    top = max(abs(d["gap"]) for d in data)
    color = alt.Color("gap:Q", title=["gap to float", "(points)"],
                      scale=alt.Scale(type="symlog", constant=0.5, scheme="blueorange", domainMid=0,
                                      domain=[-top, top]),
                      legend=alt.Legend(orient="right", gradientLength=180))
    tips = [alt.Tooltip("network:N"), alt.Tooltip("method:N"), alt.Tooltip("bits:O", title="weight bits"),
            alt.Tooltip("params:Q", title="parameters", format=","),
            alt.Tooltip("gap:Q", title="gap, mean (points)", format="+.2f"),
            alt.Tooltip("gap_se:Q", title="gap, standard error", format=".2f"),
            alt.Tooltip("gap_std:Q", title="gap, std over seeds", format=".2f"),
            alt.Tooltip("quantized:Q", title="test error, quantized (%)", format=".2f"),
            alt.Tooltip("baseline:Q", title=f"test error, {BASELINE_TEXT[baseline]} (%)", format=".2f"),
            alt.Tooltip("seeds:Q"), alt.Tooltip("needed:N", title="fewest bits with the gap vanished")]
    base = alt.Chart().encode(x=x, y=y)
    rect = base.mark_rect().encode(color=color, tooltip=tips)
    ring = base.mark_rect(fill=None, stroke="black", strokeWidth=2.5).transform_filter("datum.needed == 'yes'")
    text = base.mark_text(fontSize=10).encode(
        text="gap_text:N", tooltip=tips,
        color=alt.condition("datum.dark", alt.value("white"), alt.value("black")))
    sub = subtitle(rows,
                   f"quantized test error minus that of the {BASELINE_TEXT[baseline]}, mean over seeds",
                   f"outlined: the fewest bits from which on the gap has vanished ({_vanished_text()})")
    return alt.layer(rect, ring, text).properties(
        width=cell * len(bits), height=cell * 0.7 * len(networks)).facet(
        data=alt.Data(values=data),
        column=alt.Column("method:N", title=None, sort=[METHOD_LABELS[m] for m in methods],
                          header=alt.Header(labelFontSize=12, labelFontWeight="bold")),
        title=_title(title, "The gap to float at every size and precision", sub))


def bits_needed_chart(
    needed_by_sweep: Mapping[str, Sequence[Mapping[str, Any]]],
    title: str | None = None,
    width: int = 380,
    height: int = 240,
    dataset: str | None = None,
) -> alt.LayerChart:
    """The fewest bits whose retrained gap has vanished (:func:`quantlab.analysis.maps.bits_needed`: of
    the weights, or of the hidden signals for a :func:`~quantlab.analysis.maps.signal_grid`)
    against the number of parameters (log scale), one line per entry of ``needed_by_sweep``
    (``{line title: bits_needed rows}``, e.g. one per sweep); networks for which no measured width suffices are drawn
    as hollow points above the widest width. ``dataset``: named in the subtitle (e.g.
    :func:`dataset_text` of the sweeps' rows)."""
    data = []
    for sweep, table in needed_by_sweep.items():
        for n in table:
            reached = n["bits"] is not None
            data.append({"sweep": sweep, "network": n["network"], "params": n["params"],
                         "bits": n["bits"] if reached else n["widest"] + 1,
                         "reached": "yes" if reached else f"no (not within {n['widest']} bits)",
                         "gap": _pct(n["gap"])})
    if not data:
        raise ValueError("no networks: no bits-needed chart")
    x = alt.X("params:Q", title="parameters (count, log scale)", scale=alt.Scale(type="log", nice=False, padding=10),
              axis=alt.Axis(format="~s"))
    y = alt.Y("bits:Q", title="fewest bits with the gap vanished",
              scale=alt.Scale(domain=[1.5, max(d["bits"] for d in data) + 0.5], nice=False),
              axis=alt.Axis(tickMinStep=1, format="d"))
    color = alt.Color("sweep:N", title="sweep", scale=alt.Scale(range=CATEGORY_COLORS), legend=alt.Legend(**_LEGEND_KW))
    tips = [alt.Tooltip("sweep:N"), alt.Tooltip("network:N"), alt.Tooltip("params:Q", title="parameters", format=","),
            alt.Tooltip("bits:Q", title="bits"), alt.Tooltip("reached:N", title="gap vanished"),
            alt.Tooltip("gap:Q", title="gap there (points)", format="+.2f")]
    base = alt.Chart(alt.Data(values=data)).encode(x=x, y=y, color=color)
    line = base.mark_line(interpolate="step-after", strokeWidth=1.5).transform_filter("datum.reached == 'yes'")
    points = base.mark_point(size=70, strokeWidth=2).encode(
        tooltip=tips, fill=alt.condition("datum.reached == 'yes'", "sweep:N", alt.value("white")),
        shape=alt.Shape("reached:N", title="gap vanished", legend=alt.Legend(**_LEGEND_KW)))
    return alt.layer(line, points).properties(width=width, height=height, title=_title(
        title, "How many bits a network needs, against its size",
        [*([dataset] if dataset else []), f"retrained gap to the float control {_vanished_text()}",
         "at this bit width and every wider one"]))


# -- the data sweep (claim 5) -----------------------------------------------------------------

def _examples_label(subset: int | None) -> str:
    return "all" if subset is None else f"{int(subset):,}"


def gap_by_data(
    rows: Sequence[Mapping[str, Any]],
    bits: Sequence[int] = (2, 3),
    baseline: str = "control",
    title: str | None = None,
    width: int = 250,
    height: int = 260,
) -> alt.FacetChart:
    """The retrained gap to float (points, mean ± standard error over seeds, against ``baseline``)
    against the number of parameters (log), one line per training-set size (colour, ``train_subset``
    of the rows; ``all``: the whole split), one panel per bit width of ``bits``; the y axis is
    symmetric-log as in :func:`gap_vs_params`."""
    return _gap_lines(rows, "train_subset", _examples_label, "training examples", bits, baseline,
                      title or "The gap to float against size, per training-set size",
                      "validation and test sets fixed; each training-set size gets the full split's optimizer steps",
                      width, height)


def gap_by_signals(
    rows: Sequence[Mapping[str, Any]],
    bits: Sequence[int] = (2, 3),
    title: str | None = None,
    width: int = 250,
    height: int = 260,
) -> alt.FacetChart:
    """As :func:`gap_by_data`, one line per word length of the hidden signals (``signal_bits``:
    2..8 bits or float), one panel per weight bit width of ``bits``: the gap of the retrained network
    with fixed-point weights and signals to the float control (float weights, float signals)."""
    return _gap_lines(rows, "signal_bits", signal_label, "hidden signals", bits, "control",
                      title or "The gap to float against size, per signal word length",
                      "signal steps calibrated on the float network, fixed while retraining", width, height)


def _gap_lines(rows: Sequence[Mapping[str, Any]], field: str, label: Callable[[Any], str], legend: str,
               bits: Sequence[int], baseline: str, title: str, note: str, width: int, height: int) -> alt.FacetChart:
    """Retrained gaps against size, one coloured line per value of the integer row ``field`` (named by
    ``label``; None last), one panel per bit width of ``bits``."""
    summ = [r for r in _gap_rows(rows, ["retrain"], baseline) if int(r["bits"]) in bits]
    if not summ:
        raise ValueError(f"rows hold no retrained results at {list(bits)} bits with a float counterpart")
    data = []
    for r, d in zip(summ, chart_rows(summ)):
        d["line"] = label(r.get(field))
        d["line_n"] = 10**9 if r.get(field) is None else r[field]
        data.append(d)
    order = list(dict.fromkeys(d["line"] for d in sorted(data, key=lambda d: d["line_n"])))
    x = alt.X("params:Q", title="parameters (count, log scale)", scale=alt.Scale(type="log", nice=False, padding=10),
              axis=alt.Axis(format="~s", grid=True))
    y_scale = _y_scale("symlog", "gap")
    y = alt.Y("gap:Q", title="gap to float (percentage points)", scale=y_scale,
              axis=alt.Axis(values=_symlog_ticks(data, "gap_lo", "gap_hi"), labelExpr="format(datum.value, '~g')"))
    color = alt.Color("line:O", title=legend, sort=order,
                      scale=alt.Scale(scheme="viridis", reverse=True), legend=alt.Legend(**_LEGEND_KW))
    tips = [alt.Tooltip("line:O", title=legend), *_tooltips("params", gap=True)]
    base = alt.Chart().encode(x=x, color=color)
    zero = alt.Chart().mark_rule(color="#888888", strokeDash=[3, 3]).encode(y=alt.datum(0))
    line = base.mark_line(strokeWidth=2).encode(y=y, detail="line:O")
    bars = base.mark_rule(strokeWidth=1.5).encode(y=alt.Y("gap_lo:Q", scale=y_scale), y2="gap_hi:Q")
    points = base.mark_point(filled=True, size=60).encode(y=y, tooltip=tips)
    sub = subtitle(rows, f"retrained test error minus that of the {BASELINE_TEXT[baseline]}, {GAP_SPREAD}", note)
    return alt.layer(zero, line, bars, points).properties(width=width, height=height).facet(
        data=alt.Data(values=data),
        column=alt.Column("precision:N", title=None, sort=[precision_label(b) for b in sorted(bits)],
                          header=alt.Header(labelFontSize=12, labelFontWeight="bold")),
        title=_title(None, title, sub))


# -- quantizer rules side by side (quantlab.analysis.maps.rule_table) --------------------------------------

RULE_MEASURES = {
    "weight_error": "L2 error of the directly quantized weights (% of their energy)",
    "direct_gap": "gap to float, directly quantized (points)",
    "gap": "gap to float, retrained (points)",
}


def rules_chart(table: Sequence[Mapping[str, Any]], title: str | None = None, width: int = 150,
                height: int = 220, dataset: str | None = None) -> alt.FacetChart:
    """Quantizer rules side by side (:func:`quantlab.analysis.maps.rule_table` rows): one panel per measure
    of :data:`RULE_MEASURES` against the number of parameters (log), one colour per rule, solid for
    the fixed and dashed for the adaptive step policy; retrained gaps with ± one standard error.
    ``dataset``: named in the subtitle (e.g. :func:`dataset_text` of the table's rows)."""
    data = []
    for t in table:
        for measure, label in RULE_MEASURES.items():
            value = t[measure]
            se = {"direct_gap": t["direct_gap_se"], "gap": t["gap_se"]}.get(measure)
            se = 0.0 if se is None or math.isnan(se) else _pct(se)
            if value is None or math.isnan(value):
                continue
            value = _pct(value)
            data.append({"panel": label, "network": t["network"], "params": t["params"], "rule": t["quantizer"],
                         "policy": t["step_policy"], "value": value, "lo": round(value - se, 4),
                         "hi": round(value + se, 4), "se": se, "seeds": t["seeds"],
                         "vs_l2": None if math.isnan(t["vs_l2"]) else _pct(t["vs_l2"])})
    if not data:
        raise ValueError("an empty rule table: nothing to draw")
    rules_seen = list(dict.fromkeys(d["rule"] for d in data))
    x = alt.X("params:Q", title="parameters (count, log scale)", scale=alt.Scale(type="log", nice=False, padding=10),
              axis=alt.Axis(format="~s", grid=True, tickCount=4))
    y = alt.Y("value:Q", title=None, scale=alt.Scale(type="symlog", constant=1, nice=False, padding=8))
    color = alt.Color("rule:N", title="quantizer rule", sort=rules_seen, scale=alt.Scale(range=CATEGORY_COLORS),
                      legend=alt.Legend(**_LEGEND_KW))
    dash = alt.StrokeDash("policy:N", title="step policy", sort=["fixed", "adaptive"],
                          scale=alt.Scale(domain=["fixed", "adaptive"], range=[[1, 0], [6, 3]]),
                          legend=alt.Legend(**_LEGEND_KW))
    tips = [alt.Tooltip("network:N"), alt.Tooltip("rule:N"), alt.Tooltip("policy:N", title="step policy"),
            alt.Tooltip("params:Q", title="parameters", format=","), alt.Tooltip("panel:N", title="measure"),
            alt.Tooltip("value:Q", format=".2f"), alt.Tooltip("se:Q", title="standard error", format=".2f"),
            alt.Tooltip("vs_l2:Q", title="retrained gap minus l2's (points)", format="+.2f"), alt.Tooltip("seeds:Q")]
    base = alt.Chart().encode(x=x, color=color)
    line = base.mark_line(strokeWidth=1.8).encode(y=y, strokeDash=dash, detail="policy:N")
    bars = base.mark_rule().encode(y=alt.Y("lo:Q", scale=alt.Scale(type="symlog", constant=1)), y2="hi:Q",
                                   detail="policy:N")
    points = base.mark_point(filled=True, size=45).encode(y=y, tooltip=tips)
    return alt.layer(line, bars, points).properties(width=width, height=height).facet(
        data=alt.Data(values=data),
        column=alt.Column("panel:N", title=None, sort=list(RULE_MEASURES.values()),
                          header=alt.Header(labelFontSize=11, labelFontWeight="bold", labelLimit=width + 20)),
        title=_title(title, "Quantizer rules side by side, ternary",
                     [*([dataset] if dataset else []),
                      "gaps against the float control; mean over seeds, bars ± one standard error; symmetric-log y"]),
    ).resolve_scale(y="independent")
