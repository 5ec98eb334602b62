"""Computed verdicts for the paper's claims (Sung, Shin & Hwang 2015; ``shared/paper.md``).

Each claim is data (:data:`CLAIMS`: its words, what this book measures for it, which sweeps test
it) plus a function from tidy result rows to a :class:`Finding`: the evidence (numbers) and a
verdict in :data:`VERDICTS`. Verdicts follow from the rows and the thresholds below only; nothing is
written by hand. The thresholds are module constants, each justified where it is defined.

Conventions:

* **Gap**: the retrained quantized network's test error minus the float baseline's, in
  **percentage points** (pp). The baseline of the verdicts is the *float control*
  (:data:`BASELINE`): the float network trained on for the same epochs, with the same schedule, as
  the retraining, so that both sides of a gap had the same training budget (retraining from a float
  network is also extra training; against the float network alone, a retrained network gets credit
  for those extra epochs). :func:`gaps` gives the gap against the float network too.
  The gap is paired per seed: each seed's quantized network is retrained from
  that seed's float network, so the per-seed differences carry the seed noise of the gap itself.
  ``gap`` is their mean; ``gap_std`` their sample standard deviation; ``gap_se = gap_std / sqrt(n)``
  the standard error of the mean gap over ``n`` seeds.
* **Size** is the parameter count (all parameters): the smallest / largest network of a sweep is
  the one with the fewest / most parameters, whatever the sweep varies (width, depth, feature maps).
* Rows are tidy rows (``quantlab.results.tidy``): one dict per (trial, seed, method, bits) with at
  least ``params, weights, seed, method, bits, test_error`` (errors as fractions).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from quantlab import compression
from quantlab.results import FLOAT_BITS, check_rows, network_label

VERDICTS = ("reproduced", "partly reproduced", "not reproduced")
REPRODUCED, PARTLY, NOT_REPRODUCED = VERDICTS

SWEEPS = ("ffdnn-width", "ffdnn-depth", "cnn-maps")
"""The reference sweeps (``quantlab/specs``) whose committed records the report reads."""

SWEEP_TITLES = {"ffdnn-width": "FFDNN width", "ffdnn-depth": "FFDNN depth", "cnn-maps": "CNN feature maps",
                "budget-ffdnn": "FFDNN retraining budgets", "budget-cnn": "CNN retraining budgets",
                "precision-ffdnn": "FFDNN precision map", "precision-cnn": "CNN precision map",
                "data-ffdnn": "FFDNN training-set sizes"}
"""Display names of the reference sweeps (tables, verdict lines, chart panels)."""


def sweep_title(sweep: str | None) -> str:
    """The display name of a sweep (:data:`SWEEP_TITLES`; the spec name itself for others)."""
    return SWEEP_TITLES.get(sweep or "", sweep or "rows")

TERNARY = 2

BASELINES = ("control", "float")
BASELINE = "control"
"""The float baseline of every verdict: the float control (same total training budget as the
retrained network). ``"float"`` is the float network before the extra epochs (the paper's baseline)."""

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
(:func:`quantlab.compression.budget_comparison`).

This is the trade-off ECR is meant to guide: with memory limited, is it better spent on more
weights at fewer bits? More than half (a majority of the range) is the plain reading of "most
budgets".
"""


DATA_SWEEPS = ("data-ffdnn",)
"""The sweeps over the training-set size that test claim 5 (the paper's data-limited explanation)."""


# -- claims as data --------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Claim:
    """One claim of the paper: ``number`` (1-5; 5 is its explanation, as a prediction), ``short`` title, ``text`` (the paper's claim in
    paper.md's words), ``measure`` (what this book computes to test it), ``sweeps`` (which reference
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
    (named numbers; errors and gaps in pp, sizes in parameters, ratios plain), ``summary`` (one
    sentence built from the evidence) and ``reason`` (which thresholds decided)."""

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

_FIELDS = ("params", "weights", "seed", "method", "bits", "test_error")


def _check(rows: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return check_rows(rows, _FIELDS, "to judge")


def spearman(x: Sequence[float], y: Sequence[float]) -> float:
    """Spearman's rank correlation of ``x`` and ``y`` (ties get average ranks); NaN when either is
    constant or there are fewer than 2 points."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-d sequences of equal length; got {x.shape} and {y.shape}")
    if len(x) < 2:
        return float("nan")

    def ranks(v):
        order = np.argsort(v, kind="mergesort")
        r = np.empty(len(v))
        r[order] = np.arange(1, len(v) + 1)
        for value in np.unique(v):  # average ranks of ties
            tied = v == value
            r[tied] = r[tied].mean()
        return r

    rx, ry = ranks(x), ranks(y)
    if rx.std() == 0 or ry.std() == 0:
        return float("nan")
    return float(np.corrcoef(rx, ry)[0, 1])


def gaps(rows: Iterable[Mapping[str, Any]], bits: int, method: str = "retrain",
         baseline: str = BASELINE) -> list[dict]:
    """Per network (sorted by parameter count): the paired gap between ``method`` at ``bits`` and
    the float ``baseline`` (``"control"`` | ``"float"``, see :data:`BASELINE`), in pp. Each dict:
    ``label, params, seeds, float_pp`` (mean test error of the baseline), ``quantized_pp``, ``gap``
    (mean of the per-seed gaps), ``gap_std`` (sample std, NaN for one seed), ``gap_se``,
    ``seed_gaps`` (``{seed: gap}``).
    Seeds that lack either result are left out; networks without any paired seed are skipped."""
    if baseline not in BASELINES:
        raise ValueError(f"baseline must be one of {BASELINES}; got {baseline!r}")
    rows = _check(rows)
    field = "control_test_error" if baseline == "control" else "test_error"
    by_net: dict[int, dict[str, dict[int, float]]] = {}
    labels: dict[int, str] = {}
    for r in rows:
        p = int(r["params"])
        labels.setdefault(p, network_label(r))
        if r["method"] == "float":
            if r.get(field) is None:
                raise ValueError(f"float row of {network_label(r)} seed {r['seed']} lacks {field!r} "
                                 f"(records without a float control: baseline 'float' only)")
            by_net.setdefault(p, {}).setdefault("float", {})[int(r["seed"])] = float(r[field])
        elif r["method"] == method and int(r["bits"]) == bits:
            by_net.setdefault(p, {}).setdefault("q", {})[int(r["seed"])] = float(r["test_error"])
    out = []
    for p in sorted(by_net):
        f, q = by_net[p].get("float", {}), by_net[p].get("q", {})
        seeds = sorted(set(f) & set(q))
        if not seeds:
            continue
        d = np.array([100 * (q[s] - f[s]) for s in seeds])
        std = float(d.std(ddof=1)) if len(d) > 1 else float("nan")
        out.append({
            "label": labels[p], "params": p, "seeds": len(seeds),
            "float_pp": 100 * float(np.mean([f[s] for s in seeds])),
            "quantized_pp": 100 * float(np.mean([q[s] for s in seeds])),
            "gap": float(d.mean()), "gap_std": std, "gap_se": std / math.sqrt(len(d)),
            "seed_gaps": dict(zip(seeds, d.tolist())),
        })
    if not out:
        raise ValueError(f"rows hold no paired float / {method} {bits}-bit results (same network and seed)")
    return out


def budget_study(rows: Iterable[Mapping[str, Any]], bits: int = TERNARY, baseline: str = BASELINE) -> list[dict]:
    """A retraining-budget study (rows of one network at several ``retrain_epochs``): per network
    and step policy, the paired gap (:func:`gaps`, pp) at every budget and how far each is from the
    gap at the longest budget. Each dict: ``label, params, step_policy, epochs`` (sorted budgets),
    ``gap, gap_se`` (lists, per budget), ``change`` and ``change_se`` (lists: gap at the longest
    budget minus gap at this one, paired by seed; negative = longer retraining lowered the gap) and
    ``settled`` (the smallest budget from which on every change is within seed noise,
    :func:`quantlab.anomalies.beyond_noise`). Sorted by size, then policy."""
    from quantlab.anomalies import beyond_noise

    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for r in _check(rows):
        groups.setdefault((int(r["params"]), r.get("step_policy", "fixed"), int(r["retrain_epochs"])), []).append(r)
    nets = sorted({(p, pol) for p, pol, _ in groups})
    out = []
    for p, pol in nets:
        budgets = sorted(e for q, o, e in groups if (q, o) == (p, pol))
        per = {e: gaps(groups[(p, pol, e)], bits, baseline=baseline)[0] for e in budgets}
        last = per[budgets[-1]]["seed_gaps"]
        change, change_se = [], []
        for e in budgets:
            shared = sorted(set(per[e]["seed_gaps"]) & set(last))
            d = np.array([last[s] - per[e]["seed_gaps"][s] for s in shared])
            change.append(float(d.mean()))
            change_se.append(float(d.std(ddof=1)) / math.sqrt(len(d)) if len(d) > 1 else float("nan"))
        settled = budgets[-1]
        for e, c, se in reversed(list(zip(budgets, change, change_se))):
            if beyond_noise(abs(c), se):
                break
            settled = e
        out.append({"label": per[budgets[-1]]["label"], "params": p, "step_policy": pol, "epochs": budgets,
                    "gap": [per[e]["gap"] for e in budgets], "gap_se": [per[e]["gap_se"] for e in budgets],
                    "change": change, "change_se": change_se, "settled": settled})
    if not out:
        raise ValueError("rows hold no retraining budgets")
    return out


def _beyond_noise(g: dict) -> bool:
    return not math.isnan(g["gap_se"]) and g["gap"] > NOISE_SE_FACTOR * g["gap_se"]


def _vanished_limit(gap_se: float) -> float:
    return VANISHED_GAP_PP + NOISE_SE_FACTOR * (0.0 if math.isnan(gap_se) else gap_se)


def gap_vanished(gap: float, gap_se: float) -> bool:
    """Claim 2's rule for a gap (pp) with its standard error (pp; NaN for one seed: no allowance):
    it has almost vanished when it is at most :data:`VANISHED_GAP_PP` plus :data:`NOISE_SE_FACTOR`
    standard errors."""
    return gap <= _vanished_limit(gap_se)


def _fmt_gap(g: dict) -> str:
    se = "" if math.isnan(g["gap_se"]) else f" ± {g['gap_se']:.2f} SE"
    return f"{g['gap']:+.2f} pp{se} ({g['seeds']} seeds) at {g['label']} ({g['params']:,} params)"


def _gap_evidence(g: dict, prefix: str) -> dict:
    keys = ("label", "params", "seeds", "float_pp", "quantized_pp", "gap", "gap_std", "gap_se")
    return {f"{prefix}_{k}": g[k] for k in keys}


# -- the four checks -------------------------------------------------------------------------

def claim1(rows: Sequence[Mapping[str, Any]]) -> Finding:
    """Claim 1: a gap exists between float and retrained ternary networks when the network is small.

    Evidence: the paired ternary gap at the sweep's smallest network. Verdict:
    reproduced if the gap >= :data:`MIN_SMALL_GAP_PP` and > :data:`NOISE_SE_FACTOR` standard errors;
    partly reproduced if it is >= :data:`MIN_SMALL_GAP_PP` but within seed noise (or has one seed);
    not reproduced if it is below :data:`MIN_SMALL_GAP_PP`.
    """
    g = gaps(rows, TERNARY)[0]
    big, sig = g["gap"] >= MIN_SMALL_GAP_PP, _beyond_noise(g)
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
    gs = gaps(rows, TERNARY)
    small, large = gs[0], gs[-1]
    limit = _vanished_limit(large["gap_se"])
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
          "vanished_limit": limit, "shrink_ratio": ratio}
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
        gs = gaps(rows, b)
        if len(gs) < MIN_SIZES:
            raise ValueError(f"claim 3 needs at least {MIN_SIZES} sizes with {b}-bit results; got {len(gs)}")
        # rounded to 1e-6 pp so that floating-point noise in equal gaps does not rank them
        rho = spearman([g["params"] for g in gs], [round(g["gap"], 6) for g in gs])
        ev[f"rho_{b}"] = rho
        ev[f"sizes_{b}"] = len(gs)
        ev[f"gaps_{b}"] = [g["gap"] for g in gs]
        ok.append(not math.isnan(rho) and rho <= SPEARMAN_MAX)
    ev["params"] = [g["params"] for g in gaps(rows, bits[0])]
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
    best float network that fits (:func:`quantlab.compression.budget_comparison`). Verdict:
    reproduced if (a) ECR <= :data:`ECR_WELL_BELOW` x naive (an exact or upper-bound ECR) and (b)
    share > :data:`BUDGET_WIN_SHARE`; partly reproduced if one of them; not reproduced if neither.
    """
    rows = _check(rows)
    table = compression.ecr_table(rows)
    tern = [t for t in table if t["bits"] == TERNARY]
    if not tern:
        raise ValueError("rows hold no retrained ternary results: claim 4 cannot be judged")
    largest = max(tern, key=lambda t: t["params"])
    a = largest["relation"] in ("=", "<=") and largest["ecr"] <= ECR_WELL_BELOW * largest["naive"]
    budget = compression.budget_comparison(rows)
    b = not math.isnan(budget["share"]) and budget["share"] > BUDGET_WIN_SHARE
    verdict = REPRODUCED if a and b else PARTLY if a or b else NOT_REPRODUCED
    ev = {
        "ecr_label": network_label(largest), "ecr_params": largest["params"], "ecr": largest["ecr"],
        "ecr_relation": largest["relation"], "ecr_text": largest["ecr_text"], "naive": largest["naive"],
        "ecr_float_params": largest["float_params"], "ecr_error_pp": 100 * largest["test_error"],
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
    retrained ``bits``-bit gap has vanished (:func:`gap_vanished`): its :func:`gaps` entry, or None
    when the largest network's gap has not vanished."""
    found = None
    for g in reversed(gaps(rows, bits)):
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
    g_few, g_full = gaps(subsets[few], TERNARY)[0], gaps(subsets[full], TERNARY)[0]
    se = math.hypot(*(0.0 if math.isnan(g["gap_se"]) else g["gap_se"] for g in (g_few, g_full)))
    lower = g_full["gap"] - g_few["gap"] > NOISE_SE_FACTOR * se
    verdict = REPRODUCED if smaller and monotone else PARTLY if smaller or lower else NOT_REPRODUCED
    name = {n: "all" if n is None else f"{n:,}" for n in order}
    label = {n: next((network_label(r) for r in subsets[n] if int(r["params"]) == sizes[n]), "none")
             for n in order}
    ev = {"subsets": [None if n is None else int(n) for n in order],
          "vanishing_params": [sizes[n] for n in order], "vanishing_labels": [label[n] for n in order],
          "smaller_with_less_data": smaller, "monotone": monotone,
          "small_label": g_full["label"], "small_gap_few": g_few["gap"], "small_gap_full": g_full["gap"],
          "small_gap_lower": lower}
    summary = ("gap vanishes from " + "; ".join(f"{label[n]} with {name[n]} examples" for n in order)
               + f"; smallest network's gap {g_few['gap']:+.2f} pp ({name[few]}) vs {g_full['gap']:+.2f} pp (all)")
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
"""The paper's four claims (paper.md, "Claims") and its explanation as a fifth. Claim 4 is judged on
the width and feature-map sweeps, whose float networks form one size curve; the depth sweep mixes
three widths. Claim 5 is this book's test, stated before its sweep ran, on the data sweep."""

CLAIM_SWEEPS = tuple(dict.fromkeys(s for c in CLAIMS for s in c.sweeps))
"""Every sweep some claim is judged on, in claim order."""


# -- loading and assessing -------------------------------------------------------------------

def load_rows(spec_name: str) -> list[dict]:
    """Tidy rows of a sweep (:func:`quantlab.results.tidy`: the store at ``$QUANTLAB_RESULTS`` or
    the repository's ``results/``). Reads only: missing records raise
    :class:`quantlab.results.MissingRecordsError`."""
    from quantlab import results

    return [dict(r) for r in results.tidy(spec_name)]


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


def assess_all(sweeps: Sequence[str] = SWEEPS) -> list[Finding]:
    """:func:`assess` on the stored rows of ``sweeps`` (those with no rows are left out)."""
    rows = {s: r for s in sweeps if (r := load_rows(s))}
    return assess(rows)


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


def depth_trend(rows: Sequence[Mapping[str, Any]], bits: int = TERNARY) -> list[dict]:
    """FFDNN rows with several depths per width: per width, the retrained gap (pp) at each depth and
    Spearman's rho between depth and gap (positive: deeper networks of that width have *larger*
    gaps). Supplementary evidence for claim 3 on the depth sweep, where the pooled correlation with
    the parameter count mixes widths. Each dict: ``width, depths, gaps, rho``."""
    rows = _check(rows)
    widths = sorted({int(r["width"]) for r in rows if r.get("width") is not None})
    if not widths:
        raise ValueError("rows have no 'width' field (FFDNN rows from quantlab.results.tidy)")
    out = []
    for w in widths:
        sub = [r for r in rows if r.get("width") == w]
        depth_of = {int(r["params"]): int(r["depth"]) for r in sub}
        gs = gaps(sub, bits)
        depths = [depth_of[g["params"]] for g in gs]
        out.append({"width": w, "depths": depths, "gaps": [g["gap"] for g in gs],
                    "rho": spearman(depths, [round(g["gap"], 6) for g in gs]) if len(gs) >= 2 else float("nan")})
    return out


def key_of(sweep: str) -> str:
    """A glue-key fragment of a sweep name: ``ffdnn-width -> ffdnn_width``."""
    return sweep.replace("-", "_")


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return f"{int(value):,}"
    if isinstance(value, (float, np.floating)):
        return "n/a" if math.isnan(value) else f"{value:.2f}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_text(v) for v in value)
    return str(value)


def glue_items(findings: Sequence[Finding]) -> dict[str, str]:
    """Display strings to glue into the report, all computed: per finding
    ``c{claim}_{sweep}_{verdict|summary|reason}`` and ``c{claim}_{sweep}_{evidence key}``
    (numbers formatted: counts with thousands separators, other numbers with 2 decimals), per claim
    ``c{claim}_overall``, and the thresholds as ``threshold_{name}``."""
    out: dict[str, str] = {}
    for f in findings:
        k = f"c{f.claim}_{key_of(f.sweep or 'rows')}"
        out[f"{k}_verdict"], out[f"{k}_summary"], out[f"{k}_reason"] = f.verdict, f.summary, f.reason
        for name, value in f.evidence.items():
            out[f"{k}_{name}"] = _text(value)
    for c in sorted({f.claim for f in findings}):
        out[f"c{c}_overall"] = overall(findings, c)
    for name in ("MIN_SMALL_GAP_PP", "NOISE_SE_FACTOR", "VANISHED_GAP_PP", "SHRINK_FRACTION", "SPEARMAN_MAX",
                 "ECR_WELL_BELOW", "BUDGET_WIN_SHARE"):
        out[f"threshold_{name}"] = f"{globals()[name]:g}"
    return out


def html_table(rows: Sequence[Mapping[str, Any]], columns: Mapping[str, str], numeric: Sequence[str] = (),
               wrap: Sequence[str] = ()) -> str:
    """An HTML table (for ``IPython.display.HTML`` in the book: myst-nb renders Markdown outputs as
    CommonMark, without tables) of ``rows`` with ``columns`` (field -> header). Values are written
    as they are (format them before) and escaped; ``numeric`` columns are right-aligned, and only
    ``wrap`` columns may wrap their text."""
    import html

    def cell(tag, field, text, wrap):
        style = "padding:0.25em 0.45em;" + ("text-align:right;" if field in numeric else "")
        style += "" if wrap else "white-space:nowrap;"
        return f'<{tag} style="{style}">{html.escape(str(text))}</{tag}>'

    head = "".join(cell("th", c, h, True) for c, h in columns.items())
    body = "".join("<tr>" + "".join(cell("td", c, r.get(c, ""), c in wrap) for c in columns) + "</tr>" for r in rows)
    return (f'<table class="table" style="font-size:0.85em;width:auto">'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


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


def plural(n: int, singular: str, plural_form: str | None = None) -> str:
    """``singular`` for n == 1, else ``plural_form`` (default: ``singular + "s"``)."""
    return singular if int(n) == 1 else (plural_form or singular + "s")


def count_phrase(k: int, n: int, noun: str, verb_singular: str, verb_plural: str, noun_plural: str | None = None) -> str:
    """``k of n <nouns> <verb>`` with the verb agreeing with ``k``: ``count_phrase(1, 3, "width",
    "has", "have")`` is ``1 of 3 widths has``; ``(2, 3, ...)`` is ``2 of 3 widths have``; ``(1, 1,
    ...)`` is ``1 of 1 width has``."""
    return f"{k} of {n} {plural(n, noun, noun_plural)} {verb_singular if int(k) == 1 else verb_plural}"
