"""Charts of compression: the effective compression ratio, test error against weight memory (with the
Pareto front), and how N_F(e_Q) is read off the float envelope."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import altair as alt

from quantlab.analysis import rows as rowmod
from quantlab.charts.style import (
    _dash_channel, dataset_text, _decade_axis, _LEGEND_KW, METHOD_COLORS, METHOD_LABELS, PRECISION_DASH,
    precision_label, precision_scales, PRECISION_SHAPES, _seeds_text, series_label, series_scale, _shape_channel,
    SPREAD, subtitle, _title,
)


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
    float, directly quantized and retrained, one line per method and bit width, in the method's colour,
    lighter with more bits (:func:`~quantlab.charts.style.series_scale`; shapes as elsewhere). The
    Pareto front (the best network under each memory budget, :func:`quantlab.numerics.compression.pareto_front`)
    is the black step line; its networks are ringed. Tooltips give the exact numbers."""
    from quantlab.analysis import stats

    pts = stats.memory_points(rows)
    data = [{
        "network": rowmod.network_label(p), "method": METHOD_LABELS[p["method"]],
        "precision": precision_label(p["bits"]), "series": series_label(p["method"], p["bits"]),
        "params": p["params"], "memory_bits": p["weight_bits"], "memory_kib": round(p["weight_bits"] / 8192, 3),
        "error": round(100 * p["test_error"], 4), "error_std": round(100 * (p["test_error_std"] or 0.0), 4),
        "seeds": p["seeds"], "pareto": p["pareto"], "on_front": "yes" if p["pareto"] else "no",
    } for p in pts]
    front = sorted((d for d in data if d["pareto"]), key=lambda d: d["memory_bits"])
    hi_mem = max(d["memory_bits"] for d in data)
    step_rows = ([{**d, "order": i} for i, d in enumerate(front)]
                 + [{**front[-1], "memory_bits": hi_mem, "order": len(front)}])
    _, shape = precision_scales(sorted({p["bits"] for p in pts}))
    sel = alt.selection_point(name="mem_method", fields=["series"], bind="legend")
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
    color = alt.Color("series:N", scale=series_scale((p["method"], p["bits"]) for p in pts), title="method, weights",
                      legend=alt.Legend(labelLimit=220, symbolType="stroke", symbolStrokeWidth=3, **_LEGEND_KW))
    base = alt.Chart(alt.Data(values=data)).encode(x=x, y=y, color=color, opacity=opacity)
    lines = base.mark_line(strokeWidth=1.4).encode(order="memory_bits:Q")
    points = base.mark_point(filled=True, size=60).encode(
        shape=alt.Shape("precision:N", scale=shape, legend=None), tooltip=tips).add_params(sel)
    ring = alt.Chart(alt.Data(values=front)).mark_point(size=260, color="black", strokeWidth=1.5, filled=False).encode(
        x=x, y=y, tooltip=tips)
    step = alt.Chart(alt.Data(values=step_rows)).mark_line(color="black", strokeWidth=1.5,
                                                           interpolate="step-after").encode(x=x, y=y, order="order:Q")
    sub = subtitle(rows, "black step: Pareto front (best network under a memory budget), ringed networks on it")
    return alt.layer(step, lines, points, ring).properties(width=width, height=height, title=alt.TitleParams(
        text=title or "Test error against weight memory: which network under a memory budget", subtitle=sub,
        anchor="start"))


def ecr_envelope(
    rows: Sequence[Mapping[str, Any]],
    q: Mapping[str, Any],
    title: str | None = None,
    width: int = 480,
    height: int = 300,
) -> alt.LayerChart:
    """How N_F(e_Q), and with it the ECR, is read off the float sweep for one quantized network.

    Drawn: the float networks of ``rows`` (mean test error ± std over seeds against parameters, log
    x), the monotone **float envelope** that :func:`quantlab.numerics.compression.float_params_for_error`
    interpolates (log-linear between its points, a straight line on this log axis), the retrained
    network Q (``q``: its :func:`quantlab.analysis.stats.ecr_table` row, e.g. from
    :func:`~quantlab.analysis.stats.ecr_example`) at its own size and mean error e_Q, and the read-off: a
    dashed line at e_Q to the envelope and down to the axis at N_F(e_Q). The subtitle gives the ECR arithmetic.
    """
    from quantlab.analysis import stats
    from quantlab.numerics import compression

    bits = int(q["bits"])
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
