"""Charts of training: one network's learning curves, a sweep's retraining curves, and the gap against
the retraining budget."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import altair as alt
import numpy as np

from quantlab.charts.style import (
    BASELINE_TEXT, CATEGORY_COLORS, _dash_channel, dataset_text, _gap_rows, GAP_SPREAD, HEIGHT, _LEGEND_KW,
    METHOD_LABELS, method_scale, PANEL_WIDTH, _pct, precision_label, precision_scales, _seeds_text,
    _selections, _shape_channel, _title, WIDTH,
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
