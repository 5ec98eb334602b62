"""Computed verdicts for the paper's claims (Sung, Shin & Hwang 2015, arXiv 1511.06488).

Each claim is data (:data:`CLAIMS`: its words, what this book measures for it, which sweeps test
it) plus a function from tidy result rows to a :class:`Finding`: the evidence (numbers) and a
verdict in :data:`VERDICTS`. Verdicts follow from the rows and the thresholds below only; nothing is
written by hand. The thresholds are module constants, each justified where it is defined.

Conventions:

* **Gap**: the retrained quantized network's test error minus the float baseline's
  (:func:`quantlab.analysis.stats.gaps`), a **fraction** like every error in the library; the thresholds
  below are in **percentage points** (pp), as the book states them, and each comparison converts the
  gap to pp (:func:`_pp`). The baseline of the verdicts is the *float control*
  (:data:`BASELINE`): the float network trained on for the same epochs, with the same schedule, as
  the retraining, so that both sides of a gap had the same training budget (retraining from a float
  network is also extra training; against the float network alone, a retrained network gets credit
  for those extra epochs). :func:`quantlab.analysis.stats.gaps` gives the gap against the float network too.
  The gap is paired per seed: each seed's quantized network is retrained from
  that seed's float network, so the per-seed differences carry the seed noise of the gap itself.
  ``gap`` is their mean; ``gap_std`` their sample standard deviation; ``gap_se = gap_std / sqrt(n)``
  the standard error of the mean gap over ``n`` seeds.
* **Size** is the parameter count (all parameters): the smallest / largest network of a sweep is
  the one with the fewest / most parameters, whatever the sweep varies (width, depth, feature maps).
* Rows are tidy rows (``quantlab.analysis.rows.tidy``): one dict per (trial, seed, method, bits) with at
  least ``params, weights, seed, method, bits, test_error`` (errors as fractions).

Statistics are :mod:`quantlab.analysis.stats`'s; this module holds the thresholds, the claims and the
verdicts, and turns findings into glue text (:func:`glue_items`) and verdict lines.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from quantlab.analysis import inference, stats
from quantlab.analysis.rows import check_rows, network_label
from quantlab.formatting import and_list, glue_key, glue_text, pp
from quantlab.vocabulary import signal_label

VERDICTS = ("reproduced", "partly reproduced", "not reproduced", "inconclusive")
REPRODUCED, PARTLY, NOT_REPRODUCED, INCONCLUSIVE = VERDICTS
VERDICT_MARKS = {REPRODUCED: "\u2713", PARTLY: "\u25d0", NOT_REPRODUCED: "\u2717", INCONCLUSIVE: "?"}
"""One character per verdict, for tables too narrow for the words (:func:`sensitivity_display`)."""

SWEEPS = ("ffdnn-width", "ffdnn-depth", "cnn-maps")
"""The reference sweeps (``quantlab/experiments/specs``) whose committed records the report reads."""

SWEEP_TITLES = {"ffdnn-width": "FFDNN width", "ffdnn-depth": "FFDNN depth", "cnn-maps": "CNN feature maps",
                "budget-ffdnn": "FFDNN retraining budgets", "budget-cnn": "CNN retraining budgets",
                "precision-ffdnn": "FFDNN precision map", "precision-cnn": "CNN precision map",
                "data-ffdnn": "FFDNN training-set sizes", "data-cnn": "CNN training-set sizes"}
"""Display names of the reference sweeps (tables, verdict lines, chart panels)."""


def sweep_title(sweep: str | None) -> str:
    """The display name of a sweep (:data:`SWEEP_TITLES`; the spec name itself for others)."""
    return SWEEP_TITLES.get(sweep or "", sweep or "rows")

TERNARY = 2

BASELINE = "control"
"""The float baseline of every verdict: the float control (same total training budget as the
retrained network). ``"float"`` is the float network before the extra epochs (the paper's baseline;
:data:`quantlab.analysis.rows.BASELINES`)."""

# -- thresholds ------------------------------------------------------------------------------

MIN_SMALL_GAP_PP = 1.0
"""Claim 1: a gap "exists" when the lower one-sided confidence bound of the smallest network's paired
ternary gap is at least 1 pp (:func:`quantlab.analysis.inference.exceeds`).

One percentage point is a difference of 100 test images out of Fashion-MNIST's 10,000, an order of
magnitude above the binomial noise of a single error estimate near 10-20 % error (~0.35 pp), and a
difference a practitioner would not dismiss.
"""

VANISHED_GAP_PP = 0.5
"""Claims 2 and 5 and the maps: a gap has "almost vanished" when the upper one-sided confidence bound of
the paired gap is at most 0.5 pp (an equivalence test, :func:`quantlab.analysis.inference.within`): the
seeds must show that it is small; a noisy gap is inconclusive, never vanished.

Half a point is 50 test images out of 10,000, a few times the seed-to-seed standard deviation of
the large float networks themselves (0.1-0.3 pp here), i.e. not far from what separates two float
trainings of the same network.
"""

MIN_SIZES = 3
"""Claim 3 needs at least 3 sizes for a rank correlation to say anything."""

BUDGET_WIN_SHARE = 0.5
"""Claim 4: the ECR guides the size-vs-precision choice when the network it picks under a memory budget
is the one measured best (lowest mean test error among all networks that fit) on *most* budgets: more
than half of the budget range, measured on a log memory axis
(:func:`quantlab.analysis.stats.ecr_guidance`)."""


@dataclasses.dataclass(frozen=True)
class Thresholds:
    """The numbers every verdict depends on: ``min_gap_pp`` (claim 1, :data:`MIN_SMALL_GAP_PP`),
    ``margin_pp`` (claims 2 and 5, :data:`VANISHED_GAP_PP`), ``confidence`` (of every one-sided bound and,
    as ``1 - confidence``, the error rate of claim 3's rank tests; :data:`quantlab.analysis.inference.CONFIDENCE`)
    and ``share`` (claim 4, :data:`BUDGET_WIN_SHARE`). :func:`sensitivity` varies the margin and the
    confidence."""

    min_gap_pp: float = MIN_SMALL_GAP_PP
    margin_pp: float = VANISHED_GAP_PP
    confidence: float = inference.CONFIDENCE
    share: float = BUDGET_WIN_SHARE


DEFAULT = Thresholds()

SENSITIVITY_MARGINS_PP = (0.25, 0.5, 1.0)
SENSITIVITY_CONFIDENCES = (0.8, 0.9, 0.95)
"""The grid of :func:`sensitivity`: every verdict under each margin (pp) and confidence."""


DATA_SWEEPS = ("data-ffdnn", "data-cnn")
"""The sweeps over the training-set size that test claim 5 (the paper's data-limited explanation); on
them claim 2 is judged with the fewest training examples, where the networks are most data-limited
(data-cnn exists for that: no CNN of cnn-maps is data-limited on the whole split)."""


# -- claims as data --------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Claim:
    """One claim of the paper: ``number`` (1-5; 5 is its explanation, as a prediction), ``short``
    title, ``text`` (the paper's claim, in the book's summary of it), ``measure`` (what this book
    computes to test it), ``sweeps`` (which reference
    sweeps test it), ``check`` (tidy rows -> :class:`Finding`) and ``plain``: the claim in plain
    words, for a reader who knows no jargon (the front page's first lines, :func:`plain_lines`)."""

    number: int
    short: str
    text: str
    measure: str
    sweeps: tuple[str, ...]
    check: Callable[[Sequence[Mapping[str, Any]], "Thresholds"], "Finding"]
    plain: str = ""


@dataclasses.dataclass
class Finding:
    """The verdict on one claim for one sweep: ``verdict`` (one of :data:`VERDICTS`), ``evidence``
    (named numbers; errors and gaps as fractions, :data:`FRACTION_EVIDENCE`; sizes in parameters,
    ratios plain), ``summary`` (one sentence built from the evidence, gaps in pp) and ``reason``
    (which thresholds decided)."""

    claim: int
    verdict: str
    evidence: dict
    summary: str
    reason: str
    sweep: str | None = None

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}; got {self.verdict!r}")


# -- helpers ---------------------------------------------------------------------------------

def _check(rows: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return check_rows(rows, purpose="to judge")


def _pp(fraction: float) -> float:
    """A fraction in percentage points, for the comparisons with the thresholds."""
    return 100 * fraction


def _gaps(rows: Sequence[Mapping[str, Any]], bits: int) -> list[dict]:
    return stats.gaps(rows, bits, baseline=BASELINE)


def _se_pp(g: Mapping[str, Any]) -> float | None:
    return None if g["gap_se"] is None else _pp(g["gap_se"])


def gap_exists(g: Mapping[str, Any], t: Thresholds = DEFAULT) -> str:
    """Claim 1's test on a :func:`quantlab.analysis.stats.gaps` entry: is the paired gap at least
    ``t.min_gap_pp``? An outcome of :data:`quantlab.analysis.inference.OUTCOMES`."""
    return inference.exceeds(_pp(g["gap"]), _se_pp(g), g["seeds"], t.min_gap_pp, t.confidence)


def gap_vanished(g: Mapping[str, Any], t: Thresholds = DEFAULT) -> str:
    """The equivalence test of claims 2 and 5 and of the maps on a :func:`quantlab.analysis.stats.gaps`
    entry: is the paired gap at most ``t.margin_pp``? ``"yes"`` only when its upper one-sided bound is."""
    return inference.within(_pp(g["gap"]), _se_pp(g), g["seeds"], t.margin_pp, t.confidence)


def _bound_text(g: Mapping[str, Any], t: Thresholds) -> str:
    lo, hi = inference.bounds(_pp(g["gap"]), _se_pp(g), g["seeds"], t.confidence)
    return f"one-sided {t.confidence:.0%} bounds {lo:+.2f} / {hi:+.2f} pp"


def _needed(g: Mapping[str, Any], threshold_pp: float, t: Thresholds) -> int | None:
    std = None if g["gap_std"] is None else _pp(g["gap_std"])
    return inference.seeds_needed(_pp(g["gap"]), std, threshold_pp, t.confidence)


def _needed_text(n: int | None) -> str:
    return ("; no number of seeds would settle it at this spread" if n is None
            else f"; about {n} seeds would settle it at the observed spread")


def _fmt_gap(g: dict) -> str:
    se = "" if g["gap_se"] is None else f" ± {pp(g['gap_se'], sign=False)} SE"
    return f"{pp(g['gap'])} pp{se} ({g['seeds']} seeds) at {g['network']} ({g['params']:,} params)"


def _gap_evidence(g: dict, prefix: str) -> dict:
    keys = ("network", "params", "seeds", "float_error", "quantized_error", "gap", "gap_std", "gap_se")
    return {f"{prefix}_{k}": g[k] for k in keys}


_OUTCOME_VERDICT = {inference.YES: REPRODUCED, inference.NO: NOT_REPRODUCED, inference.INCONCLUSIVE: INCONCLUSIVE}


# -- the checks --------------------------------------------------------------------------------

def claim1(rows: Sequence[Mapping[str, Any]], t: Thresholds = DEFAULT) -> Finding:
    """Claim 1: a gap exists between float and retrained ternary networks when the network is small.

    Evidence: the paired ternary gap at the sweep's smallest network. Test (:func:`gap_exists`):
    reproduced if its lower one-sided ``t.confidence`` bound is at least ``t.min_gap_pp``; not
    reproduced if its upper bound is below; inconclusive otherwise (with the seeds it would need).
    """
    g = _gaps(rows, TERNARY)[0]
    outcome = gap_exists(g, t)
    verdict = _OUTCOME_VERDICT[outcome]
    needed = _needed(g, t.min_gap_pp, t) if verdict == INCONCLUSIVE else None
    reason = f"gap >= {t.min_gap_pp:g} pp? {_bound_text(g, t)}" + (
        _needed_text(needed) if verdict == INCONCLUSIVE else "")
    return Finding(1, verdict, {**_gap_evidence(g, "small"), "seeds_needed": needed},
                   f"ternary gap {_fmt_gap(g)}", reason)


def claim2(rows: Sequence[Mapping[str, Any]], t: Thresholds = DEFAULT) -> Finding:
    """Claim 2: the gap almost vanishes in large networks.

    Evidence: the paired ternary gap at the sweep's largest network (and, described beside the verdict,
    how far it shrank from the smallest); on a data sweep, with the fewest training examples (the most
    data-limited networks). Test (:func:`gap_vanished`, an equivalence test): reproduced if its upper
    one-sided ``t.confidence`` bound is at most ``t.margin_pp``; not reproduced if its lower bound is
    above; inconclusive otherwise (with the seeds it would need).
    """
    subsets = _by_subset(_check(rows))
    fewest = next(iter(subsets))
    gs = _gaps(subsets[fewest], TERNARY)
    small, large = gs[0], gs[-1]
    verdict = _OUTCOME_VERDICT[gap_vanished(large, t)]
    needed = _needed(large, t.margin_pp, t) if verdict == INCONCLUSIVE else None
    ratio = large["gap"] / small["gap"] if small["gap"] > 0 else float("nan")
    reason = f"gap <= {t.margin_pp:g} pp? {_bound_text(large, t)}" + (
        _needed_text(needed) if verdict == INCONCLUSIVE else "")
    ev = {**_gap_evidence(large, "large"), **_gap_evidence(small, "small"), "shrink_ratio": ratio,
          "seeds_needed": needed, "train_subset": fewest}
    data = "" if fewest is None else f" trained on {fewest:,} examples"
    return Finding(2, verdict, ev, f"ternary gap {_fmt_gap(large)}{data}", reason)


def _trend_groups(rows: Sequence[Mapping[str, Any]]) -> dict[int | None, list[Mapping[str, Any]]]:
    """Claim 3's groups: per width when the rows vary depth at several widths (depth judged at a fixed
    width), else one group (size judged by parameter count)."""
    widths = {r.get("width") for r in rows}
    depths = {r.get("depth") for r in rows}
    if None in widths or len(widths) < 2 or len(depths) < 2:
        return {None: list(rows)}
    return {w: [r for r in rows if r.get("width") == w] for w in sorted(widths)}


def claim3(rows: Sequence[Mapping[str, Any]], t: Thresholds = DEFAULT) -> Finding:
    """Claim 3: the gap decreases with network complexity (large networks absorb severe quantization
    through retraining; connection-limited ones are less resilient), at every quantized bit width.

    Test: per bit width, and on a sweep of depths at several widths per width (depth at a fixed width),
    Spearman's rank correlation of the per-seed gaps with the size (parameter count, or depth) and its
    one-sided p-values (:func:`quantlab.analysis.inference.rank_trend`, error rate ``1 - t.confidence``).
    Reproduced if every cell decreases significantly; not reproduced if none does and some increase;
    inconclusive if no cell is significant either way; partly reproduced otherwise.
    """
    rows = _check(rows)
    bits = sorted({int(r["bits"]) for r in rows if r["method"] == "retrain"})
    if not bits:
        raise ValueError("rows hold no retrained results (method 'retrain'): claim 3 cannot be judged")
    cells = []
    for width, group in _trend_groups(rows).items():
        depth_of = {int(r["params"]): r.get("depth") for r in group}
        for b in bits:
            gs = _gaps(group, b)
            if len(gs) < MIN_SIZES:
                raise ValueError(f"claim 3 needs at least {MIN_SIZES} sizes with {b}-bit results; got {len(gs)}")
            x = [depth_of[g["params"]] if width is not None else g["params"] for g in gs for _ in g["seed_gaps"]]
            y = [gap for g in gs for gap in g["seed_gaps"].values()]
            trend = inference.rank_trend(x, y, t.confidence)
            cells.append({"width": width, "bits": b, "sizes": len(gs), "gaps": [g["gap"] for g in gs],
                          "params": [g["params"] for g in gs], **trend})
    outcomes = [c["outcome"] for c in cells]
    if all(o == "decreasing" for o in outcomes):
        verdict = REPRODUCED
    elif "decreasing" not in outcomes:
        verdict = NOT_REPRODUCED if "increasing" in outcomes else INCONCLUSIVE
    else:
        verdict = PARTLY
    by = "depth" if cells[0]["width"] is not None else "size"
    names = [f"{c['bits']} bits" + ("" if c["width"] is None else f" at {c['width']} units") for c in cells]
    summary = f"Spearman rho(per-seed gap, {by}): " + "; ".join(
        f"{n} {c['rho']:+.2f}" for n, c in zip(names, cells))
    reason = "; ".join(f"{n}: {c['outcome']} (p = {min(c['p_decreasing'], c['p_increasing']):.3f})"
                       for n, c in zip(names, cells)) + f"; error rate {1 - t.confidence:.0%} per test"
    ev = {"bits": bits, "by": by, "cells": cells, "params": cells[0]["params"]}
    for c in cells:
        if c["width"] is None:
            ev[f"rho_{c['bits']}"], ev[f"gaps_{c['bits']}"], ev[f"sizes_{c['bits']}"] = c["rho"], c["gaps"], c["sizes"]
    return Finding(3, verdict, ev, summary, reason)


def claim4(rows: Sequence[Mapping[str, Any]], t: Thresholds = DEFAULT) -> Finding:
    """Claim 4: the effective compression ratio guides the size-vs-precision trade-off under a
    memory limit.

    Test (:func:`quantlab.analysis.stats.ecr_guidance`): under each memory budget, the network the ECR
    picks (the largest float-equivalent memory, from validation errors) is compared with the network
    measured best on the test set. Reproduced if they agree on more than ``t.share`` of the budget range
    (log memory axis), not reproduced otherwise. Beside the verdict, as findings that do not decide it:
    how often the naive ratio's pick (the most weights that fit) is the best, and the largest network's
    ternary ECR against the naive 16x.
    """
    rows = _check(rows)
    table = stats.ecr_table(rows)
    tern = [e for e in table if e["bits"] == TERNARY]
    if not tern:
        raise ValueError("rows hold no retrained ternary results: claim 4 cannot be judged")
    largest = max(tern, key=lambda e: e["params"])
    guide = stats.ecr_guidance(rows)
    ok = not math.isnan(guide["ecr_share"]) and guide["ecr_share"] > t.share
    verdict = REPRODUCED if ok else NOT_REPRODUCED
    ev = {
        "ecr_label": network_label(largest), "ecr_params": largest["params"], "ecr": largest["ecr"],
        "ecr_relation": largest["relation"], "ecr_text": largest["ecr_text"], "naive": largest["naive"],
        "ecr_float_params": largest["float_params"], "ecr_error": largest["test_error"],
        "ecr_share": guide["ecr_share"], "naive_share": guide["naive_share"],
        "budget_lo_bits": guide["lo_bits"], "budget_hi_bits": guide["hi_bits"],
        "ecr_values": [e["ecr"] for e in tern], "ecr_params_all": [e["params"] for e in tern],
    }
    summary = (f"the ECR picks the measured best network on {100 * guide['ecr_share']:.0f} % of the memory-budget "
               f"range, the naive ratio on {100 * guide['naive_share']:.0f} %; ternary ECR {largest['ecr_text']} "
               f"(naive {largest['naive']:g}) at {network_label(largest)}")
    reason = f"ECR's pick is the best on {'more' if ok else 'not more'} than {t.share:.0%} of the budgets"
    return Finding(4, verdict, ev, summary, reason)


def vanishing_size(rows: Sequence[Mapping[str, Any]], bits: int = TERNARY, t: Thresholds = DEFAULT) -> dict | None:
    """The smallest network of ``rows`` (one training set) from which on every larger network's
    retrained ``bits``-bit gap has vanished (:func:`gap_vanished` says "yes"): its
    :func:`quantlab.analysis.stats.gaps` entry, or None when the largest network's gap has not."""
    found = None
    for g in reversed(_gaps(rows, bits)):
        if gap_vanished(g, t) != inference.YES:
            break
        found = g
    return found


def _by(rows: Sequence[Mapping[str, Any]], field: str) -> dict[int | None, list[Mapping[str, Any]]]:
    """Rows per value of an integer ``field``, smallest first, None (the whole split, float signals) last."""
    out: dict[int | None, list[Mapping[str, Any]]] = {}
    for r in rows:
        out.setdefault(r.get(field), []).append(r)
    return dict(sorted(out.items(), key=lambda kv: math.inf if kv[0] is None else kv[0]))


def _by_subset(rows: Sequence[Mapping[str, Any]]) -> dict[int | None, list[Mapping[str, Any]]]:
    """Rows per training-set size, smallest first, the whole split (None) last."""
    return _by(rows, "train_subset")


def by_signals(rows: Sequence[Mapping[str, Any]]) -> dict[int | None, list[Mapping[str, Any]]]:
    """Rows per word length of the hidden signals (``signal_bits``), narrowest first, float (None) last."""
    return _by(rows, "signal_bits")


def claim5(rows: Sequence[Mapping[str, Any]], t: Thresholds = DEFAULT) -> Finding:
    """Claim 5 (the paper's explanation, as predicted before its sweep ran): with less training data,
    networks become data-limited at smaller sizes, so the retrained ternary gap vanishes at a smaller
    network, and the smallest network's gap does not grow.

    Evidence: per training-set size, the vanishing size (:func:`vanishing_size`; infinite when no network
    of the sweep reaches it), and the smallest network's gap with the fewest examples against the whole
    split. Verdict: reproduced if the vanishing size with the fewest examples is smaller than with the
    whole split, never grows as the data shrinks, and the smallest network's gap is not larger beyond
    seed noise (:func:`quantlab.analysis.inference.differs`); inconclusive if no training-set size has a
    vanishing size at all; not reproduced otherwise (a non-monotone vanishing size or a growing
    small-network gap is evidence against the prediction).
    """
    subsets = _by_subset(_check(rows))
    if len(subsets) < 2:
        raise ValueError("claim 5 needs rows of at least two training-set sizes (train_subset)")
    sizes = {}
    for n, rs in subsets.items():
        v = vanishing_size(rs, TERNARY, t)
        sizes[n] = math.inf if v is None else v["params"]
    order = list(subsets)
    few, full = order[0], order[-1]
    smaller = sizes[few] < sizes[full]
    monotone = all(sizes[a] <= sizes[b] for a, b in zip(order, order[1:]))
    g_few, g_full = _gaps(subsets[few], TERNARY)[0], _gaps(subsets[full], TERNARY)[0]
    diff = _pp(g_few["gap"] - g_full["gap"])
    se = _pp(math.hypot(*(g["gap_se"] or 0.0 for g in (g_few, g_full))))
    grows = diff > 0 and inference.differs(diff, se, min(g_few["seeds"], g_full["seeds"]), t.confidence)
    if all(math.isinf(v) for v in sizes.values()):
        verdict = INCONCLUSIVE
    else:
        verdict = REPRODUCED if smaller and monotone and not grows else NOT_REPRODUCED
    name = {n: "all" if n is None else f"{n:,}" for n in order}
    label = {n: next((network_label(r) for r in subsets[n] if int(r["params"]) == sizes[n]), "none")
             for n in order}
    ev = {"subsets": [None if n is None else int(n) for n in order],
          "vanishing_params": [sizes[n] for n in order], "vanishing_labels": [label[n] for n in order],
          "smaller_with_less_data": smaller, "monotone": monotone,
          "small_network": g_full["network"], "small_gap_few": g_few["gap"], "small_gap_full": g_full["gap"],
          "small_gap_grows": grows}
    summary = ("gap vanishes from " + "; ".join(f"{label[n]} with {name[n]} examples" for n in order)
               + f"; smallest network's gap {pp(g_few['gap'])} pp ({name[few]}) vs {pp(g_full['gap'])} pp (all)")
    reason = (f"vanishing size {'smaller' if smaller else 'not smaller'} with the fewest examples; "
              f"{'monotone' if monotone else 'not monotone'} in the data size; smallest network's gap "
              f"{'larger beyond seed noise' if grows else 'not larger beyond seed noise'} with the fewest examples")
    return Finding(5, verdict, ev, summary, reason)


CLAIMS: tuple[Claim, ...] = (
    Claim(1, "Gap in small networks",
          "A performance gap exists between float and retrain-based ternary networks when the network "
          "is small (complexity / connection limited).",
          "retrained-ternary minus float test error at the sweep's smallest network",
          SWEEPS, claim1,
          "Small networks keep a loss after retraining"),
    Claim(2, "Gap vanishes in large networks",
          "The gap almost vanishes in large networks, whose capability is limited by the training data "
          "rather than by the number of connections.",
          "retrained-ternary minus float test error at the sweep's largest network (on a data sweep, with "
          "the fewest training examples)",
          (*SWEEPS, "data-cnn"), claim2,
          "Large networks lose almost none"),
    Claim(3, "Resiliency grows with complexity",
          "Highly complex DNNs absorb severe weight quantization through retraining; connection-limited "
          "networks are less resilient.",
          "rank correlation between parameter count and retrained gap, ternary and 3-bit",
          SWEEPS, claim3,
          "The larger the network, the less it loses"),
    Claim(4, "ECR guides size vs precision",
          "An effective compression ratio (ECR) guides the trade-off between network size and precision "
          "when hardware memory is limited.",
          "ternary ECR of the largest network vs the naive 16x; share of memory budgets where the best "
          "quantized network beats the best float one",
          ("ffdnn-width", "cnn-maps"), claim4,
          "The paper's compression ratio picks the best network for a memory size"),
    Claim(5, "Less data, smaller networks suffice",
          "(The paper's explanation, as a prediction.) A network whose capability is limited by its "
          "training data absorbs quantization; with less data, networks become data-limited at smaller "
          "sizes, so the gap should vanish at a smaller network.",
          "per training-set size, the smallest network from which on the retrained-ternary gap has "
          "vanished (claim 2's rule)",
          DATA_SWEEPS, claim5,
          "With less data, smaller networks already lose almost none (the paper's explanation)"),
)
"""The paper's four claims (as the book's report chapter states them) and its explanation as a fifth.
Claim 4 is judged on the width and feature-map sweeps, whose float networks form one size curve; the
depth sweep mixes three widths. Claim 5 is this book's test, stated before its sweep ran, on the data
sweep."""

CLAIM_SWEEPS = tuple(dict.fromkeys(s for c in CLAIMS for s in c.sweeps))
"""Every sweep some claim is judged on, in claim order."""


# -- assessing -------------------------------------------------------------------

def assess(rows_by_sweep: Mapping[str, Sequence[Mapping[str, Any]]], t: Thresholds = DEFAULT) -> list[Finding]:
    """Every claim on every sweep of ``rows_by_sweep`` that tests it, in claim then sweep order."""
    out = []
    for claim in CLAIMS:
        for sweep in claim.sweeps:
            if sweep in rows_by_sweep:
                f = claim.check(rows_by_sweep[sweep], t)
                f.sweep = sweep
                out.append(f)
    return out


def overall(findings: Sequence[Finding], claim: int) -> str:
    """One verdict for a claim over its sweeps: reproduced / inconclusive if every sweep says so; not
    reproduced if some sweep does and none reproduces it (fully or partly); partly reproduced otherwise."""
    vs = {f.verdict for f in findings if f.claim == claim}
    if not vs:
        raise ValueError(f"no findings for claim {claim}")
    if len(vs) == 1:
        return vs.pop()
    if NOT_REPRODUCED in vs and not vs & {REPRODUCED, PARTLY}:
        return NOT_REPRODUCED
    return PARTLY


SIGNAL_SWEEPS = ("signals-ffdnn", "signals-cnn")
"""The sweeps over the word length of the hidden signals (fixed-point signals, the Signals chapter): on
them the size claim is judged per signal width (:func:`signal_verdicts`)."""


def size_claim(claim1_finding: Finding, claim2_finding: Finding) -> str:
    """The paper's size claim, claims 1 and 2 together (a gap at the smallest network that almost
    vanishes at the largest): reproduced when both are, not reproduced when either is not, inconclusive
    otherwise."""
    both = (claim1_finding.verdict, claim2_finding.verdict)
    if both == (REPRODUCED, REPRODUCED):
        return REPRODUCED
    return NOT_REPRODUCED if NOT_REPRODUCED in both else INCONCLUSIVE


def signal_verdicts(rows: Sequence[Mapping[str, Any]], t: Thresholds = DEFAULT) -> list[dict]:
    """The size claim at each word length of the hidden signals in ``rows`` (a signals sweep), by the
    rules of claims 1 and 2 on that width's ternary gaps to the float control (float weights, float
    signals): per width, narrowest first and float last, ``signal_bits`` (None: float), ``claim1``,
    ``claim2`` (:class:`Finding`) and ``verdict`` (:func:`size_claim`)."""
    out = []
    for signal_bits, group in by_signals(_check(rows)).items():
        c1, c2 = claim1(group, t), claim2(group, t)
        out.append({"signal_bits": signal_bits, "claim1": c1, "claim2": c2, "verdict": size_claim(c1, c2)})
    return out


def signal_verdict_text(verdicts: Sequence[Mapping[str, Any]]) -> str:
    """One phrase per signal width of :func:`signal_verdicts`, e.g. ``"float signals: reproduced;
    3-bit: inconclusive"``; the 2014 design's 3-bit signals named as such."""
    parts = []
    for v in verdicts:
        name = f"{signal_label(v['signal_bits'])} signals"
        if v["signal_bits"] == DESIGN_2014_SIGNAL_BITS:
            name += " (the 2014 design)"
        parts.append(f"{name}: {v['verdict']}")
    return "; ".join(parts)


def signal_claims_text(verdicts: Sequence[Mapping[str, Any]]) -> str:
    """Two sentences on :func:`signal_verdicts`: at which signal widths claim 1 and claim 2 are
    reproduced, not reproduced or inconclusive (with the seeds an inconclusive one would need)."""
    out = []
    for claim, what in ((1, "a gap at the smallest network"), (2, "the gap almost vanishes at the largest")):
        by_verdict: dict[str, list[str]] = {}
        for v in verdicts:
            f = v[f"claim{claim}"]
            name = signal_label(v["signal_bits"])
            if f.verdict == INCONCLUSIVE and f.evidence.get("seeds_needed"):
                name += f" (about {f.evidence['seeds_needed']} seeds would settle it)"
            by_verdict.setdefault(f.verdict, []).append(name)
        if len(by_verdict) == 1:
            (verdict,) = by_verdict
            where = "at any signal width" if verdict == NOT_REPRODUCED else "at every signal width"
            out.append(f"Claim {claim} ({what}) is {verdict} {where}.")
        else:
            parts = [f"{verdict} with {', '.join(names)} signals" for verdict, names in by_verdict.items()]
            out.append(f"Claim {claim} ({what}): " + "; ".join(parts) + ".")
    return " ".join(out)


def signal_display(verdicts: Sequence[Mapping[str, Any]]) -> tuple[list[dict], dict[str, str]]:
    """:func:`signal_verdicts` as ``(rows, columns)`` for :func:`quantlab.formatting.html_table`: per
    signal width the smallest network's ternary gap and claim 1's verdict, the largest network's gap
    with its upper one-sided bound (in brackets) and claim 2's verdict, and the size claim's verdict."""
    rows = []
    for v in verdicts:
        small, large = v["claim1"].evidence, v["claim2"].evidence
        hi = inference.bounds(_pp(large["large_gap"]), _se_pp({"gap_se": large["large_gap_se"]}), large["large_seeds"],
                              DEFAULT.confidence)[1]
        rows.append({"signals": signal_label(v["signal_bits"]),
                     "small": f"{pp(small['small_gap'])} ± {pp(small['small_gap_se'], sign=False)}",
                     "claim1": v["claim1"].verdict,
                     "large": f"{pp(large['large_gap'])} ± {pp(large['large_gap_se'], sign=False)} (≤ {hi:+.2f})",
                     "claim2": v["claim2"].verdict, "verdict": v["verdict"]})
    columns = {"signals": "hidden signals", "small": "gap, smallest (pp)", "claim1": "claim 1",
               "large": f"gap, largest (pp; upper {DEFAULT.confidence:.0%} bound)", "claim2": "claim 2",
               "verdict": "size claim"}
    return rows, columns


DESIGN_2014_SIGNAL_BITS = 3
"""Hwang & Sung (2014), the method the paper builds on: ternary weights and 3-bit signals."""


def sensitivity(rows_by_sweep: Mapping[str, Sequence[Mapping[str, Any]]],
                margins_pp: Sequence[float] = SENSITIVITY_MARGINS_PP,
                confidences: Sequence[float] = SENSITIVITY_CONFIDENCES) -> list[dict]:
    """Every verdict under a grid of thresholds: one dict per (claim, sweep) with ``claim, sweep`` and,
    per margin m (pp) and confidence c, the key ``f"{m:g} pp, {c:.0%}"`` holding the verdict
    (:class:`Thresholds` with ``margin_pp=m, confidence=c``; the others as :data:`DEFAULT`). The margin
    moves claims 2 and 5; the confidence moves claims 1, 2, 3 and 5; claim 4 depends on neither."""
    table: dict[tuple[int, str | None], dict] = {}
    for c in confidences:
        for m in margins_pp:
            for f in assess(rows_by_sweep, dataclasses.replace(DEFAULT, margin_pp=m, confidence=c)):
                row = table.setdefault((f.claim, f.sweep), {"claim": f.claim, "sweep": f.sweep})
                row[sensitivity_column(m, c)] = f.verdict
    return list(table.values())


def sensitivity_column(margin_pp: float, confidence: float) -> str:
    """The column name of :func:`sensitivity` for one margin (pp) and confidence."""
    return f"{margin_pp:g} pp, {confidence:.0%}"


def sensitivity_display(table: Sequence[Mapping[str, Any]],
                        margins_pp: Sequence[float] = SENSITIVITY_MARGINS_PP,
                        confidences: Sequence[float] = SENSITIVITY_CONFIDENCES) -> tuple[list[dict], dict[str, str]]:
    """:func:`sensitivity`'s grid folded to fit a text column: ``(rows, columns)`` for
    :func:`quantlab.formatting.html_table`, one column per confidence whose cell holds the verdicts
    under each margin in order, as :data:`VERDICT_MARKS` separated by spaces (e.g. ``"? \u2713 \u2713"``)."""
    columns = {"claim": "claim", "sweep": "sweep"}
    columns |= {f"{c:.0%}": f"{c:.0%} confidence" for c in confidences}
    rows = [{"claim": t["claim"], "sweep": sweep_title(t["sweep"]),
             **{f"{c:.0%}": " ".join(VERDICT_MARKS[t[sensitivity_column(m, c)]] for m in margins_pp)
                for c in confidences}} for t in table]
    return rows, columns


def claim_table(findings: Sequence[Finding]) -> list[dict]:
    """Rows for display: ``claim, title, sweep, evidence (summary), decided by (reason), verdict``."""
    titles = {c.number: c.short for c in CLAIMS}
    return [{"claim": f.claim, "title": titles[f.claim], "sweep": f.sweep, "evidence": f.summary,
             "decided by": f.reason, "verdict": f.verdict} for f in findings]


def finding_rows(findings: Sequence[Finding]) -> list[dict]:
    """One row per finding for export: ``claim, sweep, verdict, reason`` and every scalar of its
    evidence under its own name (errors and gaps as fractions, :data:`FRACTION_EVIDENCE`; sizes in
    parameters); structured evidence (lists, claim 3's cells) is left out."""
    scalar = (str, int, float, bool, type(None))
    return [{"claim": f.claim, "sweep": f.sweep, "verdict": f.verdict, "reason": f.reason,
             **{k: v for k, v in f.evidence.items() if isinstance(v, scalar)}} for f in findings]


FRACTION_EVIDENCE = re.compile(r"(gap|gap_std|gap_se|gap_few|gap_full|float_error|quantized_error|vanished_limit"
                               r"|ecr_error|gaps_\d+)$")
"""Evidence keys whose values are fractions (errors, gaps and their spreads): glued in pp."""


def glue_items(findings: Sequence[Finding]) -> dict[str, str]:
    """Display strings to glue into the report, all computed: per finding
    ``c{claim}_{sweep}_{verdict|summary|reason}`` and ``c{claim}_{sweep}_{evidence key}``
    (:func:`quantlab.formatting.glue_text`: counts with thousands separators, other numbers with 2
    decimals; errors and gaps, :data:`FRACTION_EVIDENCE`, in pp), per claim ``c{claim}_overall``, and
    the thresholds as ``threshold_{name}``."""
    out: dict[str, str] = {}
    for f in findings:
        k = f"c{f.claim}_{glue_key(f.sweep or 'rows')}"
        out[f"{k}_verdict"], out[f"{k}_summary"], out[f"{k}_reason"] = f.verdict, f.summary, f.reason
        for name, value in f.evidence.items():
            if isinstance(value, list) and any(isinstance(v, dict) for v in value):
                continue  # structured evidence (claim 3's cells): for tables, not text
            if FRACTION_EVIDENCE.search(name) and value is not None:
                value = [_pp(v) for v in value] if isinstance(value, list) else _pp(value)
            out[f"{k}_{name}"] = glue_text(value)
    for c in sorted({f.claim for f in findings}):
        out[f"c{c}_overall"] = overall(findings, c)
    for name in ("MIN_SMALL_GAP_PP", "VANISHED_GAP_PP", "BUDGET_WIN_SHARE"):
        out[f"threshold_{name}"] = f"{globals()[name]:g}"
    out["threshold_CONFIDENCE"] = f"{inference.CONFIDENCE:.0%}"
    return out


# -- one-line verdicts and counts in words ------------------------------------------------------

def verdict_lines(findings: Sequence[Finding]) -> dict[int, str]:
    """One Markdown line per claim of ``findings``: its short title, its overall verdict in bold
    (:func:`overall`) and, when the sweeps disagree, the verdict of each sweep, e.g.
    ``Gap vanishes in large networks: **partly reproduced** (FFDNN width: reproduced; CNN feature
    maps: not reproduced)``. Keys are claim numbers."""
    titles = {c.number: c.short for c in CLAIMS}
    out = {}
    for number in sorted({f.claim for f in findings}):
        mine = [f for f in findings if f.claim == number]
        line = f"{titles[number]}: **{overall(findings, number)}**"
        if len({f.verdict for f in mine}) > 1:
            line += " (" + "; ".join(f"{sweep_title(f.sweep)}: {f.verdict}" for f in mine) + ")"
        out[number] = line
    return out


def budget_checks(findings: Sequence[Finding], study_rows: Sequence[Mapping[str, Any]], used: Mapping[str, int],
                  t: Thresholds = DEFAULT) -> list[dict]:
    """Whether claim 2's verdicts would survive longer retraining. For each claim-2 finding on a whole
    training split whose largest network the budget studies (tidy ``study_rows`` at several
    ``retrain_epochs``) retrained with fixed steps: ``sweep``, ``network``, ``verdict`` (the sweep's),
    ``used`` (its retraining epochs, ``used[sweep]``), the study's ``epochs`` and ``gaps`` (seed means,
    fractions) and ``seeds``, ``converged`` (the doubling rule's budget of
    :func:`quantlab.analysis.stats.budget_study`; None: the gap still moves at the study's longest
    budget), ``longest``, ``at_longest`` (claim 2's test, :func:`gap_vanished`, on the study's seeds
    at its longest budget) and ``holds``: the verdict does not depend on the budget (the gap converged
    by ``used``, or the verdict at the longest budget is the sweep's, or one of the two is
    inconclusive)."""
    fixed = [r for r in _check(study_rows) if r.get("step_policy", "fixed") == "fixed"]
    studies = {s["network"]: s for s in stats.budget_study(fixed, TERNARY, baseline=BASELINE)}
    out = []
    for f in findings:
        network = f.evidence.get("large_network")
        if f.claim != 2 or f.evidence.get("train_subset") is not None or network not in studies:
            continue
        s = studies[network]
        longest = s["epochs"][-1]
        g = next(g for g in _gaps([r for r in fixed if r["retrain_epochs"] == longest], TERNARY)
                 if g["network"] == network)
        at_longest = _OUTCOME_VERDICT[gap_vanished(g, t)]
        converged = s["converged"] is not None and s["converged"] <= used[f.sweep]
        out.append({"sweep": f.sweep, "network": network, "verdict": f.verdict, "used": used[f.sweep],
                    "epochs": s["epochs"], "gaps": s["gap"], "seeds": g["seeds"], "converged": s["converged"],
                    "longest": longest, "at_longest": at_longest,
                    "holds": converged or at_longest == f.verdict or INCONCLUSIVE in (at_longest, f.verdict)})
    return out


def budget_check_display(checks: Sequence[Mapping[str, Any]]) -> tuple[list[dict], dict[str, str]]:
    """:func:`budget_checks` as ``(rows, columns)`` for :func:`quantlab.formatting.html_table`: per
    claim-2 network, the sweep and its budget, the study's gap at every budget, where the doubling rule
    holds from, and claim 2's verdict at the sweep's budget and at the study's longest."""
    rows = [{"sweep": sweep_title(c["sweep"]), "network": c["network"], "used": c["used"],
             "gaps": "; ".join(f"{e}: {pp(g)}" for e, g in zip(c["epochs"], c["gaps"])),
             "converged": c["converged"] or f"> {c['longest']}", "verdict": c["verdict"],
             "at_longest": f"{c['at_longest']} ({c['seeds']} seeds)"} for c in checks]
    columns = {"sweep": "sweep", "network": "network", "used": "epochs", "gaps": "ternary gap (pp) by epochs",
               "converged": "converged from", "verdict": "claim 2", "at_longest": "claim 2, longest budget"}
    return rows, columns


def budget_check_text(checks: Sequence[Mapping[str, Any]]) -> str:
    """One or two sentences on :func:`budget_checks`: whether a longer retraining budget would change
    any claim-2 verdict, naming the networks whose gap still moves at the longest budget or converges
    only after their sweep's budget."""
    moving = [c["network"] for c in checks if c["converged"] is None]
    late = [f"{c['network']} (from {c['converged']} epochs; its sweep retrains for {c['used']})"
            for c in checks if c["converged"] is not None and c["converged"] > c["used"]]
    changed = [f"{c['network']} ({sweep_title(c['sweep'])}: {c['verdict']} at {c['used']} epochs, {c['at_longest']} "
               f"at {c['longest']})" for c in checks if not c["holds"]]
    still = ("The gap of {} still moves at the longest budget, so its sweep's gap there is not converged. "
             if len(moving) == 1 else
             "The gaps of {} still move at the longest budget, so their sweeps' gaps there are not converged. ")
    text = (still.format(and_list(moving)) if moving else "")
    text += (f"By the doubling rule the gap converges only after the sweep's budget for {and_list(late)}. "
             if late else "")
    text = text or "Every claim-2 network's gap has converged by its sweep's budget (the doubling rule). "
    return text + ("Longer retraining changes no claim-2 verdict." if not changed else
                   "Longer retraining changes the verdict of " + "; ".join(changed) + ".")


def plain_lines(findings: Sequence[Finding]) -> dict[int, str]:
    """One Markdown line per claim of ``findings`` in plain words: the claim's ``plain`` words
    (:class:`Claim`) and its overall verdict (:func:`overall`) in bold, e.g. ``Large networks lose
    almost none: **partly reproduced**``. Keys are claim numbers (the front page's first lines)."""
    plain = {c.number: c.plain for c in CLAIMS}
    return {n: f"{plain[n]}: **{overall(findings, n)}**" for n in sorted({f.claim for f in findings})}


def findings_text(findings: Sequence[Finding]) -> str:
    """Markdown bullets, one per finding: the claim, its short title, the verdict in bold and the
    evidence's summary sentence, e.g. ``- Claim 2, "Gap vanishes in large networks": **reproduced**;
    ternary gap +0.23 pp ...`` (the "What this chapter found" sections; the sweep is the chapter's)."""
    titles = {c.number: c.short for c in CLAIMS}
    return "\n".join(f'- Claim {f.claim}, "{titles[f.claim]}": **{f.verdict}**; {f.summary}.' for f in findings)


# -- what the retraining-budget studies show ----------------------------------------------------

def budget_reading_text(readings: Mapping[str, Mapping[str, Any]]) -> str:
    """Markdown sentences on what the budget studies show for claims 1 and 2, from
    :func:`quantlab.analysis.stats.budget_reading` per study name: whether each study's largest
    network only gains from longer retraining, whether its smallest keeps the widest gap, and every
    gap that grows with a longer budget, split into what the float control and the quantized network
    did."""
    shrinking = [r["largest"] for r in readings.values() if r["largest_shrinks"]]
    growing = [r["largest"] for r in readings.values() if not r["largest_shrinks"]]
    out = []
    if shrinking:
        out.append(f"The largest network of each study ({and_list(shrinking)}) never has its gap grow with a "
                   "longer budget: the sweeps' gaps there are upper bounds, so a 'vanished' verdict there only gets "
                   "firmer with more epochs, and one that has not vanished may be the budget's (the report tests "
                   "claim 2 again at the studies' longest budgets).")
    if growing:
        out.append(f"The gap of the largest network ({', '.join(growing)}) grows somewhere with a longer budget: "
                   "claim 2's verdicts there depend on the budget.")
    widest = [r["smallest"] for r in readings.values() if r["smallest_widest"]]
    narrow = [r["smallest"] for r in readings.values() if not r["smallest_widest"]]
    if widest:
        out.append(f"The smallest networks ({', '.join(widest)}) keep the widest gap of their study at every budget, "
                   "which is what claim 1 needs.")
    if narrow:
        out.append(f"The smallest networks {', '.join(narrow)} do not keep the widest gap of their study at every "
                   "budget: claim 1 depends on the budget there.")
    for r in (r for reading in readings.values() for r in reading["rising"]):
        who = ("the float control gains more than the quantized network"
               if r["control_change"] < r["quantized_change"] else "the quantized network gets worse")
        out.append(f"The gap of {r['network']} grows from {r['epochs']} to {r['longer']} epochs by "
                   f"{pp(r['change'])} pp beyond its standard error: the float control moves "
                   f"{pp(r['control_change'])} pp, the quantized network {pp(r['quantized_change'])} pp, so {who}.")
    return " ".join(out)
