"""The fast CNN layer (quantlab.nn.conv) against the plain nn.Conv / lax.conv + nn.max_pool reference.

Equality is "up to float rounding" (allclose, float32 tolerances) for real-valued data, and exact
(bit for bit, ties included) where every sum is exactly representable (small integers), which pins
down the tie-breaking of the pooling gradient and the routing of gradients through SAME padding.
"""

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from quantlab.nn import conv, models
from quantlab.numerics import quantize as qz

SHAPES = [(28, 28, 1), (32, 32, 3)]
RTOL, ATOL = 2e-5, 2e-6  # float32: different summation order of the 9*C products


def reference_layer(x, kernel, bias):
    y = jax.lax.conv_general_dilated(x, kernel, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return nn.max_pool(nn.relu(y + bias), (2, 2), strides=(2, 2))


def cnns(features):
    return models.CNN(features), models.CNN(features, impl="lax")


def images(shape, n, seed):
    return jnp.asarray(np.random.default_rng(seed).integers(0, 256, (n, *shape), dtype=np.uint8))


def loss_fn(model, params, x, y):
    return optax.softmax_cross_entropy_with_integer_labels(model.apply({"params": params}, x), y).mean()


def assert_trees_close(a, b, rtol=RTOL, atol=ATOL):
    assert jax.tree.structure(a) == jax.tree.structure(b)
    for (path, u), v in zip(jax.tree_util.tree_flatten_with_path(a)[0], jax.tree.leaves(b)):
        scale = float(jnp.max(jnp.abs(v))) or 1.0
        np.testing.assert_allclose(u, v, rtol=rtol, atol=atol * scale, err_msg=jax.tree_util.keystr(path))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("features", [(4, 4, 8), (3, 5)])
def test_parameters_identical_to_nn_conv(shape, features):
    fused, ref = cnns(features)
    for seed in (0, 7):
        a = models.init_params(fused, jax.random.key(seed), shape)
        b = models.init_params(ref, jax.random.key(seed), shape)
        assert jax.tree_util.tree_flatten_with_path(a)[0].__len__() == 2 * len(features) + 2
        assert jax.tree.structure(a) == jax.tree.structure(b)
        assert [p for p, _ in jax.tree_util.tree_flatten_with_path(a)[0]] == [
            p for p, _ in jax.tree_util.tree_flatten_with_path(b)[0]
        ]
        for u, v in zip(jax.tree.leaves(a), jax.tree.leaves(b)):
            assert u.shape == v.shape and u.dtype == v.dtype
            np.testing.assert_array_equal(u, v)
    assert a["Conv_0"]["kernel"].shape == (3, 3, shape[2], features[0])
    assert set(a) == {f"Conv_{i}" for i in range(len(features))} | {"Dense_0"}


@pytest.mark.parametrize("shape", SHAPES)
def test_logits_and_gradients_match_lax_conv(shape):
    fused, ref = cnns((4, 4, 8))
    params = models.init_params(ref, jax.random.key(1), shape)
    x, y = images(shape, 16, 0), jnp.arange(16) % 10
    np.testing.assert_allclose(
        fused.apply({"params": params}, x), ref.apply({"params": params}, x), rtol=RTOL, atol=1e-5
    )
    ga = jax.jit(jax.grad(lambda p: loss_fn(fused, p, x, y)))(params)
    gb = jax.jit(jax.grad(lambda p: loss_fn(ref, p, x, y)))(params)
    assert_trees_close(ga, gb)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("shared_images", [False, True])
def test_vmapped_seeds_match_lax_conv(shape, shared_images):
    """As quantlab.training.train uses it: params [S, ...], per-seed (or shared) batches, vmap of value_and_grad."""
    seeds = 3
    fused, ref = cnns((4, 8))
    params = jax.vmap(lambda k: models.init_params(ref, k, shape))(jax.random.split(jax.random.key(2), seeds))
    if shared_images:
        x, axis = images(shape, 12, 1), None
    else:
        x, axis = jnp.stack([images(shape, 12, s) for s in range(seeds)]), 0
    y = jnp.arange(12) % 10

    def run(model):
        f = jax.value_and_grad(lambda p, xs: loss_fn(model, p, xs, y))
        return jax.jit(jax.vmap(f, in_axes=(0, axis)))(params, x)

    (la, ga), (lb, gb) = run(fused), run(ref)
    np.testing.assert_allclose(la, lb, rtol=RTOL)
    assert_trees_close(ga, gb)
    # and each seed equals its own unbatched computation
    grad = jax.jit(jax.grad(lambda p, xs: loss_fn(fused, p, xs, y)))
    for s in range(seeds):
        g_s = grad(jax.tree.map(lambda a: a[s], params), x if shared_images else x[s])
        assert_trees_close(jax.tree.map(lambda a: a[s], ga), g_s)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("bits", [2, 3])
def test_straight_through_quantized_forward_and_gradients_match(shape, bits):
    """Retraining's step. Quantized kernels make exactly tied pooling windows common, and which of
    two values that tie in exact arithmetic comes out larger depends on the summation order, so
    random data would route a few gradients differently (float rounding, but not small). Binary
    images (pixels 0 or 255), zero biases (the initial ones) and a power-of-two step make every
    forward sum exact: the forward passes agree bit for bit and the gradients up to rounding."""
    fused, ref = cnns((4, 4, 8))
    params = models.init_params(ref, jax.random.key(3), shape)
    mask = models.quantized_mask(params)
    steps = jax.tree.map(lambda q: jnp.float32(0.125 if q else 0.0), mask)
    x = images(shape, 8, 2) // 128 * 255
    y = jnp.arange(8)

    def run(model):
        def loss(p):
            return loss_fn(model, qz.tree_straight_through(p, mask, steps, bits), x, y)

        logits = model.apply({"params": qz.tree_quantize(params, mask, steps, bits)}, x)
        return logits, jax.jit(jax.grad(loss))(params)

    (logits_a, ga), (logits_b, gb) = run(fused), run(ref)
    np.testing.assert_array_equal(logits_a, logits_b)
    assert_trees_close(ga, gb)


def integer_problem(n, hw, c, d, seed):
    rng = np.random.default_rng(seed)
    h, w = hw
    x = rng.integers(0, 3, (n, h, w, c)).astype(np.float32)
    x[:, : h // 2, : w // 2] = 1.0  # a constant region: equal window values
    kernel = rng.integers(-1, 2, (3, 3, c, d)).astype(np.float32)
    bias = rng.integers(-2, 3, (d,)).astype(np.float32)
    g = rng.integers(-3, 4, (n, h // 2, w // 2, d)).astype(np.float32)
    return jnp.asarray(x), jnp.asarray(kernel), jnp.asarray(bias), jnp.asarray(g)


def assert_exact_like_reference(layer, x, kernel, bias, g):
    @jax.jit
    def forward_and_gradients(x, kernel, bias, g):
        return [(out, pull(g)) for out, pull in (jax.vjp(f, x, kernel, bias) for f in (layer, reference_layer))]

    (out_a, grads_a), (out_b, grads_b) = forward_and_gradients(x, kernel, bias, g)
    assert out_a.shape == out_b.shape == g.shape
    np.testing.assert_array_equal(out_a, out_b)
    for name, u, v in zip(("x", "kernel", "bias"), grads_a, grads_b):
        np.testing.assert_array_equal(u, v, err_msg=name)


@pytest.mark.parametrize("method", ["rows", "patch", "phase"])
@pytest.mark.parametrize("hw", [(28, 28), (7, 7), (5, 6), (2, 3)])
@pytest.mark.parametrize("c, d", [(1, 4), (3, 2), (5, 16)])
def test_layer_is_exact_on_integers_with_ties(method, hw, c, d):
    """Small integers make every sum exact in float32, so each form must agree with the reference
    bit for bit: forward, and gradients of x, kernel and bias, including the choice among tied
    maxima of a pooling window (many ties: the input is partly constant) and odd sizes (VALID
    pooling drops the last row / column)."""
    problem = integer_problem(2, hw, c, d, seed=hw[0] * 100 + c * 10 + d)
    assert_exact_like_reference(lambda *a: conv.conv_relu_pool(*a, method=method), *problem)


@pytest.mark.parametrize("method", ["auto", "rows", "patch", "phase"])
@pytest.mark.parametrize("chunk", [1, 2, 3])
def test_chunked_batches_are_exact(method, chunk):
    """The batch in chunks: 6 examples in 6 chunks (a lax.map loop), 3 or 2 (unrolled, chained)."""
    problem = integer_problem(6, (9, 8), 4, 8, seed=chunk)
    assert conv.plan((6, 9, 8, 4), (3, 3, 4, 8), method, chunk).chunk == chunk
    assert_exact_like_reference(lambda *a: conv.conv_relu_pool(*a, method=method, chunk=chunk), *problem)


def test_plan_defaults_and_errors():
    assert conv.plan((100, 28, 28, 1), (3, 3, 1, 32)) == conv.LayerPlan("phase", 25)
    assert conv.plan((100, 28, 28, 1), (3, 3, 1, 8)).method == "patch"
    assert conv.plan((100, 14, 14, 32), (3, 3, 32, 32)) == conv.LayerPlan("rows", 25)
    assert conv.plan((1000, 7, 7, 8), (3, 3, 8, 16)).chunk == 250
    assert conv.plan((7, 4, 4, 2), (3, 3, 2, 2), chunk=5).chunk == 1  # a divisor of N
    with pytest.raises(ValueError, match="method must be"):
        conv.plan((1, 4, 4, 1), (3, 3, 1, 1), "winograd")
    with pytest.raises(ValueError, match="kernel"):
        conv.conv_relu_pool(jnp.zeros((1, 4, 4, 2)), jnp.zeros((3, 3, 1, 1)), jnp.zeros(1))


def test_layer_under_vmap_and_jit_matches_per_seed_calls():
    rng = np.random.default_rng(5)
    x = jnp.asarray(rng.normal(size=(3, 4, 10, 10, 2)).astype(np.float32))
    k = jnp.asarray(rng.normal(size=(3, 3, 3, 2, 6)).astype(np.float32))
    b = jnp.asarray(rng.normal(size=(3, 6)).astype(np.float32))

    def f(x, k, b):
        return jnp.sum(jnp.sin(conv.conv_relu_pool(x, k, b)))

    batched = jax.jit(jax.vmap(jax.value_and_grad(f, argnums=(0, 1, 2))))(x, k, b)
    for s in range(3):
        single = jax.value_and_grad(f, argnums=(0, 1, 2))(x[s], k[s], b[s])
        assert_trees_close(jax.tree.map(lambda a: a[s], batched), single)
        ref = jax.value_and_grad(lambda *a: jnp.sum(jnp.sin(reference_layer(*a))), argnums=(0, 1, 2))(
            x[s], k[s], b[s]
        )
        assert_trees_close(single, ref)


def test_unknown_impl_raises():
    with pytest.raises(ValueError, match="impl must be"):
        models.init_params(models.CNN((2,), impl="cudnn"), jax.random.key(0), (28, 28, 1))
