"""quantlab.numerics.compression: memory in bits, N_F(e) interpolation, ECR, Pareto front, best network under a
budget."""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from quantlab.numerics import compression as C

# -- memory and naive ratio -------------------------------------------------------------------


def test_memory_bits_float_and_quantized():
    assert C.memory_bits(1000, 990, 32) == 32_000
    assert C.memory_bits(1000, 990, 2) == 990 * 2 + 10 * 32
    assert C.memory_bits(1000, 990, 3) == 990 * 3 + 10 * 32
    assert C.memory_bits(1000, 1000, 2) == 2000


@settings(deadline=None)  # a timing limit fails on a loaded machine
@given(st.integers(1, 10**8), st.data(), st.integers(1, 32))
def test_memory_bits_between_all_quantized_and_all_float(params, data, bits):
    weights = data.draw(st.integers(0, params))
    m = C.memory_bits(params, weights, bits)
    assert params * bits <= m <= params * 32


def test_naive_ratio():
    assert C.naive_ratio(2) == 16
    assert C.naive_ratio(3) == pytest.approx(32 / 3)
    assert C.naive_ratio(32) == 1


@pytest.mark.parametrize(
    "args, exc, field",
    [
        ((10, 11, 2), ValueError, "weights"),
        ((0, 0, 2), ValueError, "params"),
        ((10, -1, 2), ValueError, "weights"),
        ((10, 5, 0), ValueError, "bits"),
        ((10, 5, 33), ValueError, "bits"),
        ((10, 5, 2.5), TypeError, "bits"),
        ((True, 1, 2), TypeError, "params"),
        (("10", 5, 2), TypeError, "params"),
    ],
)
def test_memory_bits_rejects_bad_input_naming_the_field(args, exc, field):
    with pytest.raises(exc, match=field):
        C.memory_bits(*args)


# -- N_F(e) -----------------------------------------------------------------------------------

SIZES = [1_000, 4_000, 16_000, 64_000]
ERRS = [0.30, 0.20, 0.15, 0.12]


def test_interpolation_hits_sweep_points_exactly():
    for p, e in zip(SIZES, ERRS):
        nf = C.float_params_for_error(e, SIZES, ERRS)
        assert nf == (float(p), C.IN_RANGE)
        assert nf.relation == "="


def test_interpolation_is_log_linear_between_points():
    nf = C.float_params_for_error(0.25, SIZES, ERRS)  # halfway between 1k (0.30) and 4k (0.20)
    assert nf.flag == C.IN_RANGE
    assert nf.params == pytest.approx(2_000)  # geometric mean


def test_out_of_range_is_flagged_not_extrapolated():
    above = C.float_params_for_error(0.10, SIZES, ERRS)
    assert above == (64_000.0, C.ABOVE_RANGE) and above.relation == ">="
    below = C.float_params_for_error(0.40, SIZES, ERRS)
    assert below == (1_000.0, C.BELOW_RANGE) and below.relation == "<="


def test_seeds_are_averaged_per_size():
    params = [1000, 1000, 4000, 4000]
    errs = [0.28, 0.32, 0.19, 0.21]  # means 0.30, 0.20
    assert C.float_params_for_error(0.25, params, errs).params == pytest.approx(2000)
    assert C.float_params_for_error(0.20, params, errs) == (4000.0, C.IN_RANGE)


def test_non_monotone_float_curve_uses_running_minimum():
    sizes = [1_000, 2_000, 4_000, 8_000]
    errs = [0.20, 0.22, 0.15, 0.16]  # 2k and 8k are worse than a smaller network
    curve = C.float_curve(sizes, errs)
    assert list(curve.envelope) == [0.20, 0.20, 0.15, 0.15]
    # the error of the 2k network is reached by the 1k one already
    assert C.float_params_for_error(0.22, sizes, errs) == (1_000.0, C.BELOW_RANGE)
    # on the flat stretch the smaller size is taken
    assert C.float_params_for_error(0.20, sizes, errs) == (1_000.0, C.IN_RANGE)
    assert C.float_params_for_error(0.15, sizes, errs) == (4_000.0, C.IN_RANGE)
    # interpolation runs along the envelope: between 2k (envelope 0.20) and 4k (0.15)
    assert C.float_params_for_error(0.175, sizes, errs).params == pytest.approx(math.sqrt(2_000 * 4_000))
    assert C.float_params_for_error(0.149, sizes, errs) == (8_000.0, C.ABOVE_RANGE)


curves = st.lists(
    st.tuples(st.integers(1, 10**7), st.floats(0.0, 1.0, allow_nan=False)), min_size=1, max_size=12,
    unique_by=lambda t: t[0],
)


@settings(max_examples=200, deadline=None)  # a timing limit would fail on a loaded CI machine
@given(curves, st.floats(0.0, 1.0), st.floats(0.0, 1.0))
def test_nf_is_monotone_non_increasing_in_error(curve, e1, e2):
    sizes, errs = zip(*curve)
    lo, hi = sorted((e1, e2))
    assert C.float_params_for_error(lo, sizes, errs).params >= C.float_params_for_error(hi, sizes, errs).params


@settings(max_examples=200, deadline=None)  # a timing limit would fail on a loaded CI machine
@given(curves, st.floats(0.0, 1.0))
def test_nf_stays_within_the_sweep_and_flags_match(curve, e):
    sizes, errs = zip(*curve)
    nf = C.float_params_for_error(e, sizes, errs)
    assert min(sizes) <= nf.params <= max(sizes)
    env = C.float_curve(sizes, errs).envelope
    if e < env[-1]:
        assert nf.flag == C.ABOVE_RANGE
    elif e > env[0]:
        assert nf.flag == C.BELOW_RANGE
    else:
        assert nf.flag == C.IN_RANGE


@settings(max_examples=200, deadline=None)  # a timing limit would fail on a loaded CI machine
@given(curves)
def test_nf_hits_every_envelope_point(curve):
    sizes, errs = zip(*curve)
    c = C.float_curve(sizes, errs)
    for i, (p, env) in enumerate(zip(c.params, c.envelope)):
        first = int(next(j for j in range(len(c.envelope)) if c.envelope[j] <= env))
        assert C.float_params_for_error(float(env), sizes, errs) == (float(c.params[first]), C.IN_RANGE)
        if i == first:
            assert c.params[first] == p


@pytest.mark.parametrize(
    "args, exc, field",
    [
        ((12.5, SIZES, ERRS), ValueError, "error"),  # percent, not a fraction
        ((float("nan"), SIZES, ERRS), ValueError, "error"),
        ((0.2, SIZES, ERRS[:-1]), ValueError, "float_params"),
        ((0.2, [], []), ValueError, "float_params"),
        ((0.2, SIZES, [0.3, 0.2, 15.0, 0.12]), ValueError, "float_errors"),
        ((0.2, [1000, 0, 3, 4], ERRS), ValueError, "float_params"),
        ((0.2, "abcd", ERRS), TypeError, "float_params"),
        (("0.2", SIZES, ERRS), TypeError, "error"),
    ],
)
def test_nf_rejects_bad_input_naming_the_field(args, exc, field):
    with pytest.raises(exc, match=field):
        C.float_params_for_error(*args)


# -- ECR --------------------------------------------------------------------------------------


def test_ecr_by_hand():
    # quantized network: 16,000 params, 15,900 ternary weights, error 0.20 = float error at 4,000 params
    e = C.effective_compression_ratio(0.20, 16_000, 15_900, 2, SIZES, ERRS)
    q_bits = 15_900 * 2 + 100 * 32
    assert e.quantized_bits == q_bits
    assert e.float_bits == 4_000 * 32
    assert e.value == pytest.approx(4_000 * 32 / q_bits)
    assert e.relation == "=" and e.naive == 16
    assert e.text == f"{4_000 * 32 / q_bits:.3g}"


def test_ecr_bounds_outside_the_sweep():
    better = C.effective_compression_ratio(0.05, 64_000, 63_000, 2, SIZES, ERRS)
    assert better.relation == ">=" and better.text.startswith(">= ")
    assert better.value == pytest.approx(64_000 * 32 / (63_000 * 2 + 1_000 * 32))
    worse = C.effective_compression_ratio(0.9, 64_000, 63_000, 2, SIZES, ERRS)
    assert worse.relation == "<=" and worse.text.startswith("<= ")


@settings(max_examples=300, deadline=None)  # a timing limit would fail on a loaded CI machine
@given(curves, st.data(), st.sampled_from([2, 3, 4, 8]))
def test_ecr_at_most_naive_when_quantized_is_no_better_than_float_at_its_size(curve, data, bits):
    """If Q is no better than the float envelope at its own size, N_F <= N_Q, so ECR <= 32 / b."""
    sizes, errs = zip(*curve)
    c = C.float_curve(sizes, errs)
    i = data.draw(st.integers(0, len(c.params) - 1))
    params = int(c.params[i])
    weights = data.draw(st.integers(0, params))
    e_q = data.draw(st.floats(float(c.envelope[i]), 1.0))
    ecr = C.effective_compression_ratio(e_q, params, weights, bits, sizes, errs)
    assert ecr.value <= C.naive_ratio(bits) * (1 + 1e-9)
    assert ecr.relation in ("=", "<=")


@settings(max_examples=200, deadline=None)  # a timing limit would fail on a loaded CI machine
@given(curves, st.floats(0.0, 1.0), st.integers(1, 10**6), st.sampled_from([2, 3]))
def test_ecr_decreases_as_quantized_error_grows(curve, e, params, bits):
    sizes, errs = zip(*curve)
    assume(e + 0.01 <= 1.0)
    a = C.effective_compression_ratio(e, params, params, bits, sizes, errs)
    b = C.effective_compression_ratio(e + 0.01, params, params, bits, sizes, errs)
    assert b.value <= a.value * (1 + 1e-12)


# -- tables -----------------------------------------------------------------------------------


points = st.lists(
    st.fixed_dictionaries({"weight_bits": st.integers(1, 10**6), "test_error": st.floats(0, 1)}),
    min_size=1, max_size=30,
)


@given(points)
def test_pareto_front_is_exactly_the_undominated_points(pts):
    front = C.pareto_front(pts)
    mem = [p["weight_bits"] for p in front]
    err = [p["test_error"] for p in front]
    assert mem == sorted(mem) and all(a > b for a, b in zip(err, err[1:]))

    def dominated(p):
        return any(q["weight_bits"] <= p["weight_bits"] and q["test_error"] <= p["test_error"]
                   and (q["weight_bits"] < p["weight_bits"] or q["test_error"] < p["test_error"]) for q in pts)

    for p in front:
        assert not dominated(p)
    # every undominated (memory, error) pair is on the front
    front_pairs = {(p["weight_bits"], p["test_error"]) for p in front}
    for p in pts:
        if not dominated(p):
            assert (p["weight_bits"], p["test_error"]) in front_pairs


@given(points, st.integers(1, 10**6))
def test_best_under_budget_is_on_the_front(pts, budget):
    best = C.best_under_budget(pts, budget)
    if best is None:
        assert all(p["weight_bits"] > budget for p in pts)
    else:
        front = [p for p in C.pareto_front(pts) if p["weight_bits"] <= budget]
        assert best["test_error"] == front[-1]["test_error"]
