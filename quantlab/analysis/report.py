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

from quantlab.analysis import stats
from quantlab.analysis.rows import check_rows, network_label
from quantlab.formatting import glue_key, glue_text, pp

VERDICTS = ("reproduced", "partly reproduced", "not reproduced")
REPRODUCED, PARTLY, NOT_REPRODUCED = VERDICTS

SWEEPS = ("ffdnn-width", "ffdnn-depth", "cnn-maps")
"""The reference sweeps (``quantlab/experiments/specs``) whose committed records the report reads."""

SWEEP_TITLES = {"ffdnn-width": "FFDNN width", "ffdnn-depth": "FFDNN depth", "cnn-maps": "CNN feature maps",
                "budget-ffdnn": "FFDNN retraining budgets", "budget-cnn": "CNN retraining budgets",
                "precision-ffdnn": "FFDNN precision map", "precision-cnn": "CNN precision map",
                "data-ffdnn": "FFDNN training-set sizes"}
"""Display names of the reference sweeps (tables, verdict lines, chart panels)."""


def sweep_title(sweep: str | None) -> str:
    """The display name of a sweep (:data:`SWEEP_TITLES`; the spec name itself for others)."""
    return SWEEP_TITLES.get(sweep or "", sweep or "rows")

TERNARY = 2

BASELINE = "control"
"""The float baseline of every verdict: the float control (same total training budget as the
retrained network). ``"float"`` is the float network before the extra epochs (the paper's baseline;
:data:`quantlab.analysis.stats.BASELINES`)."""

# -- thresholds ------------------------------------------------------------------------------

MIN_SMALL_GAP_PP = 1.0
"""Claim 1: the smallest network's retrained-ternary gap must be at least 1 pp to count as a gap.

One percentage point is a difference of 100 test images out of Fashion-MNIST's 10,000, an order of
magnitude above the binomial noise of a single error estimate near 10-20 % error (~0.35 pp), and a
difference a practitioner would not dismiss. A smaller gap fails claim 1 whatever its significance.
"""

NOISE_SE_FACTOR = 2.0
"""Claims 1 and 2: "beyond seed noise" means more than 2 standard errors of the mean paired gap.

The standard error (seed std / sqrt(n)) is the uncertainty of the *mean* gap the claim is about;
the seed std itself is the spread of one run and would demand that every single seed show the gap
clearly, a test that 3 seeds of a tiny, sometimes unstable network cannot pass even when every seed
has a large gap. Two standard errors is the usual ~95 % normal band; with only 3 seeds a t-quantile
would be larger (2.9 one-sided), so this is a screening threshold, not a significance test, and the
practical thresholds in pp carry the weight of each verdict.
"""

VANISHED_GAP_PP = 0.5
"""Claim 2: the largest network's gap has "almost vanished" when it is at most 0.5 pp, or at most
0.5 pp plus :data:`NOISE_SE_FACTOR` standard errors (not distinguishable from 0.5 pp by the seeds).

Half a point is 50 test images out of 10,000, a few times the seed-to-seed standard deviation of
the large float networks themselves (0.1-0.3 pp here), i.e. not far from what separates two float
trainings of the same network.
"""

SHRINK_FRACTION = 0.1
"""Claim 2, partly: the gap at the largest network is at most 10 % of the gap at the smallest.

The gap then shrinks by an order of magnitude across the sweep, the trend the claim describes, even
if the sweep's largest network is not large enough for the gap to have vanished.
"""

SPEARMAN_MAX = -0.7
"""Claim 3: the gap decreases with size when the Spearman rank correlation between parameter count
and gap is at most -0.7, for every bit width (2 and 3 bits).

Rank correlation asks for a monotone trend without assuming its shape; -0.7 is a conventional
"strong" correlation and tolerates a swap of neighbours among the large networks, whose gaps are
within noise of each other (with 5 sizes, two swaps of neighbours still give rho = -0.8).
"""

MIN_SIZES = 3
"""Claim 3 needs at least 3 sizes for a rank correlation to say anything."""

ECR_WELL_BELOW = 0.5
"""Claim 4, part (a): the ternary ECR of the sweep's largest network is "well below" the naive
16x when it is at most half of it (<= 8x for ternary).

ECR is the memory ratio that quantization really buys at equal test error; when the float curve
has flattened (data-limited networks), a much smaller float network matches the big quantized one
and ECR falls far below 32 / b: the naive ratio misleads the size-vs-precision choice, which is the
reason the paper introduces ECR. A lower bound (the quantized network beats every float network)
never satisfies this part.
"""

BUDGET_WIN_SHARE = 0.5
"""Claim 4, part (b): under a memory budget the best retrained quantized network beats the best
float network of at most that memory for *most* budgets: more than half of the budget range where
both kinds were measured (the overlap of their memory ranges), measured on a log memory axis
(:func:`quantlab.analysis.stats.budget_comparison`).

This is the trade-off ECR is meant to guide: with memory limited, is it better spent on more
weights at fewer bits? More than half (a majority of the range) is the plain reading of "most
budgets".
"""


DATA_SWEEPS = ("data-ffdnn",)
"""The sweeps over the training-set size that test claim 5 (the paper's data-limited explanation)."""


# -- claims as data --------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Claim:
    """One claim of the paper: ``number`` (1-5; 5 is its explanation, as a prediction), ``short``
    title, ``text`` (the paper's claim, in the book's summary of it), ``measure`` (what this book
    computes to test it), ``sweeps`` (which reference
    sweeps test it) and ``check`` (tidy rows -> :class:`Finding`)."""

    number: int
    short: str
    text: str
    measure: str
    sweeps: tuple[str, ...]
    check: Callable[[Sequence[Mapping[str, Any]]], "Finding"]


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


def _beyond_noise(g: dict) -> bool:
    return g["gap_se"] is not None and g["gap"] > NOISE_SE_FACTOR * g["gap_se"]


def _vanished_limit(gap_se: float | None) -> float:
    """Claim 2's limit in pp for a gap with standard error ``gap_se`` (a fraction; None or NaN: none)."""
    se = 0.0 if gap_se is None or math.isnan(gap_se) else gap_se
    return VANISHED_GAP_PP + NOISE_SE_FACTOR * _pp(se)


def gap_vanished(gap: float, gap_se: float | None) -> bool:
    """Claim 2's rule for a gap with its standard error (fractions; None or NaN for one seed: no
    allowance): it has almost vanished when it is at most :data:`VANISHED_GAP_PP` plus
    :data:`NOISE_SE_FACTOR` standard errors."""
    return _pp(gap) <= _vanished_limit(gap_se)


def _fmt_gap(g: dict) -> str:
    se = "" if g["gap_se"] is None else f" ± {pp(g['gap_se'], sign=False)} SE"
    return f"{pp(g['gap'])} pp{se} ({g['seeds']} seeds) at {g['network']} ({g['params']:,} params)"


def _gap_evidence(g: dict, prefix: str) -> dict:
    keys = ("network", "params", "seeds", "float_error", "quantized_error", "gap", "gap_std", "gap_se")
    return {f"{prefix}_{k}": g[k] for k in keys}


# -- the four checks -------------------------------------------------------------------------

def claim1(rows: Sequence[Mapping[str, Any]]) -> Finding:
    """Claim 1: a gap exists between float and retrained ternary networks when the network is small.

    Evidence: the paired ternary gap at the sweep's smallest network. Verdict:
    reproduced if the gap >= :data:`MIN_SMALL_GAP_PP` and > :data:`NOISE_SE_FACTOR` standard errors;
    partly reproduced if it is >= :data:`MIN_SMALL_GAP_PP` but within seed noise (or has one seed);
    not reproduced if it is below :data:`MIN_SMALL_GAP_PP`.
    """
    g = _gaps(rows, TERNARY)[0]
    big, sig = _pp(g["gap"]) >= MIN_SMALL_GAP_PP, _beyond_noise(g)
    verdict = REPRODUCED if big and sig else PARTLY if big else NOT_REPRODUCED
    reason = (f"gap {'>=' if big else '<'} {MIN_SMALL_GAP_PP:g} pp; "
              f"{'more' if sig else 'not more'} than {NOISE_SE_FACTOR:g} SE")
    return Finding(1, verdict, {**_gap_evidence(g, "small"), "beyond_noise": sig},
                   f"ternary gap {_fmt_gap(g)}", reason)


def claim2(rows: Sequence[Mapping[str, Any]]) -> Finding:
    """Claim 2: the gap almost vanishes in large networks.

    Evidence: the paired ternary gap at the sweep's largest network, and at its smallest for
    comparison. Verdict: reproduced if the large gap <= :data:`VANISHED_GAP_PP` +
    :data:`NOISE_SE_FACTOR` standard errors; partly reproduced if instead it is at most
    :data:`SHRINK_FRACTION` of a positive small-network gap (shrunk by an order of magnitude but not
    gone); not reproduced otherwise.
    """
    gs = _gaps(rows, TERNARY)
    small, large = gs[0], gs[-1]
    limit = _vanished_limit(large["gap_se"])  # pp
    vanished = gap_vanished(large["gap"], large["gap_se"])
    ratio = large["gap"] / small["gap"] if small["gap"] > 0 else float("nan")
    shrunk = small["gap"] > 0 and large["gap"] <= SHRINK_FRACTION * small["gap"]
    verdict = REPRODUCED if vanished else PARTLY if shrunk else NOT_REPRODUCED
    if vanished:
        reason = f"large-network gap <= {VANISHED_GAP_PP:g} pp + {NOISE_SE_FACTOR:g} SE = {limit:.2f} pp"
    else:
        reason = (f"large-network gap > {limit:.2f} pp; "
                  f"{'at most' if shrunk else 'more than'} {SHRINK_FRACTION:g} x the small-network gap")
    ev = {**_gap_evidence(large, "large"), **_gap_evidence(small, "small"),
          "vanished_limit": limit / 100, "shrink_ratio": ratio}
    return Finding(2, verdict, ev, f"ternary gap {_fmt_gap(large)}", reason)


def claim3(rows: Sequence[Mapping[str, Any]]) -> Finding:
    """Claim 3: the gap decreases with network size (large networks absorb severe quantization
    through retraining; connection-limited ones are less resilient), at 2 and 3 bits.

    Evidence: Spearman's rho between parameter count and retrained gap, per bit width in the rows.
    Verdict: reproduced if rho <= :data:`SPEARMAN_MAX` for every bit width; partly reproduced if for
    some; not reproduced if for none. Needs :data:`MIN_SIZES` sizes.
    """
    rows = _check(rows)
    bits = sorted({int(r["bits"]) for r in rows if r["method"] == "retrain"})
    if not bits:
        raise ValueError("rows hold no retrained results (method 'retrain'): claim 3 cannot be judged")
    ev: dict[str, Any] = {"bits": bits}
    ok = []
    for b in bits:
        gs = _gaps(rows, b)
        if len(gs) < MIN_SIZES:
            raise ValueError(f"claim 3 needs at least {MIN_SIZES} sizes with {b}-bit results; got {len(gs)}")
        rho = stats.spearman([g["params"] for g in gs], stats.rank_values([g["gap"] for g in gs]))
        ev[f"rho_{b}"] = rho
        ev[f"sizes_{b}"] = len(gs)
        ev[f"gaps_{b}"] = [g["gap"] for g in gs]
        ok.append(not math.isnan(rho) and rho <= SPEARMAN_MAX)
    ev["params"] = [g["params"] for g in _gaps(rows, bits[0])]
    verdict = REPRODUCED if all(ok) else PARTLY if any(ok) else NOT_REPRODUCED
    rhos = ", ".join(f"{b} bits {ev[f'rho_{b}']:+.2f}" for b in bits)
    passed = [f"{b} bits" for b, o in zip(bits, ok) if o]
    reason = f"rho <= {SPEARMAN_MAX:g} for {', '.join(passed) if passed else 'no bit width'}"
    return Finding(3, verdict, ev, f"Spearman rho(params, gap): {rhos} over {ev[f'sizes_{bits[0]}']} sizes", reason)


def claim4(rows: Sequence[Mapping[str, Any]]) -> Finding:
    """Claim 4: the effective compression ratio guides the size-vs-precision trade-off under a
    memory limit.

    Evidence: (a) the ternary ECR of the largest network against the naive 16x; (b) the share of the
    measured memory-budget range (log axis) in which the best retrained quantized network beats the
    best float network that fits (:func:`quantlab.analysis.stats.budget_comparison`). Verdict:
    reproduced if (a) ECR <= :data:`ECR_WELL_BELOW` x naive (an exact or upper-bound ECR) and (b)
    share > :data:`BUDGET_WIN_SHARE`; partly reproduced if one of them; not reproduced if neither.
    """
    rows = _check(rows)
    table = stats.ecr_table(rows)
    tern = [t for t in table if t["bits"] == TERNARY]
    if not tern:
        raise ValueError("rows hold no retrained ternary results: claim 4 cannot be judged")
    largest = max(tern, key=lambda t: t["params"])
    a = largest["relation"] in ("=", "<=") and largest["ecr"] <= ECR_WELL_BELOW * largest["naive"]
    budget = stats.budget_comparison(rows)
    b = not math.isnan(budget["share"]) and budget["share"] > BUDGET_WIN_SHARE
    verdict = REPRODUCED if a and b else PARTLY if a or b else NOT_REPRODUCED
    ev = {
        "ecr_label": network_label(largest), "ecr_params": largest["params"], "ecr": largest["ecr"],
        "ecr_relation": largest["relation"], "ecr_text": largest["ecr_text"], "naive": largest["naive"],
        "ecr_float_params": largest["float_params"], "ecr_error": largest["test_error"],
        "ecr_well_below": a, "budget_share": budget["share"], "budget_lo_bits": budget["lo_bits"],
        "budget_hi_bits": budget["hi_bits"], "budget_quantized_wins": b,
        "ecr_max": max(t["ecr"] for t in table), "ecr_max_text": max(table, key=lambda t: t["ecr"])["ecr_text"],
    }
    summary = (f"ternary ECR {largest['ecr_text']} (naive {largest['naive']:g}) at {network_label(largest)}; "
               f"best quantized network beats best float one on {100 * budget['share']:.0f} % of the memory-budget range")
    reason = (f"(a) ECR {'<=' if a else 'not <='} {ECR_WELL_BELOW:g} x naive; "
              f"(b) quantized wins on {'more' if b else 'not more'} than {BUDGET_WIN_SHARE:.0%} of the budgets")
    return Finding(4, verdict, ev, summary, reason)


def vanishing_size(rows: Sequence[Mapping[str, Any]], bits: int = TERNARY) -> dict | None:
    """The smallest network of ``rows`` (one training set) from which on every larger network's
    retrained ``bits``-bit gap has vanished (:func:`gap_vanished`): its
    :func:`quantlab.analysis.stats.gaps` entry, or None when the largest network's gap has not."""
    found = None
    for g in reversed(_gaps(rows, bits)):
        if not gap_vanished(g["gap"], g["gap_se"]):
            break
        found = g
    return found


def _by_subset(rows: Sequence[Mapping[str, Any]]) -> dict[int | None, list[Mapping[str, Any]]]:
    """Rows per training-set size, smallest first, the whole split (None) last."""
    out: dict[int | None, list[Mapping[str, Any]]] = {}
    for r in rows:
        out.setdefault(r.get("train_subset"), []).append(r)
    return dict(sorted(out.items(), key=lambda kv: math.inf if kv[0] is None else kv[0]))


def claim5(rows: Sequence[Mapping[str, Any]]) -> Finding:
    """Claim 5 (the paper's explanation, tested): with less training data, networks become
    data-limited at smaller sizes, so the retrained ternary gap vanishes at a smaller network.

    Evidence: per training-set size, the vanishing size (:func:`vanishing_size`; parameters, infinite
    when no network of the sweep reaches it). Verdict: reproduced if the vanishing size with the
    smallest training set is smaller than with the whole split and never grows as the data shrinks;
    partly reproduced if it is smaller with the smallest set but not monotone in between, or if it is
    the same but the smallest network's gap with the smallest set is below its gap with the whole split
    by more than :data:`NOISE_SE_FACTOR` combined standard errors; not reproduced otherwise.
    """
    subsets = _by_subset(_check(rows))
    if len(subsets) < 2:
        raise ValueError("claim 5 needs rows of at least two training-set sizes (train_subset)")
    sizes = {}
    for n, rs in subsets.items():
        v = vanishing_size(rs)
        sizes[n] = math.inf if v is None else v["params"]
    order = list(subsets)
    few, full = order[0], order[-1]
    smaller = sizes[few] < sizes[full]
    monotone = all(sizes[a] <= sizes[b] for a, b in zip(order, order[1:]))
    g_few, g_full = _gaps(subsets[few], TERNARY)[0], _gaps(subsets[full], TERNARY)[0]
    se = math.hypot(*(g["gap_se"] or 0.0 for g in (g_few, g_full)))
    lower = g_full["gap"] - g_few["gap"] > NOISE_SE_FACTOR * se
    verdict = REPRODUCED if smaller and monotone else PARTLY if smaller or lower else NOT_REPRODUCED
    name = {n: "all" if n is None else f"{n:,}" for n in order}
    label = {n: next((network_label(r) for r in subsets[n] if int(r["params"]) == sizes[n]), "none")
             for n in order}
    ev = {"subsets": [None if n is None else int(n) for n in order],
          "vanishing_params": [sizes[n] for n in order], "vanishing_labels": [label[n] for n in order],
          "smaller_with_less_data": smaller, "monotone": monotone,
          "small_network": g_full["network"], "small_gap_few": g_few["gap"], "small_gap_full": g_full["gap"],
          "small_gap_lower": lower}
    summary = ("gap vanishes from " + "; ".join(f"{label[n]} with {name[n]} examples" for n in order)
               + f"; smallest network's gap {pp(g_few['gap'])} pp ({name[few]}) vs {pp(g_full['gap'])} pp (all)")
    reason = (f"vanishing size {'smaller' if smaller else 'not smaller'} with the fewest examples; "
              f"{'monotone' if monotone else 'not monotone'} in the data size; smallest network's gap "
              f"{'lower' if lower else 'not lower'} by {NOISE_SE_FACTOR:g} combined SE")
    return Finding(5, verdict, ev, summary, reason)


CLAIMS: tuple[Claim, ...] = (
    Claim(1, "Gap in small networks",
          "A performance gap exists between float and retrain-based ternary networks when the network "
          "is small (complexity / connection limited).",
          "retrained-ternary minus float test error at the sweep's smallest network",
          SWEEPS, claim1),
    Claim(2, "Gap vanishes in large networks",
          "The gap almost vanishes in large networks, whose capability is limited by the training data "
          "rather than by the number of connections.",
          "retrained-ternary minus float test error at the sweep's largest network",
          SWEEPS, claim2),
    Claim(3, "Resiliency grows with complexity",
          "Highly complex DNNs absorb severe weight quantization through retraining; connection-limited "
          "networks are less resilient.",
          "rank correlation between parameter count and retrained gap, ternary and 3-bit",
          SWEEPS, claim3),
    Claim(4, "ECR guides size vs precision",
          "An effective compression ratio (ECR) guides the trade-off between network size and precision "
          "when hardware memory is limited.",
          "ternary ECR of the largest network vs the naive 16x; share of memory budgets where the best "
          "quantized network beats the best float one",
          ("ffdnn-width", "cnn-maps"), claim4),
    Claim(5, "Less data, smaller networks suffice",
          "(The paper's explanation, as a prediction.) A network whose capability is limited by its "
          "training data absorbs quantization; with less data, networks become data-limited at smaller "
          "sizes, so the gap should vanish at a smaller network.",
          "per training-set size, the smallest network from which on the retrained-ternary gap has "
          "vanished (claim 2's rule)",
          DATA_SWEEPS, claim5),
)
"""The paper's four claims (as the book's report chapter states them) and its explanation as a fifth.
Claim 4 is judged on the width and feature-map sweeps, whose float networks form one size curve; the
depth sweep mixes three widths. Claim 5 is this book's test, stated before its sweep ran, on the data
sweep."""

CLAIM_SWEEPS = tuple(dict.fromkeys(s for c in CLAIMS for s in c.sweeps))
"""Every sweep some claim is judged on, in claim order."""


# -- assessing -------------------------------------------------------------------

def assess(rows_by_sweep: Mapping[str, Sequence[Mapping[str, Any]]]) -> list[Finding]:
    """Every claim on every sweep of ``rows_by_sweep`` that tests it, in claim then sweep order."""
    out = []
    for claim in CLAIMS:
        for sweep in claim.sweeps:
            if sweep in rows_by_sweep:
                f = claim.check(rows_by_sweep[sweep])
                f.sweep = sweep
                out.append(f)
    return out


def overall(findings: Sequence[Finding], claim: int) -> str:
    """One verdict for a claim over its sweeps: reproduced if reproduced on every sweep, not
    reproduced if on none (all "not reproduced"), partly reproduced otherwise."""
    vs = [f.verdict for f in findings if f.claim == claim]
    if not vs:
        raise ValueError(f"no findings for claim {claim}")
    if all(v == REPRODUCED for v in vs):
        return REPRODUCED
    if all(v == NOT_REPRODUCED for v in vs):
        return NOT_REPRODUCED
    return PARTLY


def claim_table(findings: Sequence[Finding]) -> list[dict]:
    """Rows for display: ``claim, title, sweep, evidence (summary), decided by (reason), verdict``."""
    titles = {c.number: c.short for c in CLAIMS}
    return [{"claim": f.claim, "title": titles[f.claim], "sweep": f.sweep, "evidence": f.summary,
             "decided by": f.reason, "verdict": f.verdict} for f in findings]


FRACTION_EVIDENCE = re.compile(r"(gap|gap_std|gap_se|gap_few|gap_full|float_error|quantized_error|vanished_limit|ecr_error|gaps_\d+)$")
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
            if FRACTION_EVIDENCE.search(name) and value is not None:
                value = [_pp(v) for v in value] if isinstance(value, list) else _pp(value)
            out[f"{k}_{name}"] = glue_text(value)
    for c in sorted({f.claim for f in findings}):
        out[f"c{c}_overall"] = overall(findings, c)
    for name in ("MIN_SMALL_GAP_PP", "NOISE_SE_FACTOR", "VANISHED_GAP_PP", "SHRINK_FRACTION", "SPEARMAN_MAX",
                 "ECR_WELL_BELOW", "BUDGET_WIN_SHARE"):
        out[f"threshold_{name}"] = f"{globals()[name]:g}"
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
