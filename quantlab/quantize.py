"""Uniform symmetric mid-tread weight quantization with the L2-optimal step.

Numerics only (no calibration policy, no layers): every function here is pure and works on plain
arrays or on parameter pytrees.

For ``b`` bits the quantizer has ``M = 2**b - 1`` levels ``{-L, ..., 0, ..., +L} * step`` with
``L = (M - 1) / 2 = 2**(b - 1) - 1``: ``b = 2`` is ternary ``{-step, 0, +step}``, ``b = 3`` gives
``-3 step .. +3 step``::

    Q(w) = sign(w) * step * min(floor(|w| / step + 1/2), L)

The step of a layer is the one that minimises the L2 error ``sum_i (Q(w_i) - w_i)**2`` of that
layer's weights (:func:`optimal_step`), found exactly rather than by a fixed heuristic.
"""

from __future__ import annotations

import functools
import numbers
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

PyTree = Any


def check_bits(bits: Any) -> int:
    """Returns ``bits`` as an int, or raises ValueError unless it is an integer >= 2."""
    if isinstance(bits, bool) or not isinstance(bits, numbers.Integral) or bits < 2:
        raise ValueError(
            f"bits must be an integer >= 2 (2 = ternary with 3 levels, 3 = 7 levels, b = 2**b - 1 "
            f"levels); got {bits!r}"
        )
    return int(bits)


def num_levels(bits: int) -> int:
    """Number of quantization levels ``M = 2**bits - 1`` (3 for ternary)."""
    return 2 ** check_bits(bits) - 1


def max_level(bits: int) -> int:
    """Largest integer level ``L = (M - 1) / 2``: weights become ``k * step`` with ``|k| <= L``."""
    return 2 ** (check_bits(bits) - 1) - 1


def quantize(w: jax.Array, step: jax.Array, bits: int) -> jax.Array:
    """Quantizes ``w`` (any shape) with a scalar ``step`` > 0 to ``2**bits - 1`` levels.

    Returns an array of ``w``'s shape and dtype whose entries are ``k * step``, ``|k| <= L``.
    """
    level = max_level(bits)
    k = jnp.minimum(jnp.floor(jnp.abs(w) / step + 0.5), level)
    return jnp.sign(w) * (step * k)


def _check_weights(w: Any) -> jax.Array:
    w = jnp.asarray(w)
    if w.size == 0:
        raise ValueError("cannot quantize an empty weight array (size 0)")
    if not jnp.issubdtype(w.dtype, jnp.floating):
        raise ValueError(f"weights must be a floating-point array; got dtype {w.dtype}")
    if not isinstance(w, jax.core.Tracer) and not bool(jnp.all(jnp.isfinite(w))):
        raise ValueError("weights contain NaN or infinity; the L2-optimal step is undefined")
    return w


@functools.partial(jax.jit, static_argnames="bits")
def _optimal_step(w: jax.Array, bits: int) -> jax.Array:
    a = jnp.abs(w).ravel().astype(jnp.float32)
    n = a.shape[0]
    level = max_level(bits)
    j = jnp.arange(1, level + 1, dtype=jnp.float32)
    # Weight i reaches level >= j exactly when step <= a_i / (j - 1/2): a breakpoint.
    breaks = (a[:, None] / (j - 0.5)).ravel()
    gain_kw = jnp.broadcast_to(a[:, None], (n, level)).ravel()  # k_i a_i grows by a_i
    gain_kk = jnp.broadcast_to(2.0 * j - 1.0, (n, level)).ravel()  # k_i^2 grows by 2j - 1
    neg_breaks, gain_kw, gain_kk = jax.lax.sort((-breaks, gain_kw, gain_kk), num_keys=1)
    hi = -neg_breaks  # descending breakpoints
    lo = jnp.concatenate([hi[1:], jnp.zeros((1,), hi.dtype)])
    s_kw = jnp.cumsum(gain_kw)  # sum_i k_i a_i on the interval (lo[r], hi[r]]
    s_kk = jnp.cumsum(gain_kk)  # sum_i k_i^2 on that interval
    candidate = jnp.clip(s_kw / s_kk, lo, hi)
    excess = candidate * (candidate * s_kk - 2.0 * s_kw)  # error minus the constant sum a^2
    step = candidate[jnp.argmin(excess)]

    def lloyd(_, step):  # polish: never increases the error, removes cumsum rounding
        k = jnp.minimum(jnp.floor(a / step + 0.5), level)
        return jnp.where(jnp.sum(k * k) > 0, jnp.sum(k * a) / jnp.maximum(jnp.sum(k * k), 1.0), step)

    step = jnp.where(step > 0, step, 1.0)  # all-zero weights: any step gives Q(w) = 0
    return jax.lax.fori_loop(0, 2, lloyd, step)


def optimal_step(w: jax.Array, bits: int) -> jax.Array:
    """The step ``D > 0`` minimising ``sum (Q_D(w) - w)**2`` over all ``D``; a float32 scalar.

    Algorithm (exact, O(n L log(n L)) for n weights): for a fixed assignment of weights to levels
    ``k_i`` the error is a quadratic in ``D`` minimised at ``sum k_i |w_i| / sum k_i**2``. The
    assignment only changes at the breakpoints ``D = |w_i| / (j - 1/2)``, ``j = 1..L``. Sorting the
    breakpoints and taking running sums gives, on every interval between consecutive breakpoints,
    the constrained minimiser and its error; the best interval holds the global optimum. Two Lloyd
    steps (re-assign, re-fit) then remove float32 rounding of the running sums; each step can only
    lower the error. All-zero weights return step 1 (every step quantizes them to 0). Zero
    weights never reach a nonzero level for D > 0, so padding with zeros does not change the result.

    Args:
      w: weights of one layer, any shape, finite, non-empty.
      bits: bit width b >= 2.
    """
    w, bits = _check_weights(w), check_bits(bits)
    if not isinstance(w, jax.core.Tracer):  # pad eager calls to a power of two: fewer compilations
        w = w.ravel()
        w = jnp.pad(w, (0, max(64, 1 << (w.size - 1).bit_length()) - w.size))
    return _optimal_step(w, bits)


def quantization_error(w: jax.Array, step: jax.Array, bits: int) -> jax.Array:
    """L2 quantization error ``sum (Q(w) - w)**2``, a scalar."""
    return jnp.sum((quantize(w, step, bits) - w) ** 2)


def straight_through(w: jax.Array, step: jax.Array, bits: int) -> jax.Array:
    """``Q(w)`` in the forward pass, identity gradient to ``w`` in the backward pass.

    Used for retraining: the loss sees quantized weights, the gradient updates the float shadow
    weights ``w``, which are re-quantized at the next step.
    """
    return w + jax.lax.stop_gradient(quantize(w, step, bits) - w)


# ---- pytrees -------------------------------------------------------------------------------------
# ``mask`` is a pytree of bools with the structure of ``params``: True marks a weight array that is
# quantized (dense and conv kernels), False one that stays float (biases). Models provide it
# (``quantlab.models.quantized_mask``); nothing here guesses it from leaf names.


def tree_steps(params: PyTree, mask: PyTree, bits: int) -> PyTree:
    """Optimal step per quantized leaf; unquantized leaves get step 0 (a float32 scalar)."""
    return jax.tree.map(
        lambda w, q: optimal_step(w, bits) if q else jnp.zeros((), jnp.float32), params, mask
    )


def tree_quantize(params: PyTree, mask: PyTree, steps: PyTree, bits: int) -> PyTree:
    """Quantizes the masked leaves of ``params`` with their ``steps``; other leaves pass through."""
    return jax.tree.map(
        lambda w, q, s: quantize(w, s, bits) if q else w, params, mask, steps
    )


def tree_straight_through(params: PyTree, mask: PyTree, steps: PyTree, bits: int) -> PyTree:
    """:func:`straight_through` on the masked leaves of ``params``."""
    return jax.tree.map(
        lambda w, q, s: straight_through(w, s, bits) if q else w, params, mask, steps
    )


def zero_fraction(params: PyTree, mask: PyTree) -> jax.Array:
    """Fraction of exactly-zero entries among all masked (quantized) weights, a scalar."""
    leaves = [w for w, q in zip(jax.tree.leaves(params), jax.tree.leaves(mask)) if q]
    zeros = sum(jnp.sum(w == 0) for w in leaves)
    return zeros / sum(w.size for w in leaves)


def masked_steps(steps: PyTree, mask: PyTree) -> list[float]:
    """The steps of the quantized leaves, in tree order, as Python floats (for records)."""
    return [
        float(np.asarray(s)) for s, q in zip(jax.tree.leaves(steps), jax.tree.leaves(mask)) if q
    ]
