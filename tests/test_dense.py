"""The dense layer with a written-out backward pass (quantlab.nn.dense) against flax's nn.Dense.

Same parameters and initial values; forward and gradients equal up to float rounding for real
data and bit for bit where every sum is exactly representable (small integers), with and without
``vmap`` over seeds (how quantlab.training.train calls it).
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantlab.nn import models
from quantlab.nn.dense import Dense, dense


class Reference(nn.Module):
    """models.FFDNN written with nn.Dense."""

    width: int
    depth: int

    @nn.compact
    def __call__(self, images):
        x = images.astype(jnp.float32).reshape((images.shape[0], -1)) / 255.0
        for _ in range(self.depth):
            x = nn.relu(nn.Dense(self.width)(x))
        return nn.Dense(10)(x)


def loss(model, params, x, y):
    logits = model.apply({"params": params}, x)
    return -jnp.mean(jnp.take_along_axis(jax.nn.log_softmax(logits), y[:, None], axis=1))


def data(n, seed=0, shape=(8, 8, 1)):
    rng = np.random.default_rng(seed)
    return jnp.asarray(rng.integers(0, 256, (n, *shape), dtype=np.uint8)), jnp.asarray(rng.integers(0, 10, n))


@pytest.mark.parametrize("size", [(16, 1), (33, 3)])
def test_same_parameters_as_nn_dense(size):
    for seed in (0, 5):
        a = models.init_params(models.make_model("ffdnn", size), jax.random.key(seed), (8, 8, 1))
        b = models.init_params(Reference(*size), jax.random.key(seed), (8, 8, 1))
        assert jax.tree.structure(a) == jax.tree.structure(b)
        for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
            assert u.dtype == v.dtype == jnp.float32
            np.testing.assert_array_equal(u, v)


@pytest.mark.parametrize("seeds", [1, 3])
@pytest.mark.parametrize("size", [(16, 1), (64, 2)])
def test_loss_and_gradients_match_nn_dense_under_vmap(size, seeds):
    ours, ref = models.make_model("ffdnn", size), Reference(*size)
    keys = jnp.stack([jax.random.key(s) for s in range(seeds)])
    params = jax.vmap(lambda k: models.init_params(ours, k, (8, 8, 1)))(keys)
    x, y = data(40)
    grad = {m: jax.jit(jax.vmap(jax.value_and_grad(lambda p, m=m: loss(m, p, x, y)))) for m in (ours, ref)}
    (la, ga), (lb, gb) = grad[ours](params), grad[ref](params)
    np.testing.assert_allclose(la, lb, rtol=1e-6)
    for (path, u), v in zip(jax.tree_util.tree_flatten_with_path(ga)[0], jax.tree.leaves(gb)):
        assert u.shape == v.shape
        np.testing.assert_allclose(u, v, rtol=1e-5, atol=1e-6 * float(jnp.max(jnp.abs(v))),
                                   err_msg=jax.tree_util.keystr(path))


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 9), fan_in=st.integers(1, 12), fan_out=st.integers(1, 12), seed=st.integers(0, 2**16))
def test_exact_on_small_integers(n, fan_in, fan_out, seed):
    """Integer data: every product and sum is exact, so forward and all three gradients must be
    bit-identical to what autodiff of ``x @ kernel + bias`` gives."""
    rng = np.random.default_rng(seed)
    x, kernel, bias, dy = (
        jnp.asarray(rng.integers(-8, 9, shape), jnp.float32)
        for shape in ((n, fan_in), (fan_in, fan_out), (fan_out,), (n, fan_out))
    )

    def plain(x, kernel, bias):
        return x @ kernel + bias

    out, pullback = jax.vjp(dense, x, kernel, bias)
    ref_out, ref_pullback = jax.vjp(plain, x, kernel, bias)
    np.testing.assert_array_equal(out, ref_out)
    for u, v in zip(pullback(dy), ref_pullback(dy)):
        np.testing.assert_array_equal(u, v)


def test_layer_uses_the_input_width():
    params = Dense(7).init(jax.random.key(0), jnp.zeros((2, 5)))["params"]
    assert params["kernel"].shape == (5, 7) and params["bias"].shape == (7,)
