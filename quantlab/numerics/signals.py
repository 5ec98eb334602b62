"""Uniform unsigned quantization of signals (the outputs of hidden layers) with the L2-optimal step.

Numerics only, like :mod:`quantlab.numerics.quantize` (calibration on a network's signals lives in
:mod:`quantlab.training.calibrate`). A hidden layer's signal comes out of a ReLU, so it is >= 0 and
its quantizer has the unsigned levels ``0, 1, ..., L`` with ``L = 2**b - 1`` (``b = 3``: 8 levels,
0 .. 7 steps), all ``2**b`` codes of a ``b``-bit word::

    Q(x) = step * min(floor(x / step + 1/2), L)        for x >= 0

The step of a layer minimises ``sum (Q(x_i) - x_i)**2`` over a calibration set of that layer's
signals, found by the exact search the weights use (:func:`quantlab.numerics.quantize.exact_step`,
here with levels ``0..L`` instead of ``0..2**(b-1) - 1`` of the magnitudes).

Q is non-decreasing, so ``max_pool(Q(x)) == Q(max_pool(x))``: a CNN's signal is quantized after its
pooling, which is the same network as quantizing before it and touches a quarter of the values.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from quantlab.numerics import quantize as qz

MAX_BREAKPOINTS = 1 << 24
"""The exact step search sorts at most this many breakpoints at once (about 1 GiB of float64 work
arrays); calibration sets with more (8-bit signals of wide layers) are swept in slices."""


def signal_levels(bits: int) -> int:
    """The top level ``L = 2**bits - 1``: signals become ``k * step`` with ``0 <= k <= L``."""
    return 2 ** qz.check_bits(bits) - 1


def signal_codes(x: jax.Array, step: jax.Array, bits: int) -> jax.Array:
    """The integer level ``k = min(floor(x / step + 1/2), L)`` (0 for ``x < step / 2``, negative ``x``
    included) of every signal ``x`` (any shape), as a float array of ``x``'s shape and dtype."""
    return jnp.clip(jnp.floor(x / step + 0.5), 0, signal_levels(bits))


def quantize_signal(x: jax.Array, step: jax.Array, bits: int) -> jax.Array:
    """Quantizes signals ``x`` (any shape, >= 0) with a scalar ``step`` > 0 to the ``2**bits`` levels
    ``0, step, ..., L step``; an array of ``x``'s shape and dtype (negative inputs become 0)."""
    return step * signal_codes(x, step, bits)


def straight_through_signal(x: jax.Array, step: jax.Array, bits: int) -> jax.Array:
    """``Q(x)`` in the forward pass; in the backward pass the gradient passes to ``x`` where ``x`` is
    at most the top level ``L step`` and is zero above it (and never reaches ``step``).

    Inside the range the rounding's derivative is zero almost everywhere, so it is replaced by the
    identity, as for the weights (:func:`quantlab.numerics.quantize.straight_through`); above the top
    level the output really is constant (clipped), and passing a gradient there would push signals
    the quantizer cannot represent.
    """
    top = jax.lax.stop_gradient(step) * signal_levels(bits)
    inside = jnp.where(x <= top, x, top)
    return inside + jax.lax.stop_gradient(quantize_signal(x, jax.lax.stop_gradient(step), bits) - inside)


def optimal_signal_step(x: Any, bits: int) -> np.float32:
    """The step ``D > 0`` minimising ``sum (Q_D(x) - x)**2`` over the signals ``x`` (any shape,
    finite, >= 0); a float32 scalar, 1 when every signal is 0. Exact (see the module docstring),
    computed on the host in float64 within :data:`MAX_BREAKPOINTS` at a time."""
    x = np.asarray(x)
    if x.size == 0:
        raise ValueError("cannot calibrate a signal step on an empty array (size 0)")
    if not np.all(np.isfinite(x)):
        raise ValueError("signals contain NaN or infinity; the L2-optimal step is undefined")
    if np.any(x < 0):
        raise ValueError("signals must be >= 0 (the outputs of ReLU layers); got a negative value")
    a = x.astype(np.float64).ravel()
    return qz.polished_step(a[a > 0], signal_levels(bits), MAX_BREAKPOINTS)


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Signals:
    """Fixed-point signals of a network: ``steps`` float32 ``[..., hidden layers]`` (one step per
    hidden layer's output, in layer order; a leading seed axis under ``vmap``) and ``bits`` (static).
    A model given one quantizes every hidden layer's output (:mod:`quantlab.nn.models`)."""

    steps: jax.Array
    bits: int = dataclasses.field(metadata=dict(static=True))

    def __post_init__(self):
        qz.check_bits(self.bits)


def hidden_signal(x: jax.Array, signals: Signals | None, layer: int) -> jax.Array:
    """The signal hidden layer ``layer`` passes on: ``x`` itself (float signals, ``signals`` None) or
    :func:`straight_through_signal` with that layer's step."""
    if signals is None:
        return x
    return straight_through_signal(x, signals.steps[layer], signals.bits)


__all__ = ["MAX_BREAKPOINTS", "Signals", "hidden_signal", "optimal_signal_step", "quantize_signal",
           "signal_codes", "signal_levels", "straight_through_signal"]
