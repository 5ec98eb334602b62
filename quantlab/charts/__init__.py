"""The book's Altair charts, with one visual language throughout.

* One colour per method everywhere: float, direct quantization, retrained (:data:`METHOD_COLORS`:
  black, orange, blue), and those colours mean nothing else: other categories (quantizer rules, step
  policies, sweeps, seeds, bit widths in curve charts) take :data:`CATEGORY_COLORS`, which has neither;
  ordered quantities (signal widths, training-set sizes) a sequential scheme (viridis), and the gap on
  the resiliency maps a diverging one centred on zero.
* Precision (32-bit float, 2-bit ternary, 3- to 8-bit) by line dash and point shape (:data:`PRECISION_DASH`,
  :data:`PRECISION_SHAPES`), in one merged legend; where one chart holds many bit widths of a method (the
  memory charts) by shade too: the method's colour, darkest at the fewest bits (:func:`style.series_scale`).
* Interactive: tooltips with the exact numbers (errors in %, parameter counts with thousands
  separators); click a legend entry to highlight that method or precision (shift-click for more);
  drag to pan and scroll to zoom where the axes are numeric.
* One meaning of "±" per kind of quantity, said in every subtitle: a **test error** is drawn as
  mean ± one sample standard deviation over seeds (the spread of one training run, :data:`SPREAD`);
  a **gap** to float as mean ± its standard error over seeds (the uncertainty of the mean of the
  paired per-seed differences, :data:`GAP_SPREAD`), the same "±" as the verdicts of
  :mod:`quantlab.analysis.report`.

The sweep charts take :func:`quantlab.analysis.rows.tidy` rows and aggregate them with
:func:`quantlab.analysis.rows.summarise` (tables of networks: :mod:`quantlab.analysis.stats`); the others take
what the analysis computed (a quantizer's error curves, an ECR example, a rule table). Chart data is inlined
in the chart (``alt.Data(values=...)``), so no data frame library is needed. Altair is imported in this
package and nowhere else in quantlab.

One module per subject, each name re-exported here (``charts.gap_vs_params``):
:mod:`~quantlab.charts.style` (the colours, labels and helpers above), :mod:`~quantlab.charts.sweeps`,
:mod:`~quantlab.charts.training`, :mod:`~quantlab.charts.quantizer`, :mod:`~quantlab.charts.memory`,
:mod:`~quantlab.charts.maps`.
"""

from __future__ import annotations

from quantlab.charts.style import (
    METHOD_LABELS, METHOD_COLORS, CATEGORY_COLORS, PRECISION_DASH, PRECISION_SHAPES, WIDTH, HEIGHT, FACET_WIDTH,
    FACET_HEIGHT, PANEL_WIDTH, SPREAD, GAP_SPREAD, X_FIELDS, precision_label, method_scale, precision_scales,
    dataset_text, subtitle, chart_rows, BASELINE_TEXT,
)
from quantlab.charts.sweeps import (
    error_vs_params, gap_vs_params, error_vs_depth, gap_vs_depth, error_bars, gap_overview, gap_by_data,
    gap_by_signals,
)
from quantlab.charts.training import learning_curve, CURVE_FIELDS, retraining_curves, gap_vs_budget
from quantlab.charts.quantizer import quantizer_error_curve, weight_histogram
from quantlab.charts.memory import ecr_chart, memory_chart, ecr_envelope
from quantlab.charts.maps import resiliency_map, bits_needed_chart, RULE_MEASURES, rules_chart

__all__ = [
    "BASELINE_TEXT", "CATEGORY_COLORS", "CURVE_FIELDS", "FACET_HEIGHT", "FACET_WIDTH", "GAP_SPREAD", "HEIGHT",
    "METHOD_COLORS", "METHOD_LABELS", "PANEL_WIDTH", "PRECISION_DASH", "PRECISION_SHAPES", "RULE_MEASURES",
    "SPREAD", "WIDTH", "X_FIELDS", "bits_needed_chart", "chart_rows", "dataset_text", "ecr_chart",
    "ecr_envelope", "error_bars", "error_vs_depth", "error_vs_params", "gap_by_data", "gap_by_signals",
    "gap_overview", "gap_vs_budget", "gap_vs_depth", "gap_vs_params", "learning_curve", "memory_chart",
    "method_scale", "precision_label", "precision_scales", "quantizer_error_curve", "resiliency_map",
    "retraining_curves", "rules_chart", "subtitle", "weight_histogram",
]
