"""Fixed-point signals: the unsigned quantizer, its exact step, the straight-through gradient, the
models' signal path, calibration, and the config and spec fields (synthetic data; the learning
property on real data is in tests/test_learning.py)."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from quantlab.experiments import spec as qspec
from quantlab.experiments import store as qstore
from quantlab.nn import models
from quantlab.numerics import quantize as qz
from quantlab.numerics import signals as sg
from quantlab.training.calibrate import signal_steps
from quantlab.training.experiment import TrialConfig

BITS = st.sampled_from([2, 3, 4])
# ReLU outputs: zeros and magnitudes from 1e-3 to 1e3.
VALUES = st.floats(0, 1e3, allow_nan=False, allow_infinity=False, width=32).filter(lambda v: v == 0 or v > 1e-3)
SIGNALS = hnp.arrays(np.float32, hnp.array_shapes(min_dims=1, max_dims=2, max_side=40), elements=VALUES)


def error64(x, step, bits):
    x = np.asarray(x, np.float64)
    return float(((np.asarray(sg.quantize_signal(jnp.asarray(x, jnp.float32), step, bits), np.float64) - x) ** 2).sum())


def brute_force_error(x, bits, grid_points=4001):
    """Smallest L2 error over a fine grid of steps, in float64 (an upper bound on the optimum)."""
    a = np.asarray(x, np.float64).ravel()[None, :]
    top = max(a.max(), 1e-12)
    grid = np.linspace(top / (4 * grid_points), 2.0 * top, grid_points)[:, None]
    errors = ((np.minimum(np.floor(a / grid + 0.5), sg.signal_levels(bits)) * grid - a) ** 2).sum(axis=1)
    return errors.min()


@settings(max_examples=40, deadline=None)
@given(SIGNALS, BITS)
def test_signal_step_is_never_beaten_by_a_brute_force_grid(x, bits):
    found = error64(x, sg.optimal_signal_step(x, bits), bits)
    scale = float((np.asarray(x, np.float64) ** 2).sum())
    assert found <= brute_force_error(x, bits) * (1 + 1e-5) + 1e-9 * scale


@settings(max_examples=40, deadline=None)
@given(SIGNALS, BITS)
def test_quantized_signals_take_only_the_stated_levels(x, bits):
    step = sg.optimal_signal_step(x, bits)
    k = np.asarray(sg.quantize_signal(x, step, bits), np.float64) / float(step)
    assert np.allclose(k, np.round(k), atol=1e-4)
    assert np.round(k).min() >= 0 and np.round(k).max() <= 2**bits - 1
    assert len(np.unique(np.round(k))) <= 2**bits


@settings(max_examples=40, deadline=None)
@given(hnp.arrays(np.float64, st.integers(1, 60), elements=st.floats(0, 100, allow_nan=False)),
       st.integers(1, 40), st.integers(1, 300))
def test_sliced_search_finds_the_same_optimum_as_one_sort(a, level, max_breakpoints):
    def err(d):
        return ((np.minimum(np.floor(a / d + 0.5), level) * d - a) ** 2).sum() if d > 0 else (a ** 2).sum()

    whole, sliced = qz.exact_step(a, level), qz.exact_step(a, level, max_breakpoints)
    assert err(sliced) <= err(whole) * (1 + 1e-12) + 1e-12
    assert err(whole) <= err(sliced) * (1 + 1e-12) + 1e-12


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(np.float64, st.integers(1, 60), elements=st.floats(0, 100, allow_nan=False)),
       st.integers(1, 40), st.floats(0, 200), st.floats(1e-3, 200), st.floats(0, 1))
def test_the_sliced_search_prunes_only_slices_that_cannot_hold_the_optimum(a, level, v, width, where):
    """Its lower bound of a slice's error is never above the error of any step in the slice."""
    a = np.sort(a)
    u = v + width
    d = v + width * max(where, 1e-6)  # a step in (v, u]
    excess = ((np.minimum(np.floor(a / d + 0.5), level) * d - a) ** 2).sum() - (a ** 2).sum()
    assert qz._error_floor(a, level, v, u) <= excess + 1e-9 * max((a ** 2).sum(), 1.0)


@settings(max_examples=30, deadline=None)
@given(SIGNALS, BITS)
def test_straight_through_gradient_passes_inside_the_range_only(x, bits):
    step = jnp.float32(sg.optimal_signal_step(x, bits))
    x = jnp.asarray(x)
    out = sg.straight_through_signal(x, step, bits)
    assert np.array_equal(out, sg.quantize_signal(x, step, bits))
    grad_x, grad_step = jax.grad(lambda v, s: jnp.sum(sg.straight_through_signal(v, s, bits)), (0, 1))(x, step)
    top = float(step) * (2**bits - 1)
    assert np.array_equal(np.asarray(grad_x), (np.asarray(x) <= np.float32(top)).astype(np.float32))
    assert float(grad_step) == 0.0  # calibrated steps stay fixed


def test_signal_step_rejects_what_is_not_a_relu_output():
    for bad, what in (([-1.0, 2.0], ">= 0"), ([np.nan], "NaN"), ([], "empty")):
        with pytest.raises(ValueError, match=what):
            sg.optimal_signal_step(np.asarray(bad, np.float32), 3)
    assert sg.optimal_signal_step(np.zeros(5, np.float32), 3) == 1.0
    with pytest.raises(ValueError, match="bits must be"):
        sg.Signals(jnp.ones(2), 1)


def test_pooling_then_quantizing_is_quantizing_then_pooling():
    x = jnp.maximum(jax.random.normal(jax.random.key(0), (2, 8, 8, 3)), 0)
    pool = lambda v: jax.lax.reduce_window(v, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")  # noqa: E731
    assert np.array_equal(pool(sg.quantize_signal(x, 0.3, 3)), sg.quantize_signal(pool(x), 0.3, 3))


@pytest.mark.parametrize("family,size", [("ffdnn", (16, 3)), ("cnn", (2, 4))])
def test_a_model_quantizes_every_hidden_signal_it_sows(family, size):
    model = models.make_model(family, size)
    params = models.init_params(model, jax.random.key(0), (28, 28, 1))
    images = jax.random.randint(jax.random.key(1), (5, 28, 28, 1), 0, 256).astype(jnp.uint8)
    logits, state = model.apply({"params": params}, images, mutable=["signals"])
    sown = state["signals"]
    assert len(sown) == (size[1] if family == "ffdnn" else len(size))
    # the activation-buffer count of the book (network_cost) is what the model passes on per example
    per_example = sum(v[0][0].size for v in sown.values())
    assert models.network_cost(family, size, (28, 28, 1))["signals"] == per_example
    assert np.array_equal(model.apply({"params": params}, images), logits)  # no signals: the float network
    steps = jnp.asarray([float(sg.optimal_signal_step(np.asarray(sown[f"signal_{i}"][0]), 2))
                         for i in range(len(sown))])
    fixed = sg.Signals(steps, 2)
    _, state = model.apply({"params": params}, images, fixed, mutable=["signals"])
    # the layer after the first sees its quantized input: its sown signal differs from the float one
    assert not np.allclose(state["signals"]["signal_1"][0], sown["signal_1"][0])
    assert not np.allclose(model.apply({"params": params}, images, fixed), logits)


def test_calibration_gives_each_seed_and_layer_its_own_optimal_step():
    model = models.make_model("ffdnn", (8, 2))
    params = jax.vmap(lambda k: models.init_params(model, k, (28, 28, 1)))(jax.random.split(jax.random.key(0), 3))
    images = jax.random.randint(jax.random.key(1), (50, 28, 28, 1), 0, 256).astype(jnp.uint8)
    signals = signal_steps(model, params, images, 3)
    assert signals.steps.shape == (3, 2) and signals.bits == 3
    one = jax.tree.map(lambda p: p[1], params)
    _, state = model.apply({"params": one}, images, mutable=["signals"])
    assert float(signals.steps[1, 1]) == float(sg.optimal_signal_step(np.asarray(state["signals"]["signal_1"][0]), 3))


def test_float_signal_configs_keep_the_keys_of_committed_records():
    plain = TrialConfig(size=(16, 3))
    assert "signal_bits" not in qstore.config_dict(plain) and "signal_calibration" not in qstore.config_dict(plain)
    fixed = dataclasses.replace(plain, signal_bits=3)
    assert fixed.signal_calibration == 256
    assert qstore.record_key(fixed, 0) != qstore.record_key(plain, 0)
    assert qstore.config_dict(fixed)["signal_bits"] == 3
    with pytest.raises(ValueError, match="signal_calibration needs signal_bits"):
        TrialConfig(signal_calibration=10)
    with pytest.raises(ValueError, match="bits must be"):
        TrialConfig(signal_bits=9)


def test_spec_lists_signal_word_lengths_with_float():
    spec = qspec.SweepSpec(name="t", sizes=[(8, 1)], signal_bits=["float", 3], signal_calibration=100)
    assert [c.signal_bits for c in spec.trials()] == [None, 3]
    assert [c.signal_calibration for c in spec.trials()] == [None, 100]
    for bad, match in ((["float", 1], "signal_bits entries"), ([3, 3], "more than once"), ("8", "non-empty list")):
        with pytest.raises(qspec.SpecError, match=match):
            qspec.SweepSpec(name="t", sizes=[(8, 1)], signal_bits=bad)
    with pytest.raises(qspec.SpecError, match="signal_calibration needs"):
        qspec.SweepSpec(name="t", sizes=[(8, 1)], signal_calibration=100)
