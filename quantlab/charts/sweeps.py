"""Charts of size sweeps: test error and gap against parameters or depth, the front page's overview of
the sweeps, a bar chart of errors, and the gap lines per training-set size or signal width."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import altair as alt

from quantlab.charts.style import (
    BASELINE_TEXT, chart_rows, _decade_axis, _error_rows, FACET_HEIGHT, FACET_WIDTH, _gap_rows, GAP_SPREAD, HEIGHT,
    _LEGEND_KW, METHOD_LABELS, method_scale, precision_label, _size_x, SPREAD, subtitle,
    _sweep_layers, _symlog_ticks, _title, _tooltips, WIDTH, X_FIELDS, _Y_NOTE, _y_scale,
)
from quantlab.vocabulary import FLOAT_BITS, METHODS, signal_label


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
    summ = _error_rows(rows, methods)
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
    summ = _error_rows(rows, methods)
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
