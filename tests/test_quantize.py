"""Property tests of the quantizer numerics (Hypothesis) on random and trained-like weights."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from quantlab.numerics import quantize as qz

BITS = st.sampled_from([2, 3, 4])
# Magnitudes from 1e-3 to 1e3 keep float32 relative rounding far below the tested tolerances.
VALUES = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, width=32).filter(
    lambda v: v == 0 or abs(v) > 1e-3
)
WEIGHTS = hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=2, max_side=40), elements=VALUES)


def brute_force_error(w, bits, grid_points=4001):
    """Smallest L2 error over a fine grid of steps, in float64 (an upper bound on the optimum)."""
    a = np.abs(np.asarray(w, np.float64)).ravel()[None, :]
    top = max(a.max(), 1e-12)
    grid = np.linspace(top / grid_points, 2.0 * top, grid_points)[:, None]
    level = 2 ** (bits - 1) - 1
    errors = ((np.minimum(np.floor(a / grid + 0.5), level) * grid - a) ** 2).sum(axis=1)
    return errors.min()


def error64(w, step, bits):
    w = np.asarray(w, np.float64)
    return float(((np.asarray(qz.quantize(jnp.asarray(w, jnp.float32), step, bits), np.float64) - w) ** 2).sum())


@settings(max_examples=30, deadline=None)
@given(WEIGHTS, BITS)
def test_outputs_are_integer_multiples_of_step_within_range(w, bits):
    step = qz.optimal_step(w, bits)
    q = np.asarray(qz.quantize(w, step, bits), np.float64)
    k = q / float(step)
    assert np.allclose(k, np.round(k), atol=1e-4)
    assert np.abs(np.round(k)).max() <= qz.max_level(bits)
    assert float(step) > 0


@settings(max_examples=30, deadline=None)
@given(WEIGHTS, BITS)
def test_idempotent_and_odd(w, bits):
    step = qz.optimal_step(w, bits)
    q = qz.quantize(w, step, bits)
    again = qz.quantize(q, qz.optimal_step(q, bits), bits)
    assert np.allclose(again, q, rtol=1e-5, atol=1e-6 * float(step))
    assert np.array_equal(qz.quantize(-w, qz.optimal_step(-w, bits), bits), -q)


@settings(max_examples=30, deadline=None)
@given(WEIGHTS, BITS, st.floats(1e-2, 1e2))
def test_scale_equivariant(w, bits, c):
    q = qz.quantize(w, qz.optimal_step(w, bits), bits)
    scaled = np.float32(c) * w
    qs = qz.quantize(scaled, qz.optimal_step(scaled, bits), bits)
    # Equal up to float32 rounding of the step; an entry exactly half-way between two levels
    # may round either way, so compare the errors too.
    close = np.isclose(qs, np.float32(c) * q, rtol=1e-4, atol=1e-6 * float(np.abs(scaled).max()))
    assert close.mean() >= 0.99 or np.isclose(
        error64(scaled, qz.optimal_step(scaled, bits), bits), c * c * error64(w, qz.optimal_step(w, bits), bits),
        rtol=1e-3,
    )


@settings(max_examples=30, deadline=None)
@given(WEIGHTS, BITS)
def test_step_is_at_least_as_good_as_brute_force_grid(w, bits):
    """The stated tolerance: the exact step's error is within 1e-5 (relative) of the best grid step
    (and, being exact, usually below it)."""
    found = error64(w, qz.optimal_step(w, bits), bits)
    best_grid = brute_force_error(w, bits)
    scale = float((np.asarray(w, np.float64) ** 2).sum())
    assert found <= best_grid * (1 + 1e-5) + 1e-9 * scale


@pytest.mark.parametrize("bits", [2, 3])
def test_trained_like_weights_match_brute_force(bits):
    # Heavy-tailed, layer-sized weights as training produces (Laplace-like), 784x16.
    w = np.random.default_rng(1).laplace(0, 0.03, (784, 16)).astype(np.float32)
    found = error64(w, qz.optimal_step(w, bits), bits)
    assert found <= brute_force_error(w, bits, 8001) * (1 + 1e-5)


@settings(max_examples=40, deadline=None)
@given(WEIGHTS)
def test_ternary_has_at_most_three_values(w):
    q = qz.quantize(w, qz.optimal_step(w, 2), 2)
    assert len(np.unique(np.asarray(q))) <= 3


def test_ternary_step_of_two_symmetric_clusters():
    w = np.array([-1.0, -1.0, 1.0, 1.0, 0.01, -0.01], np.float32)
    step = float(qz.optimal_step(w, 2))
    assert step == pytest.approx(1.0, rel=1e-6)
    assert np.array_equal(qz.quantize(w, step, 2), [-1, -1, 1, 1, 0, 0])


def test_level_counts():
    assert [qz.num_levels(b) for b in (2, 3, 4)] == [3, 7, 15]
    assert [qz.max_level(b) for b in (2, 3, 4)] == [1, 3, 7]


def test_all_zero_weights_quantize_to_zero():
    w = np.zeros(5, np.float32)
    assert np.array_equal(qz.quantize(w, qz.optimal_step(w, 2), 2), w)


@pytest.mark.parametrize("bits", [1, 0, -2, 2.5, "2", True, None])
def test_invalid_bits_raise(bits):
    with pytest.raises(ValueError, match="bits must be an integer >= 2"):
        qz.optimal_step(np.ones(3, np.float32), bits)


@pytest.mark.parametrize(
    "w, message",
    [
        (np.zeros((0,), np.float32), "empty"),
        (np.array([1.0, np.nan], np.float32), "NaN or infinity"),
        (np.array([1.0, np.inf], np.float32), "NaN or infinity"),
        (np.array([1, 2], np.int32), "floating-point"),
    ],
)
def test_invalid_weights_raise(w, message):
    with pytest.raises(ValueError, match=message):
        qz.optimal_step(w, 2)


def test_straight_through_forward_is_quantized_and_gradient_is_identity():
    w = jnp.array([0.9, -0.2, 0.05, -1.4])
    step = qz.optimal_step(w, 2)
    forward = qz.straight_through(w, step, 2)
    assert np.array_equal(forward, qz.quantize(w, step, 2))
    grad = jax.grad(lambda v: jnp.sum(qz.straight_through(v, step, 2) * jnp.arange(4.0)))(w)
    assert np.array_equal(grad, np.arange(4.0))


def test_tree_functions_quantize_only_masked_leaves():
    params = {"dense": {"kernel": jnp.array([[0.5, -0.4], [0.02, 1.0]]), "bias": jnp.array([0.33, -0.1])}}
    mask = {"dense": {"kernel": True, "bias": False}}
    steps = qz.tree_steps(params, mask, 2)
    q = qz.tree_quantize(params, mask, steps, 2)
    assert np.array_equal(q["dense"]["bias"], params["dense"]["bias"])
    assert len(np.unique(q["dense"]["kernel"])) <= 3
    assert qz.masked_steps(steps, mask) == [pytest.approx(float(steps["dense"]["kernel"]))]
    assert float(qz.zero_fraction(q, mask)) == pytest.approx(0.25)
    kernel = np.asarray(params["dense"]["kernel"], np.float64)
    expected = np.sum((np.asarray(q["dense"]["kernel"]) - kernel) ** 2) / np.sum(kernel ** 2)
    assert qz.relative_error(params, q, mask) == pytest.approx(expected)  # biases do not count
    assert qz.relative_error(params, params, mask) == 0.0


@settings(max_examples=40, deadline=None)
@given(WEIGHTS, BITS, st.floats(0.3, 3.0))
def test_lloyd_step_never_increases_the_error_and_keeps_the_optimum(w, bits, scale):
    """One Lloyd iteration from any step lowers (or keeps) the L2 error; from the exact optimum it
    stays there (up to float32 rounding of the refit)."""
    best = qz.optimal_step(w, bits)
    start = np.float32(best * scale)
    moved = qz.lloyd_step(jnp.asarray(w), start, bits)
    assert error64(w, moved, bits) <= error64(w, start, bits) * (1 + 1e-5) + 1e-9
    at_best = float(qz.lloyd_step(jnp.asarray(w), best, bits))
    assert error64(w, at_best, bits) <= error64(w, best, bits) * (1 + 1e-5) + 1e-9


def test_lloyd_step_keeps_the_step_when_every_weight_rounds_to_zero():
    w = jnp.array([0.1, -0.2, 0.05], jnp.float32)
    assert float(qz.lloyd_step(w, 10.0, 2)) == 10.0
    tree = {"a": {"kernel": w, "bias": jnp.ones(3)}}
    mask = {"a": {"kernel": True, "bias": False}}
    steps = qz.tree_update(tree, mask, {"a": {"kernel": jnp.float32(0.1), "bias": jnp.float32(0.0)}}, 2)
    assert float(steps["a"]["bias"]) == 0.0 and float(steps["a"]["kernel"]) > 0


def test_step_error_curves_mark_the_exact_optimum():
    """The grid of relative errors is the formula's, shared by the bit widths, and never beats the optimum."""
    rng = np.random.default_rng(0)
    w = rng.normal(0, 0.05, (64, 64)).astype(np.float32)
    curves = qz.step_error_curves(w, (2, 3), num=101)
    assert np.array_equal(curves[2].steps, curves[3].steps) and len(curves[2].steps) == 101
    assert np.all(np.diff(curves[2].steps) > 0)
    assert curves[2].steps[-1] == pytest.approx(2.5 * max(c.best_step for c in curves.values()), rel=1e-6)
    for b, c in curves.items():
        assert c.best_step == pytest.approx(float(qz.optimal_step(w, b)))
        assert np.all(c.best_error <= c.errors + 1e-7)
        q = np.asarray(qz.quantize(w, c.steps[40], b))  # relative error: sum (Q - w)^2 / sum w^2
        assert c.errors[40] == pytest.approx(float(np.sum((q - w) ** 2) / np.sum(w * w)), rel=1e-4)
    with pytest.raises(ValueError, match="all weights are zero"):
        qz.step_error_curves(np.zeros(5), (2,))


@settings(max_examples=20, deadline=None)
@given(WEIGHTS, BITS)
def test_a_traced_bit_width_gives_the_same_floats(w, bits):
    """Retraining shares one compiled program between bit widths by tracing ``bits`` (the l2 rule): the
    quantized weights and the Lloyd step are then bit for bit those of a program compiled for one width."""
    step = np.float32(max(float(np.abs(w).max()), 1e-3) / 3)
    static = jax.jit(lambda w, s: (qz.quantize(w, s, bits), qz.lloyd_step(w, s, bits)))(w, step)
    traced = jax.jit(lambda w, s, b: (qz.quantize(w, s, b), qz.lloyd_step(w, s, b)))(w, step, np.int32(bits))
    for a, b in zip(static, traced):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert int(qz.max_level(jnp.int32(bits))) == qz.max_level(bits)
