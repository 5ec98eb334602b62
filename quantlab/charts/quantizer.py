"""Charts of one layer's quantizer: the quantization error against the step, and the weight histogram
with the levels and thresholds."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import altair as alt
import numpy as np

from quantlab.charts.style import (
    _dash_channel, _LEGEND_KW, METHOD_COLORS, precision_label, precision_scales, _shape_channel, _sorted_bits,
    _title, WIDTH,
)


def quantizer_error_curve(
    curves: Mapping[int, Any],
    title: str | None = None,
    dataset: str | None = None,
    layer: str | None = None,
    width: int = WIDTH,
    height: int = 280,
) -> alt.LayerChart:
    """The relative L2 error of quantizing one layer's weights against the step ``D``, one curve per bit
    width of ``curves`` (``{bits: StepCurve}`` of :func:`quantlab.numerics.quantize.step_error_curves`; dash
    as elsewhere), with the L2-optimal step marked by a rule and a point (tooltips give the numbers)."""
    bits = _sorted_bits(curves)
    rows = []
    for b in bits:
        c = curves[b]
        points = [{"step": float(d), "error": float(e), "optimal": False} for d, e in zip(c.steps, c.errors)]
        points.append({"step": c.best_step, "error": c.best_error, "optimal": True})
        rows += [{"bits": b, **r, "precision": precision_label(b), "error_pct": round(100 * r["error"], 4)}
                 for r in sorted(points, key=lambda r: r["step"])]
    max_step = max(float(curves[b].steps[-1]) for b in bits)
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
