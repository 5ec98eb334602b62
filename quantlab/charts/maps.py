"""Charts of the maps beyond the paper: the precision x size resiliency map, the fewest bits each
network needs, and the quantizer rules side by side."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import altair as alt

from quantlab.charts.style import (
    BASELINE_TEXT, CATEGORY_COLORS, _LEGEND_KW, METHOD_LABELS, _pct, subtitle, _title,
)
from quantlab.vocabulary import weight_label


def _vanished_text() -> str:
    from quantlab.analysis import inference, report

    return (f"upper one-sided {inference.CONFIDENCE:.0%} bound at most {report.VANISHED_GAP_PP:g} points")


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
                "bits": weight_label(c["bits"], "column"), "bits_n": c["bits"],
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
    bits = [weight_label(b, "column") for b in sorted({d["bits_n"] for d in data})]
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
