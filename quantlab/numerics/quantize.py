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

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from quantlab.config import MAX_BITS as MAX_BITS  # re-exported: the bit-width check lives in config
from quantlab.config import check_bits

PyTree = Any

def num_levels(bits: int) -> int:
    """Number of quantization levels ``M = 2**bits - 1`` (3 for ternary)."""
    return 2 ** check_bits(bits) - 1


def max_level(bits: int | jax.Array) -> int | jax.Array:
    """Largest integer level ``L = (M - 1) / 2``: weights become ``k * step`` with ``|k| <= L``. ``bits``
    may be an integer array traced in a program shared by several bit widths (then L is an array; the
    quantizers use it only as a clip level, which is exact either way)."""
    if isinstance(bits, jax.Array):
        return jnp.left_shift(1, bits - 1) - 1
    return 2 ** (check_bits(bits) - 1) - 1


def quantize(w: jax.Array, step: jax.Array, bits: int) -> jax.Array:
    """Quantizes ``w`` (any shape) with a scalar ``step`` > 0 to ``2**bits - 1`` levels.

    Returns an array of ``w``'s shape and dtype whose entries are ``k * step``, ``|k| <= L``.
    """
    level = max_level(bits)
    k = jnp.minimum(jnp.floor(jnp.abs(w) / step + 0.5), level)
    return jnp.sign(w) * (step * k)


def _check_weights(w: Any) -> np.ndarray:
    w = np.asarray(w)
    if w.size == 0:
        raise ValueError("cannot quantize an empty weight array (size 0)")
    if not np.issubdtype(w.dtype, np.floating):
        raise ValueError(f"weights must be a floating-point array; got dtype {w.dtype}")
    if not np.all(np.isfinite(w)):
        raise ValueError("weights contain NaN or infinity; the L2-optimal step is undefined")
    return w


def optimal_step(w: Any, bits: int) -> np.float32:
    """The step ``D > 0`` minimising ``sum (Q_D(w) - w)**2`` over all ``D``; a float32 scalar.

    Algorithm (exact, O(n L log(n L)) for n weights): for a fixed assignment of weights to levels
    ``k_i`` the error is a quadratic in ``D`` minimised at ``sum k_i |w_i| / sum k_i**2``. The
    assignment only changes at the breakpoints ``D = |w_i| / (j - 1/2)``, ``j = 1..L``. Sorting the
    breakpoints and taking running sums gives, on every interval between consecutive breakpoints,
    the constrained minimiser and its error; the best interval holds the global optimum
    (:func:`exact_step`). Computed on the host in float64 (NumPy's sort is an order of magnitude
    faster than XLA's on a CPU); two Lloyd steps (re-assign, re-fit) then polish the rounding of the
    running sums, and each can only lower the error. All-zero weights return step 1 (every step
    quantizes them to 0).

    Args:
      w: weights of one layer, any shape, finite, non-empty (NumPy or JAX array).
      bits: bit width, 2 <= b <= MAX_BITS.
    """
    bits = check_bits(bits)
    return polished_step(np.abs(_check_weights(w).astype(np.float64)).ravel(), max_level(bits))


def polished_step(a: np.ndarray, level: int, max_breakpoints: int | None = None) -> np.float32:
    """The L2-optimal step of magnitudes ``a`` (float64 ``[n]``, >= 0) quantized to the levels
    ``0..level`` (:func:`exact_step`), polished by two Lloyd steps, as float32; 1 when every
    magnitude is 0. Shared by the weights (:func:`optimal_step`) and the unsigned signals
    (:func:`quantlab.numerics.signals.optimal_signal_step`)."""
    step = exact_step(a, level, max_breakpoints)
    if step <= 0:
        return np.float32(1.0)
    for _ in range(2):  # Lloyd polish: never increases the error
        k = np.minimum(np.floor(a / step + 0.5), level)
        step = np.sum(k * a) / np.sum(k * k)
    return np.float32(step)


def exact_step(a: np.ndarray, level: int, max_breakpoints: int | None = None) -> float:
    """The step ``D > 0`` minimising ``sum_i (D min(floor(a_i / D + 1/2), level) - a_i)**2`` for
    magnitudes ``a`` (float64 ``[n]``, >= 0), unpolished (float64; 0 when every ``a_i`` is 0).

    The ``n level`` breakpoints ``a_i / (j - 1/2)`` are sorted at once, unless that is more than
    ``max_breakpoints`` (None: no limit): then they are swept in slices of the ``D`` axis holding at
    most that many each, with each slice's running sums started from prefix sums over the sorted
    magnitudes (:func:`_swept_step`). Both give the exact optimum; the slices bound the memory
    (about 64 bytes per breakpoint at once).
    """
    if not np.any(a > 0):
        return 0.0
    if max_breakpoints is not None and a.size * level > max_breakpoints:
        return _swept_step(a, level, max_breakpoints)
    j = np.arange(1, level + 1, dtype=np.float64)
    # Weight i reaches level >= j exactly when step <= a_i / (j - 1/2): a breakpoint.
    breaks = (a[:, None] / (j - 0.5)).ravel()
    order = np.argsort(-breaks)  # ties may come in any order: tied weights err equally either way
    hi = breaks[order]  # descending
    lo = np.append(hi[1:], 0.0)
    s_kw = np.cumsum(np.repeat(a, level)[order])  # sum_i k_i a_i on the interval (lo[r], hi[r]]
    s_kk = np.cumsum(np.tile(2.0 * j - 1.0, a.size)[order])  # sum_i k_i^2 on that interval
    return _best_in(s_kw, s_kk, lo, hi)[0]


def _best_in(s_kw, s_kk, lo, hi) -> tuple[float, float]:
    """``(step, excess)`` of the best of the intervals ``(lo, hi]`` whose running sums
    ``sum k_i a_i`` and ``sum k_i**2`` are given (intervals where every level is 0 are skipped);
    ``excess`` is the error minus the constant ``sum a**2``."""
    keep = s_kk > 0
    if not keep.all():  # (copies only where needed: the one-sort search has no such interval)
        s_kw, s_kk, lo, hi = s_kw[keep], s_kk[keep], lo[keep], hi[keep]
    if not s_kk.size:
        return 0.0, 0.0
    candidate = np.clip(s_kw / s_kk, lo, hi)
    excess = candidate * (candidate * s_kk - 2.0 * s_kw)
    r = int(np.argmin(excess))
    return float(candidate[r]), float(excess[r])


def _swept_step(a: np.ndarray, level: int, max_breakpoints: int) -> float:
    """:func:`exact_step` in slices ``(v, u]`` of the step axis with at most ``max_breakpoints``
    breakpoints each. A breakpoint ``(i, j)`` lies above ``u`` exactly when ``a_i > u (j - 1/2)``:
    one comparison decides which slice holds it, so every breakpoint is counted once.

    A slice whose lower bound on the error (:func:`_error_floor`) exceeds the error of a step already
    known (the best slice so far, or a few Lloyd iterations from ``max(a) / level``) cannot hold the
    optimum and is skipped unsorted; the others are searched as without the bound, so the result is
    the same."""
    a = np.sort(a[a > 0])  # exact_step: at least one is > 0
    half = np.arange(1, level + 1, dtype=np.float64) - 0.5
    odd = 2.0 * half
    prefix = np.concatenate([[0.0], np.cumsum(a)])
    above = lambda u: np.searchsorted(a, u * half, side="right")  # noqa: E731  per j: first index above u
    best = (0.0, 0.0)
    known = _excess_near_optimum(a, level)
    margin = 1e-9 * float(np.dot(a, a))  # far above the float64 rounding of either side
    pending = [(0.0, 2.0 * a[-1])]  # slices (v, u], top first; nothing lies above 2 max(a)
    while pending:
        v, u = pending.pop()
        if _error_floor(a, level, v, u) > min(best[1], known) + margin:
            continue
        start, stop = above(u), above(v)
        count = int(np.sum(start - stop))
        middle = 0.5 * (u + v) if v == 0 or u > 4 * v else float(np.sqrt(u) * np.sqrt(v))
        if count > max_breakpoints and u - v > 1e-12 * u and v < middle < u:  # else: tied breakpoints
            pending += [(v, middle), (middle, u)]  # the upper slice is popped first
            continue
        base_kw = float(np.sum(prefix[-1] - prefix[start]))  # breakpoints above u: all active
        base_kk = float(np.sum(odd * (a.size - start)))
        runs = list(zip(stop, start))  # per level j, the magnitudes a[lo:hi] with a breakpoint here
        values = np.concatenate([a[lo:hi] for lo, hi in runs])
        breaks = np.concatenate([a[lo:hi] / h for (lo, hi), h in zip(runs, half)])
        order = np.argsort(-breaks)
        hi = np.concatenate([[u], breaks[order]])
        lo = np.append(hi[1:], v)
        s_kw = base_kw + np.concatenate([[0.0], np.cumsum(values[order])])
        s_kk = base_kk + np.concatenate([[0.0], np.cumsum(np.repeat(odd, start - stop)[order])])
        step, excess = _best_in(s_kw, s_kk, lo, hi)
        if excess < best[1]:
            best = (step, excess)
    return best[0]


def _error_floor(a: np.ndarray, level: int, v: float, u: float) -> float:
    """A lower bound of the excess (error minus ``sum a**2``) of every step in ``(v, u]`` for sorted
    magnitudes ``a``: a magnitude at most ``v / 2`` rounds to level 0 there (error ``a**2``), and one
    above ``level u`` is clipped to ``level D <= level u`` (error at least ``(a - level u)**2``)."""
    small = a[: np.searchsorted(a, 0.5 * v, side="right")]
    large = a[np.searchsorted(a, level * u, side="right"):] - level * u
    return float(np.dot(small, small) + np.dot(large, large) - np.dot(a, a))


def _excess_near_optimum(a: np.ndarray, level: int, iterations: int = 8) -> float:
    """The excess ``D**2 sum k**2 - 2 D sum k a`` of the step ``D`` that a few Lloyd iterations from
    ``max(a) / level`` reach: an upper bound of the optimum's, for :func:`_swept_step` to prune with."""
    step = a[-1] / level
    for _ in range(iterations):
        k = np.minimum(np.floor(a / step + 0.5), level)
        step = np.dot(k, a) / np.dot(k, k)  # never 0 / 0: a refit is at most max(a), whose k stays >= 1
    k = np.minimum(np.floor(a / step + 0.5), level)
    return float(step * (step * np.dot(k, k) - 2.0 * np.dot(k, a)))


def lloyd_step(w: jax.Array, step: jax.Array, bits: int) -> jax.Array:
    """One Lloyd iteration of the step on the device: assign every weight of ``w`` (any shape) to
    its level ``k_i`` under ``step`` (a scalar > 0), then refit ``sum k_i |w_i| / sum k_i**2``.

    Never increases the L2 error (up to float32 rounding): the refit is optimal for the assignment,
    and re-assigning to the nearest level is optimal for the refitted step. Warm-started from the
    previous training step's value, it tracks the optimum of slowly moving weights (the
    ``adaptive`` step policy of retraining). When every weight falls to level 0 the step is kept.
    """
    a = jnp.abs(w)
    k = jnp.minimum(jnp.floor(a / step + 0.5), max_level(bits))
    kk = jnp.sum(k * k)
    return jnp.where(kk > 0, jnp.sum(k * a) / jnp.maximum(kk, 1.0), step).astype(jnp.result_type(step))


def quantization_error(w: jax.Array, step: jax.Array, bits: int) -> jax.Array:
    """L2 quantization error ``sum (Q(w) - w)**2``, a scalar."""
    return jnp.sum((quantize(w, step, bits) - w) ** 2)


class StepCurve(NamedTuple):
    """The relative L2 error ``sum (Q_D(w) - w)^2 / sum w^2`` of one layer's weights against the step ``D``:
    ``steps`` [num] (weight units, ascending) and ``errors`` [num] (fractions) on a grid, and the L2-optimal
    step ``best_step`` (:func:`optimal_step`) with its error ``best_error``."""

    steps: np.ndarray
    errors: np.ndarray
    best_step: float
    best_error: float


def step_error_curves(w: Any, bits: Sequence[int], num: int = 241) -> dict[int, StepCurve]:
    """:class:`StepCurve` of weights ``w`` (any shape) for each bit width of ``bits``, on one grid of
    ``num`` steps from ``max_step / num`` to ``max_step``, 2.5 times the largest of their optimal steps."""
    w = jnp.asarray(w, jnp.float32).ravel()
    energy = float(jnp.sum(w * w))
    if energy == 0:
        raise ValueError("all weights are zero: the relative error is undefined")
    best = {int(b): float(optimal_step(w, b)) for b in bits}
    max_step = 2.5 * max(best.values())
    grid = np.linspace(max_step / num, max_step, num, dtype=np.float32)
    out = {}
    for b, step in best.items():
        errors = jax.jit(jax.vmap(lambda d, b=b: quantization_error(w, d, b)))(jnp.asarray(grid))
        best_error = float(quantization_error(w, step, b)) / energy
        out[b] = StepCurve(grid, np.asarray(errors, np.float64) / energy, step, best_error)
    return out


def straight_through(w: jax.Array, step: jax.Array, bits: int) -> jax.Array:
    """``Q(w)`` in the forward pass, identity gradient to ``w`` in the backward pass.

    Used for retraining: the loss sees quantized weights, the gradient updates the float shadow
    weights ``w``, which are re-quantized at the next step.
    """
    return w + jax.lax.stop_gradient(quantize(w, step, bits) - w)


# ---- pytrees -------------------------------------------------------------------------------------
# ``mask`` is a pytree of bools with the structure of ``params``: True marks a weight array that is
# quantized (dense and conv kernels), False one that stays float (biases). Models provide it
# (``quantlab.nn.models.quantized_mask``); nothing here guesses it from leaf names.


def tree_steps(params: PyTree, mask: PyTree, bits: int, init: Callable = optimal_step) -> PyTree:
    """``init(w, bits)`` (default: the optimal step) per quantized leaf; unquantized leaves get step 0
    (float32 scalars, on the host)."""
    return jax.tree.map(lambda w, q: init(w, bits) if q else np.float32(0.0), params, mask)


def batched_tree_steps(params: PyTree, mask: PyTree, bits: int, init: Callable = optimal_step) -> PyTree:
    """:func:`tree_steps` for parameters with a leading seed axis S: every step is a float32 [S, ...]
    (``[S]`` for unquantized leaves)."""
    params = jax.device_get(params)
    return jax.tree.map(
        lambda w, q: np.array([init(x, bits) if q else 0.0 for x in w], np.float32), params, mask
    )


def tree_quantize(params: PyTree, mask: PyTree, steps: PyTree, bits: int, fn: Callable = quantize) -> PyTree:
    """Quantizes the masked leaves of ``params`` with their ``steps`` (``fn(w, step, bits)``, default
    :func:`quantize`); other leaves pass through."""
    return jax.tree.map(
        lambda w, q, s: fn(w, s, bits) if q else w, params, mask, steps
    )


def tree_straight_through(params: PyTree, mask: PyTree, steps: PyTree, bits: int,
                          fn: Callable = straight_through) -> PyTree:
    """:func:`straight_through` (or ``fn``) on the masked leaves of ``params``."""
    return jax.tree.map(
        lambda w, q, s: fn(w, s, bits) if q else w, params, mask, steps
    )


def tree_update(params: PyTree, mask: PyTree, steps: PyTree, bits: int, fn: Callable = lloyd_step) -> PyTree:
    """``fn(w, step, bits)`` (default: one :func:`lloyd_step`) on every quantized leaf; the steps of
    float leaves pass through."""
    return jax.tree.map(lambda w, q, s: fn(w, s, bits) if q else s, params, mask, steps)


def zero_fraction(params: PyTree, mask: PyTree) -> np.float32:
    """Fraction of exactly-zero entries among all masked (quantized) weights, a float32 scalar (counted
    on the host)."""
    leaves = [np.asarray(w) for w, q in zip(jax.tree.leaves(params), jax.tree.leaves(mask)) if q]
    zeros = sum(np.count_nonzero(w == 0) for w in leaves)
    return np.float32(zeros) / np.float32(sum(w.size for w in leaves))


def relative_error(params: PyTree, quantized: PyTree, mask: PyTree) -> float:
    """Relative L2 quantization error of the masked leaves, pooled over layers:
    ``sum ||Q(w) - w||**2 / sum ||w||**2`` (0 = exact; 1 = as far as quantizing everything to 0).
    Computed in float64 on the host."""
    pairs = [(np.asarray(w, np.float64), np.asarray(v, np.float64))
             for w, v, q in zip(jax.tree.leaves(params), jax.tree.leaves(quantized), jax.tree.leaves(mask)) if q]
    return float(sum(np.sum((v - w) ** 2) for w, v in pairs) / sum(np.sum(w ** 2) for w, _ in pairs))


def masked_steps(steps: PyTree, mask: PyTree) -> list:
    """The steps (quantizer parameters) of the quantized leaves, in tree order, as Python floats
    (lists of floats for a rule with several parameters per layer; for records)."""
    return [np.asarray(s).tolist() for s, q in zip(jax.tree.leaves(steps), jax.tree.leaves(mask)) if q]
