"""Stated tests on seed statistics: every "beyond seed noise", "a gap exists" and "the gap has vanished" of
the book is one of these, with its error rate stated (scipy.stats; Student's t over the paired seeds).

A gap here is a mean over ``n`` seeds of paired per-seed differences (fractions), with its standard
error ``se = std / sqrt(n)``. The one-sided ``confidence`` bounds of the mean are
``mean -/+ t(confidence, n - 1) * se``, Student's t with ``n - 1`` degrees of freedom: under the usual
normal model of the seed-to-seed spread, each bound fails with probability ``1 - confidence``.

* :func:`exceeds` ("a gap of at least ``threshold`` exists"): ``"yes"`` when the lower bound is at least
  the threshold, ``"no"`` when the upper bound is below it, ``"inconclusive"`` when the interval
  straddles it.
* :func:`within` ("the gap has vanished": an equivalence test against a margin, the one-sided half of
  TOST): ``"yes"`` when the upper bound is at most the margin, ``"no"`` when the lower bound is above it,
  else ``"inconclusive"``. A noisier set of seeds widens the interval, so it can only move an outcome
  towards ``"inconclusive"``, never make "vanished" easier (tests/test_inference.py).
* :func:`differs` (two-sided "beyond seed noise" for the reviewer's checks and the rule comparisons):
  the two-sided ``confidence`` interval of the mean excludes 0.
* :func:`seeds_needed`: for an inconclusive outcome, the seeds that would settle it if the observed
  mean and spread held.
* :func:`rank_trend`: Spearman's rank correlation of per-seed points with its one-sided p-values.

With one seed (``se`` None or NaN) nothing can be decided: every outcome is ``"inconclusive"``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from scipy import stats as sps

CONFIDENCE = 0.95
"""The confidence of every one-sided bound of the book's verdicts and maps (error rate 5 % per bound)."""

OUTCOMES = ("yes", "no", "inconclusive")
YES, NO, INCONCLUSIVE = OUTCOMES

MAX_SEEDS = 1000
""":func:`seeds_needed` gives up (None) beyond this many seeds."""


def _t(confidence: float, n: int) -> float:
    return float(sps.t.ppf(confidence, n - 1))


def _known(se: float | None, n: int) -> bool:
    return n >= 2 and se is not None and not math.isnan(se)


def bounds(mean: float, se: float | None, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """One-sided ``confidence`` lower and upper bounds of a mean over ``n`` seeds with standard error
    ``se`` (same unit as ``mean``); ``(-inf, inf)`` with fewer than 2 seeds."""
    if not 0.5 <= confidence < 1:
        raise ValueError(f"confidence must be in [0.5, 1); got {confidence!r}")
    if not _known(se, n):
        return -math.inf, math.inf
    half = _t(confidence, n) * se
    return mean - half, mean + half


def exceeds(mean: float, se: float | None, n: int, threshold: float, confidence: float = CONFIDENCE) -> str:
    """Is the mean at least ``threshold``? ``"yes"`` (lower bound >= threshold), ``"no"`` (upper bound <
    threshold) or ``"inconclusive"``."""
    lo, hi = bounds(mean, se, n, confidence)
    return YES if lo >= threshold else NO if hi < threshold else INCONCLUSIVE


def within(mean: float, se: float | None, n: int, margin: float, confidence: float = CONFIDENCE) -> str:
    """Is the mean at most ``margin`` (an equivalence test)? ``"yes"`` (upper bound <= margin), ``"no"``
    (lower bound > margin) or ``"inconclusive"``."""
    lo, hi = bounds(mean, se, n, confidence)
    return YES if hi <= margin else NO if lo > margin else INCONCLUSIVE


def differs(mean: float, se: float | None, n: int, confidence: float = CONFIDENCE) -> bool:
    """Beyond seed noise: the two-sided ``confidence`` interval of the mean excludes 0 (False with one seed)."""
    lo, hi = bounds(mean, se, n, (1 + confidence) / 2)
    return lo > 0 or hi < 0


def seeds_needed(mean: float, std: float | None, threshold: float, confidence: float = CONFIDENCE) -> int | None:
    """The fewest seeds whose one-sided ``confidence`` bound would exclude ``threshold`` if the observed
    ``mean`` and per-seed ``std`` held; None when the mean equals the threshold, the spread is unknown, or
    more than :data:`MAX_SEEDS` would be needed."""
    if std is None or math.isnan(std) or mean == threshold:
        return None
    if std == 0:
        return 2
    distance = abs(mean - threshold)
    for n in range(2, MAX_SEEDS + 1):
        if _t(confidence, n) * std / math.sqrt(n) < distance:
            return n
    return None


def rank_trend(x: Sequence[float], y: Sequence[float], confidence: float = CONFIDENCE) -> dict:
    """Spearman's rank correlation of ``y`` with ``x`` over per-seed points (ties ranked by their mean
    rank), with one-sided p-values (scipy.stats.spearmanr): ``{"rho", "p_decreasing", "p_increasing",
    "points", "outcome"}``, the outcome ``"decreasing"`` / ``"increasing"`` when its p-value is below
    ``1 - confidence``, else ``"inconclusive"``."""
    if len(x) != len(y) or len(x) < 3:
        raise ValueError(f"a rank trend needs at least 3 (x, y) points of equal count; got {len(x)} and {len(y)}")
    rho = float(sps.spearmanr(x, y).statistic)
    p_less = float(sps.spearmanr(x, y, alternative="less").pvalue)
    p_greater = float(sps.spearmanr(x, y, alternative="greater").pvalue)
    alpha = 1 - confidence
    outcome = "decreasing" if p_less < alpha else "increasing" if p_greater < alpha else INCONCLUSIVE
    return {"rho": rho, "p_decreasing": p_less, "p_increasing": p_greater, "points": len(x), "outcome": outcome}


__all__ = ["CONFIDENCE", "INCONCLUSIVE", "MAX_SEEDS", "NO", "OUTCOMES", "YES", "bounds", "differs", "exceeds",
           "rank_trend", "seeds_needed", "within"]
