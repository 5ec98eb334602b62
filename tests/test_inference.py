"""quantlab.analysis.inference: the book's stated tests, as properties (Hypothesis) on synthetic seed gaps.

The central property: noise never makes a claim easier. Spreading a set of seed gaps further around the
same mean can move an outcome from decided to inconclusive, never from "not vanished" to "vanished".
"""

from __future__ import annotations

import math
import statistics

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

import fakes
from quantlab.analysis import inference as I
from quantlab.analysis import report as R

seed_gaps = st.lists(st.floats(-20, 20, allow_nan=False), min_size=2, max_size=12)
thresholds = st.floats(-5, 5, allow_nan=False)
confidences = st.sampled_from([0.8, 0.9, 0.95, 0.99])


def summary(gaps):
    return statistics.fmean(gaps), statistics.stdev(gaps) / math.sqrt(len(gaps)), len(gaps)


def spread(gaps, k):
    """The summary of the same seed gaps k times further from their mean (k >= 1: noisier, same mean).
    Scaling the standard error keeps the mean exact; spreading the gaps themselves would move it by
    rounding, and a mean on the threshold would then cross it."""
    mean, se, n = summary(gaps)
    return mean, k * se, n


@settings(max_examples=300, deadline=None)
@given(seed_gaps, st.floats(1, 10), thresholds, confidences)
def test_noise_never_makes_vanished_easier(gaps, k, margin, confidence):
    before = I.within(*summary(gaps), margin, confidence)
    after = I.within(*spread(gaps, k), margin, confidence)
    if after == I.YES:
        assert before == I.YES
    if before == I.NO:
        assert after in (I.NO, I.INCONCLUSIVE)


@settings(max_examples=300, deadline=None)
@given(seed_gaps, st.floats(1, 10), thresholds, confidences)
@example([2.6784712740528915] * 3, 2.0, 2.6784712740528915, 0.8)  # a mean on the threshold, zero spread
def test_noise_never_makes_a_gap_exist(gaps, k, threshold, confidence):
    before = I.exceeds(*summary(gaps), threshold, confidence)
    after = I.exceeds(*spread(gaps, k), threshold, confidence)
    if after == I.YES:
        assert before == I.YES
    if after == I.NO:
        assert before == I.NO


@settings(max_examples=300, deadline=None)
@given(seed_gaps, thresholds, confidences)
def test_a_straddling_interval_is_inconclusive(gaps, threshold, confidence):
    mean, se, n = summary(gaps)
    lo, hi = I.bounds(mean, se, n, confidence)
    assert lo <= mean <= hi
    if lo < threshold < hi:
        assert I.within(mean, se, n, threshold, confidence) == I.INCONCLUSIVE
        assert I.exceeds(mean, se, n, threshold, confidence) == I.INCONCLUSIVE
    else:
        assert I.within(mean, se, n, threshold, confidence) != I.INCONCLUSIVE


@settings(max_examples=200, deadline=None)
@given(st.floats(-5, 5), st.floats(0.01, 5), thresholds, confidences)
def test_seeds_needed_is_the_fewest_that_decide(mean, std, threshold, confidence):
    assume(abs(mean - threshold) > 1e-3)
    n = I.seeds_needed(mean, std, threshold, confidence)
    assume(n is not None)

    def decided(k):
        return I.within(mean, std / math.sqrt(k), k, threshold, confidence) != I.INCONCLUSIVE

    assert decided(n)
    assert n == 2 or not decided(n - 1)


def test_bounds_are_students_t():
    lo, hi = I.bounds(1.0, 0.5, 3, 0.95)
    assert hi - 1.0 == pytest.approx(2.919986 * 0.5, rel=1e-6)  # t(0.95, 2 df)
    assert I.bounds(1.0, None, 1) == (-math.inf, math.inf)
    with pytest.raises(ValueError, match="confidence"):
        I.bounds(1.0, 0.5, 3, 1.5)


def test_differs_is_two_sided():
    assert I.differs(1.0, 0.1, 5) and I.differs(-1.0, 0.1, 5)
    assert not I.differs(0.1, 0.1, 3) and not I.differs(5.0, None, 1)


def test_rank_trend_needs_points_and_reads_direction():
    down = I.rank_trend([1, 2, 3, 4, 5, 6], [6, 5, 4, 3, 2, 1])
    assert down["outcome"] == "decreasing" and down["rho"] == pytest.approx(-1.0)
    assert I.rank_trend([1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6])["outcome"] == "increasing"
    with pytest.raises(ValueError, match="at least 3"):
        I.rank_trend([1, 2], [1, 2])


@settings(max_examples=60, deadline=None)
@given(st.floats(0, 1), st.lists(st.floats(0.0, 0.3), min_size=5, max_size=5))
def test_claim4_depends_only_on_how_often_the_ecr_picks_the_best(share, gaps):
    """Whatever the ECR values (set by the gaps), the verdict follows the share of budgets where the ECR's
    pick is the measured best network, and nothing else."""
    from unittest import mock

    rows = []
    for i, (p, g) in enumerate(zip([1_000, 4_000, 16_000, 64_000, 256_000], gaps)):
        f = 0.3 - 0.04 * i
        rows += fakes.rows({("float", 32): [f] * 3, ("retrain", 2): [f + g] * 3, ("retrain", 3): [f + g / 2] * 3},
                           p, control=f, trial=f"net-{p}", family="ffdnn")
    fixed = {"ecr_share": share, "naive_share": 0.0, "lo_bits": 1, "hi_bits": 2, "segments": []}
    with mock.patch.object(R.stats, "ecr_guidance", return_value=fixed):
        verdict = R.claim4(rows).verdict
    assert verdict == (R.REPRODUCED if share > R.BUDGET_WIN_SHARE else R.NOT_REPRODUCED)
