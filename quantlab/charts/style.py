"""The charts' one visual language (the rules: :mod:`quantlab.charts`): colours, dashes and shapes, labels,
subtitles, axes and tooltips, and the helpers that turn tidy rows into chart data, shared by every chart module."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import altair as alt

from quantlab.analysis import rows as rowmod
from quantlab.vocabulary import FLOAT_BITS, weight_label


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
    """A legend's name of a weight word length: :func:`quantlab.vocabulary.weight_label`'s ``legend`` form
    (``32-bit float``, ``2-bit (ternary)``, ``3-bit``)."""
    return weight_label(bits, "legend")


def method_scale(methods: Sequence[str]) -> alt.Scale:
    """The colour scale of ``methods`` (keys of :data:`METHOD_LABELS`), in book order."""
    methods = [m for m in METHOD_LABELS if m in methods]
    return alt.Scale(domain=[METHOD_LABELS[m] for m in methods], range=[METHOD_COLORS[m] for m in methods])


def shade(color: str, t: float) -> str:
    """``color`` (``#rrggbb``) mixed with white by ``t`` (0: the colour, 1: white)."""
    rgb = [int(color[i:i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(c + (255 - c) * t):02x}" for c in rgb)


def series_label(method: str, bits: int) -> str:
    """A chart series of one method at one bit width: ``float``, ``retrained, 2-bit (ternary)``, ..."""
    return METHOD_LABELS["float"] if method == "float" else f"{METHOD_LABELS[method]}, {precision_label(bits)}"


def series_scale(pairs: Iterable[tuple[str, int]]) -> alt.Scale:
    """The colour scale of (method, bits) series: each method's colour (:data:`METHOD_COLORS`), darkest at
    its fewest bits and lighter with more, so that many bit widths of one method stay apart and keep
    their method's hue."""
    pairs = sorted(set(pairs), key=lambda p: (list(METHOD_LABELS).index(p[0]), p[1]))
    domain, colors = [], []
    for method in METHOD_LABELS:
        bits = [b for m, b in pairs if m == method]
        for i, b in enumerate(bits):
            domain.append(series_label(method, b))
            colors.append(shade(METHOD_COLORS[method], 0.6 * i / (len(bits) - 1) if len(bits) > 1 else 0.0))
    return alt.Scale(domain=domain, range=colors)


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


def _summarise(rows: Sequence[Mapping[str, Any]], methods: Sequence[str]) -> list[rowmod.SummaryRow]:
    """:func:`quantlab.analysis.rows.summarise` of the tidy ``rows`` of ``methods``."""
    rows = [r for r in rowmod.check_rows(rows, purpose="to draw") if r["method"] in methods]
    if not rows:
        raise ValueError(f"no rows for methods {list(methods)}")
    return rowmod.summarise(rows)


BASELINE_TEXT = {"control": "float control", "float": "float network"}
"""How chart subtitles name a gap's baseline (the float control: the float network trained on for the
retraining's epochs, defined in the chapters)."""


def _error_rows(rows: Sequence[Mapping[str, Any]], methods: Sequence[str]) -> list[dict]:
    """The flat summary rows (:meth:`~quantlab.analysis.rows.SummaryRow.as_dict`) of ``methods``."""
    return [r.as_dict() for r in _summarise(rows, methods)]


def _gap_rows(rows: Sequence[Mapping[str, Any]], methods: Sequence[str], baseline: str) -> list[dict]:
    """Flat quantized summary rows whose ``gap``, ``gap_std`` and ``gap_se`` are against ``baseline``
    ("control" | "float"); rows without that gap are left out."""
    methods = [m for m in methods if m != "float"]
    out = []
    for r in _summarise(rows, ["float", *methods]):
        g = r.gap(baseline)
        if r.method != "float" and g is not None:
            out.append({**r.as_dict(), "gap": g.mean, "gap_std": g.std, "gap_se": g.se})
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
