"""quantlab.rules: every quantizer rule's numerics, property-tested like quantlab.quantize."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from quantlab import vocabulary
from quantlab.numerics import quantize as qz
from quantlab.numerics import rules

# Nonzero weights of either sign, |w| in [1e-3, 3] (drawn, not filtered: no health check trips under load).
weights = arrays(np.float32, st.integers(4, 200),
                 elements=st.tuples(st.booleans(), st.floats(float(np.float32(1e-3)), 3, width=32)).map(
                     lambda t: t[1] if t[0] else -t[1]))


def l2_error(w, q):
    return float(np.sum((np.asarray(q, np.float64) - w) ** 2))


def quantized(name, w, bits):
    rule = rules.RULES[name]
    return np.asarray(rule.quantize(jnp.asarray(w), jnp.asarray(rule.init(w, bits)), bits))


@settings(max_examples=60, deadline=None)
@given(w=weights, bits=st.integers(2, 4))
def test_the_l2_rule_is_never_worse_than_absmax(w, bits):
    assert l2_error(w, quantized("l2", w, bits)) <= l2_error(w, quantized("absmax", w, bits)) * (1 + 1e-5) + 1e-9


@settings(max_examples=60, deadline=None)
@given(w=weights)
def test_the_l2_rule_is_the_best_symmetric_ternary_quantizer(w):
    """Any {-a, 0, +a} quantizer errs at least as much as nearest-level rounding to the best a,
    which is what the L2-optimal step finds: TWN's rule can only tie or lose."""
    assert l2_error(w, quantized("l2", w, 2)) <= l2_error(w, quantized("twn", w, 2)) * (1 + 1e-5) + 1e-9


@settings(max_examples=60, deadline=None)
@given(w=weights, bits=st.integers(2, 5))
def test_absmax_makes_the_largest_weight_a_level(w, bits):
    q = quantized("absmax", w, bits)
    top = np.max(np.abs(w))
    assert np.max(np.abs(q)) == pytest.approx(top, rel=1e-5)
    assert len(np.unique(q)) <= qz.num_levels(bits)


@settings(max_examples=60, deadline=None)
@given(w=weights)
def test_ternary_rules_follow_their_definitions(w):
    a = np.abs(w.astype(np.float64))
    t, pos, neg = rules.twn_params(w)
    assert t == pytest.approx(0.7 * a.mean(), rel=1e-5) and pos == neg
    above = np.abs(w) > t  # as the quantizer compares: float32 weights against the float32 threshold
    if above.any():
        assert pos == pytest.approx(a[above].mean(), rel=1e-4)
    q = quantized("twn", w, 2)
    assert set(np.unique(q)) <= {np.float32(-pos), np.float32(0), np.float32(pos)}
    assert np.all((q != 0) == above)
    t, pos, neg = rules.ttq_params(w)
    assert t == pytest.approx(0.05 * a.max(), rel=1e-5) and pos > 0 and neg > 0
    q = quantized("ttq", w, 2)
    assert np.all(q[w > t] == np.float32(pos)) and np.all(q[w < -t] == np.float32(-neg))


@settings(max_examples=30, deadline=None)
@given(w=weights)
def test_adaptive_updates_recompute_each_rule_on_the_device(w):
    x = jnp.asarray(w)
    np.testing.assert_allclose(rules.RULES["twn"].update(x, jnp.zeros(3), 2), rules.twn_params(w), rtol=1e-4)
    np.testing.assert_allclose(rules.RULES["absmax"].update(x, jnp.float32(1), 3), rules.absmax_step(w, 3), rtol=1e-5)
    q = jnp.asarray([9.0, 0.5, 0.25])
    np.testing.assert_allclose(rules.RULES["ttq"].update(x, q, 2), [0.05 * np.abs(w).max(), 0.5, 0.25], rtol=1e-5)


def test_ttq_trains_its_levels_and_scales_the_weights_gradient():
    w = jnp.array([0.5, -0.4, 0.01, 0.3, -0.02])
    q = jnp.array([0.1, 0.6, 0.3])
    upstream = jnp.array([1.0, 2.0, 3.0, 4.0, 5.0])
    f = lambda w, q: jnp.sum(rules.RULES["ttq"].straight_through(w, q, 2) * upstream)  # noqa: E731
    np.testing.assert_allclose(rules.RULES["ttq"].straight_through(w, q, 2), [0.6, -0.3, 0.0, 0.6, 0.0])
    gw, gq = jax.grad(f, argnums=(0, 1))(w, q)
    np.testing.assert_allclose(gq, [0.0, 1.0 + 4.0, -2.0])  # no gradient to the threshold
    np.testing.assert_allclose(gw, [0.6 * 1, 0.3 * 2, 1 * 3, 0.6 * 4, 1 * 5], rtol=1e-6)
    gw, gq = jax.grad(lambda w, q: jnp.sum(rules.RULES["twn"].straight_through(w, q, 2) * upstream),
                      argnums=(0, 1))(w, q)
    np.testing.assert_allclose(gw, upstream)
    np.testing.assert_allclose(gq, 0.0)


def test_ternary_rules_refuse_other_bit_widths():
    with pytest.raises(ValueError, match="quantizer 'ttq' is a ternary rule: bits must be 2; got 3"):
        rules.check_quantizer("ttq", (2, 3))
    with pytest.raises(ValueError, match="quantizer must be one of"):
        rules.check_quantizer("binary")
    assert rules.check_quantizer("absmax", (2, 8)).name == "absmax"
    assert tuple(rules.RULES) == rules.QUANTIZERS == vocabulary.QUANTIZERS
