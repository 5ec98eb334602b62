"""A fast CPU form of the CNN's layer: 3x3 SAME convolution + bias, ReLU, 2x2 max pooling.

Why: with ``lax.conv`` under ``vmap`` over seeds (how ``quantlab.training.train`` trains several seeds at
once) XLA's CPU backend runs the per-seed kernels as a grouped convolution at a few GFLOP/s, and
even one seed's ``lax.conv`` is several times slower than PyTorch's oneDNN on this CPU. Here the
layer is written as large matrix products plus cheap data movement, with a hand-written backward
pass (``jax.custom_vjp``). Measured choices (bench/RESULTS.md has the numbers):

* **Convolution as matmuls.** Two forms, picked per layer from its input channels ``C``:

  - ``"rows"`` (``C >= 4``): the three horizontal neighbours of every pixel side by side,
    ``[N, H + 2, W, 3 C]``, times the kernel arranged as ``[3 C, 3 D]`` (rows ``(dx, c)``, columns
    ``(dy, d)``) gives, per padded row, the three vertical taps' partial sums; the output row ``h``
    adds row ``h + dy`` of tap ``dy``. Intermediates are 3 C and 3 D wide instead of the 9 C of
    full patches: half the memory traffic, which is what bounds this layer on a CPU.
  - ``"patch"`` / ``"phase"`` (``C < 4``, the input layer): the full 3x3 patches ``[N, H, W, 9 C]``
    times ``kernel.reshape(9 C, D)``; ``"phase"`` (when ``D >= 16``) orders the patches by their
    place in the pooling window, ``[4, N, H/2, W/2, 9 C]``, so that pooling and its gradient read
    and write contiguous blocks.

* **Pooling before ReLU** (``relu(max(y)) == max(relu(y))`` exactly), keeping the index of the first
  maximum of each 2x2 window (int8). The backward pass sends each pooled gradient to that pixel,
  exactly like XLA's ``select_and_scatter`` for ``nn.max_pool`` (window order (0,0), (0,1), (1,0),
  (1,1); no gradient where the pooled value is <= 0, as through ``nn.relu``). Pixels that VALID
  pooling drops (odd sizes) get no gradient, as in the reference.
* **Recompute, don't store:** the backward pass rebuilds the (cheap) neighbour arrays from the
  layer input instead of keeping them alive between the passes.
* **Cache-sized pieces:** a batch is processed in chunks whose intermediates fit in about 4 MiB
  (chained, so they run one after the other), e.g. 4 x 25 examples for 32 maps on 28x28.
* **Seeds one after the other** (``jax.custom_batching``): under ``vmap`` the layer loops over the
  seed axis (unrolled) instead of batching it, so each seed's intermediates stay in the cache
  (measured 15-20% faster per seed than batched matmuls, from 4 to 64 maps).

The result equals ``nn.max_pool(nn.relu(nn.Conv(D, (3, 3), padding="SAME")(x)), (2, 2), (2, 2))``
up to float rounding (the matmuls sum the 9 C products in another order than ``lax.conv``); with
exactly representable data (small integers) forward and gradients agree bit for bit, including the
choice among tied window values (tests/test_conv.py). Rounding can still decide between two values
that tie in exact arithmetic, which moves a gradient to another pixel of the window, as any change
of summation order (another CPU, a GPU) can.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import flax.linen as nn
import jax
import jax.numpy as jnp
from jax.custom_batching import custom_vmap

ALGORITHMS = ("auto", "rows", "patch", "phase")
ROWS_MIN_CHANNELS = 4  # "rows" from this many input channels on (measured: patches win for 1 and 3)
PHASE_MIN_MAPS = 16  # "phase" patches from this many output maps on (measured)
CHUNK_BYTES = 4 << 20  # intermediates per chunk of the batch (measured: 10-15% faster for 32 maps, neutral below)
MAX_UNROLLED_CHUNKS = 4  # more chunks (large evaluation batches) run in a lax.map loop


class LayerPlan(NamedTuple):
    """How one layer is computed (static): ``method`` and examples per ``chunk``."""

    method: str
    chunk: int


def plan(x_shape, kernel_shape, method: str = "auto", chunk: int | None = None) -> LayerPlan:
    """The :class:`LayerPlan` for an unbatched input ``[N, H, W, C]`` and kernel ``[3, 3, C, D]``."""
    if method not in ALGORITHMS:
        raise ValueError(f"method must be one of {ALGORITHMS}; got {method!r}")
    n, h, w, c = x_shape
    d = kernel_shape[-1]
    if method == "auto":
        method = "rows" if c >= ROWS_MIN_CHANNELS else "phase" if d >= PHASE_MIN_MAPS else "patch"
    if chunk is None:
        per_example = 4 * h * w * (3 * (c + d) if method == "rows" else 9 * c + d)
        chunk = max(1, CHUNK_BYTES // per_example)
    chunk = max(s for s in range(1, n + 1) if n % s == 0 and s <= max(1, chunk))  # a divisor of N
    return LayerPlan(method, chunk)


# ---- building blocks -----------------------------------------------------------------------------


def _pad(x):
    return jnp.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))


def patches(x: jax.Array) -> jax.Array:
    """``[N, H, W, C] -> [N, H, W, 9 C]``: the 3x3 SAME (zero-padded) neighbourhood of every pixel,
    ordered ``(dy, dx, c)`` to match ``kernel.reshape(9 C, D)`` of a ``[3, 3, C, D]`` kernel."""
    n, h, w, c = x.shape
    xp = _pad(x)
    return jnp.concatenate([xp[:, i : i + h, j : j + w] for i in range(3) for j in range(3)], axis=-1)


def fold(dp: jax.Array) -> jax.Array:
    """Adjoint of :func:`patches`: ``[N, H, W, 9 C] -> [N, H, W, C]``."""
    n, h, w, c9 = dp.shape
    c = c9 // 9
    dpp = _pad(dp)  # pixel (y, x) got tap (i, j) of the patch centred at (y - i + 1, x - j + 1)
    terms = [dpp[:, 2 - i : 2 - i + h, 2 - j : 2 - j + w, (3 * i + j) * c : (3 * i + j + 1) * c]
             for i in range(3) for j in range(3)]
    return sum(terms[1:], terms[0])


def _phase_patches(x):
    """``[N, H, W, C] -> [4, N, H//2, W//2, 9 C]``: the patches of the pixels that 2x2 pooling uses,
    grouped by their place ``2 a + b`` in the pooling window."""
    n, h, w, c = x.shape
    h2, w2 = h // 2, w // 2
    p = patches(x)[:, : 2 * h2, : 2 * w2].reshape(n, h2, 2, w2, 2, 9 * c)
    return p.transpose(2, 4, 0, 1, 3, 5).reshape(4, n, h2, w2, 9 * c)


def _rows(x):
    """``[N, H, W, C] -> [N, H + 2, W, 3 C]``: zero-padded rows with the three horizontal neighbours
    of every pixel side by side (``dx``-major)."""
    n, h, w, c = x.shape
    xp = _pad(x)
    return jnp.concatenate([xp[:, :, j : j + w] for j in range(3)], axis=-1)


def _row_kernel(kernel):
    """``[3, 3, C, D] -> [3 C, 3 D]``: rows ``(dx, c)``, columns ``(dy, d)``."""
    _, _, c, d = kernel.shape
    return kernel.transpose(1, 2, 0, 3).reshape(3 * c, 3 * d)


def _windows(y):
    """The four members of every 2x2 VALID window of ``[N, H, W, D]``, in window order."""
    n, h, w, d = y.shape
    h2, w2 = h // 2, w // 2
    y = y[:, : 2 * h2, : 2 * w2].reshape(n, h2, 2, w2, 2, d)
    return y[:, :, 0, :, 0], y[:, :, 0, :, 1], y[:, :, 1, :, 0], y[:, :, 1, :, 1]


# ---- one chunk, one seed -------------------------------------------------------------------------


def _forward(method, x, kernel, bias):
    """``(out, first)``: pooled ReLU output and the int8 window index of each maximum."""
    n, h, w, c = x.shape
    d = kernel.shape[-1]
    if method == "phase":
        y = _phase_patches(x).reshape(-1, 9 * c) @ kernel.reshape(9 * c, d)
        y = y.reshape(4, n, h // 2, w // 2, d) + bias
        members = y[0], y[1], y[2], y[3]
    elif method == "patch":
        y = patches(x).reshape(-1, 9 * c) @ kernel.reshape(9 * c, d)
        members = _windows(y.reshape(n, h, w, d) + bias)
    else:  # rows: y[h] = sum_dy z[h + dy, dy]
        z = (_rows(x).reshape(-1, 3 * c) @ _row_kernel(kernel)).reshape(n, h + 2, w, 3, d)
        members = _windows(z[:, 0:h, :, 0] + z[:, 1 : h + 1, :, 1] + z[:, 2 : h + 2, :, 2] + bias)
    y00, y01, y10, y11 = members
    m = jnp.maximum(jnp.maximum(y00, y01), jnp.maximum(y10, y11))
    first = jnp.where(y00 == m, 0, jnp.where(y01 == m, 1, jnp.where(y10 == m, 2, 3))).astype(jnp.int8)
    return jnp.maximum(m, 0.0), first


def _backward(method, x, kernel, out, first, g):
    """Gradients ``(dx, dkernel, dbias)`` for the output cotangent ``g``."""
    n, h, w, c = x.shape
    d = kernel.shape[-1]
    h2, w2 = g.shape[1], g.shape[2]
    g = jnp.where(out > 0, g, 0.0)  # ReLU: no gradient where the pooled value is <= 0
    db = jnp.sum(g, axis=(0, 1, 2))  # every pooled gradient lands on exactly one pixel

    if method == "phase":
        member = jnp.arange(4, dtype=jnp.int8).reshape(4, 1, 1, 1, 1)
        dy = jnp.where(first[None] == member, g[None], 0.0).reshape(-1, d)
        dk = (_phase_patches(x).reshape(-1, 9 * c).T @ dy).reshape(3, 3, c, d)
        dp = (dy @ kernel.reshape(9 * c, d).T).reshape(2, 2, n, h2, w2, 9 * c)
        dp = dp.transpose(2, 3, 0, 4, 1, 5).reshape(n, 2 * h2, 2 * w2, 9 * c)
        dp = jnp.pad(dp, ((0, 0), (0, h - 2 * h2), (0, w - 2 * w2), (0, 0)))  # dropped by pooling
        return fold(dp), dk, db

    # the pixel gradient: each pooled gradient at the first maximum of its window
    dy = jnp.stack([jnp.where(first == t, g, 0.0) for t in range(4)], axis=3)
    dy = dy.reshape(n, h2, w2, 2, 2, d).transpose(0, 1, 3, 2, 4, 5).reshape(n, 2 * h2, 2 * w2, d)
    dy = jnp.pad(dy, ((0, 0), (0, h - 2 * h2), (0, w - 2 * w2), (0, 0)))

    if method == "patch":
        dy = dy.reshape(-1, d)
        dk = (patches(x).reshape(-1, 9 * c).T @ dy).reshape(3, 3, c, d)
        dx = fold((dy @ kernel.reshape(9 * c, d).T).reshape(n, h, w, 9 * c))
        return dx, dk, db

    # rows: z[r, dy] fed y[r - dy], so dz[r, dy] = dy_pixels[r - dy] (zero outside)
    dz = jnp.stack([jnp.pad(dy, ((0, 0), (i, 2 - i), (0, 0), (0, 0))) for i in range(3)], axis=3)
    dk = (_rows(x).reshape(-1, 3 * c).T @ dz.reshape(-1, 3 * d)).reshape(3, c, 3, d).transpose(2, 0, 1, 3)
    dz = dz[:, 1 : h + 1].reshape(-1, 3 * d)  # only rows that hold pixels of x, not padding
    dxr = jnp.pad((dz @ _row_kernel(kernel).T).reshape(n, h, w, 3 * c), ((0, 0), (0, 0), (1, 1), (0, 0)))
    # pixel x' went to rows(x)[x, dx] with x' = x + dx - 1
    terms = [dxr[:, :, 2 - j : 2 - j + w, j * c : (j + 1) * c] for j in range(3)]
    return terms[0] + terms[1] + terms[2], dk, db


# ---- chunks of the batch, then seeds -------------------------------------------------------------


def _split(a, chunks):
    return a.reshape(chunks, a.shape[0] // chunks, *a.shape[1:])


def _merge(a):
    return a.reshape(-1, *a.shape[2:])


def _forward_chunks(p: LayerPlan, x, kernel, bias):
    chunks = x.shape[0] // p.chunk
    if chunks == 1:
        return _forward(p.method, x, kernel, bias)
    if chunks > MAX_UNROLLED_CHUNKS:
        out, first = jax.lax.map(lambda xi: _forward(p.method, xi, kernel, bias), _split(x, chunks))
        return _merge(out), _merge(first)
    results = []
    for i in range(chunks):
        xi = x[i * p.chunk : (i + 1) * p.chunk]
        if results:  # chain the chunks: one after the other, so that one chunk's data is live at a time
            results[-1], xi = jax.lax.optimization_barrier((results[-1], xi))
        results.append(_forward(p.method, xi, kernel, bias))
    return tuple(jnp.concatenate(parts) for parts in zip(*results))


def _backward_chunks(p: LayerPlan, x, kernel, out, first, g):
    chunks = x.shape[0] // p.chunk
    if chunks == 1:
        return _backward(p.method, x, kernel, out, first, g)
    if chunks > MAX_UNROLLED_CHUNKS:
        def step(acc, args):
            dx, dk, db = _backward(p.method, args[0], kernel, *args[1:])
            return (acc[0] + dk, acc[1] + db), dx

        zeros = (jnp.zeros_like(kernel), jnp.zeros(kernel.shape[-1], kernel.dtype))
        (dk, db), dx = jax.lax.scan(step, zeros, tuple(_split(a, chunks) for a in (x, out, first, g)))
        return _merge(dx), dk, db
    results = []
    for i in range(chunks):
        args = tuple(a[i * p.chunk : (i + 1) * p.chunk] for a in (x, out, first, g))
        if results:
            results[-1], args = jax.lax.optimization_barrier((results[-1], args))
        results.append(_backward(p.method, args[0], kernel, *args[1:]))
    dx = jnp.concatenate([r[0] for r in results])
    return dx, sum(r[1] for r in results[1:]) + results[0][1], sum(r[2] for r in results[1:]) + results[0][2]


def _seed_by_seed(f):
    """``f`` whose ``vmap`` runs the mapped (seed) axis as an unrolled loop of unbatched calls."""
    f = custom_vmap(f)

    @f.def_vmap
    def rule(axis_size, in_batched, *args):
        outs = [f(*[a[s] if b else a for a, b in zip(args, in_batched)]) for s in range(axis_size)]
        out = jax.tree.map(lambda *xs: jnp.stack(xs), *outs)
        return out, jax.tree.map(lambda _: True, out)

    return f


@functools.lru_cache(maxsize=None)
def _seeded(p: LayerPlan):
    return (_seed_by_seed(functools.partial(_forward_chunks, p)),
            _seed_by_seed(functools.partial(_backward_chunks, p)))


# ---- the differentiable layer --------------------------------------------------------------------


@functools.partial(jax.custom_vjp, nondiff_argnums=(0,))
def _layer(p: LayerPlan, x, kernel, bias):
    return _seeded(p)[0](x, kernel, bias)[0]


def _layer_fwd(p, x, kernel, bias):
    out, first = _seeded(p)[0](x, kernel, bias)
    return out, (x, kernel, out, first)


def _layer_bwd(p, residuals, g):
    return _seeded(p)[1](*residuals, g)


_layer.defvjp(_layer_fwd, _layer_bwd)


def conv_relu_pool(
    x: jax.Array, kernel: jax.Array, bias: jax.Array, *, method: str = "auto", chunk: int | None = None
) -> jax.Array:
    """``max_pool_2x2(relu(conv3x3_same(x, kernel) + bias))``: ``[N, H, W, C] -> [N, H//2, W//2, D]``
    for a float32 ``[3, 3, C, D]`` kernel and ``[D]`` bias (see the module docstring).

    ``method`` ("auto" | "rows" | "patch" | "phase") and ``chunk`` (examples per chunk, rounded
    down to a divisor of N) override the measured defaults; every choice computes the same function.
    Differentiable (reverse mode) in all three arguments, batchable with ``vmap``.
    """
    if x.ndim != 4 or kernel.shape[:2] != (3, 3) or kernel.shape[2] != x.shape[-1]:
        raise ValueError(f"need x [N, H, W, C] and kernel [3, 3, C, D]; got {x.shape} and {kernel.shape}")
    return _layer(plan(x.shape, kernel.shape, method, chunk), x, kernel, bias)


class ConvReluPool(nn.Module):
    """Linen layer computing :func:`conv_relu_pool`, with ``nn.Conv(features, (3, 3))``'s parameters:
    ``kernel`` ``[3, 3, C, features]`` (``lecun_normal``) and ``bias`` ``[features]`` (zeros), float32.
    Give it the name ``nn.Conv`` would get (``Conv_0``, ...) and its initial values are identical."""

    features: int

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        kernel = self.param(
            "kernel", nn.initializers.lecun_normal(), (3, 3, x.shape[-1], self.features), jnp.float32
        )
        bias = self.param("bias", nn.initializers.zeros_init(), (self.features,), jnp.float32)
        return conv_relu_pool(x, kernel, bias)
