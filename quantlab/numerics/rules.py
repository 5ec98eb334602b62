"""Quantizer rules side by side: how each layer's quantization levels are chosen.

A rule maps one layer's weights ``w`` to its *quantizer parameters* ``q`` (float32, on the host), and
quantizes with them (pure JAX, jittable, any shape of ``w``):

* ``l2`` (the paper's): uniform mid-tread levels ``k * D``, ``|k| <= L``, with the step ``D`` that
  minimises the L2 error (:func:`quantlab.numerics.quantize.optimal_step`); ``q`` is the scalar ``D``.
* ``absmax`` (most integer toolkits): the same levels with ``D = max |w| / L``, so that the largest
  weight is a level; ``q`` is ``D``.
* ``twn`` (ternary weight networks, Li et al. 2016): ternary, threshold ``t = 0.7 * mean |w|``, both
  levels ``+-a`` with ``a`` the mean ``|w|`` above the threshold; ``q = [t, a, a]``.
* ``ttq`` (in the spirit of trained ternary quantization, Zhu et al. 2016): ternary, threshold
  ``t = 0.05 * max |w|``, levels ``+a_p`` and ``-a_n`` learned during retraining (initialised like
  TWN's, from the weights above and below the threshold); ``q = [t, a_p, a_n]``.

``twn`` and ``ttq`` are ternary rules (2 bits only). Retraining (:mod:`quantlab.training.train`) keeps ``q``
fixed (``fixed`` policy) or re-estimates it after every optimizer step with :meth:`Rule.update`
(``adaptive``: one Lloyd iteration for ``l2``, the rule's own formula for the others; ``ttq``
re-estimates only its threshold), and trains ``ttq``'s two levels by gradient descent whatever the
policy (:attr:`Rule.learned`). The ``l2`` rule's functions are those of :mod:`quantlab.numerics.quantize`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from quantlab import config, vocabulary
from quantlab.numerics import quantize as qz

TWN_THRESHOLD = 0.7
"""TWN's threshold as a multiple of the mean absolute weight (Li et al. 2016's approximation of the
L2-optimal ternary threshold for normally distributed weights)."""
TTQ_THRESHOLD = 0.05
"""TTQ's threshold as a fraction of the largest absolute weight (Zhu et al. 2016's ``t``)."""


class Rule(NamedTuple):
    """One quantizer rule. ``init(w, bits) -> q`` (NumPy, float32; shape ``()`` or ``(3,)``),
    ``quantize(w, q, bits)`` and ``straight_through(w, q, bits)`` (JAX: the quantized weights in the
    forward pass; the gradient to ``w`` and, for a learned rule, to ``q``), ``update(w, q, bits) -> q``
    (JAX: the adaptive policy's re-estimate). ``ternary``: 2 bits only; ``learned``: retraining
    trains ``q`` by gradient descent; ``traced_bits``: its JAX functions compute the same floats with
    ``bits`` a traced integer array as with a Python int (one compiled program for every bit width)."""

    name: str
    init: Callable[[Any, int], np.ndarray]
    quantize: Callable[[jax.Array, jax.Array, int], jax.Array]
    straight_through: Callable[[jax.Array, jax.Array, int], jax.Array]
    update: Callable[[jax.Array, jax.Array, int], jax.Array]
    learned: bool = False
    traced_bits: bool = False

    @property
    def ternary(self) -> bool:
        """2 bits only (:data:`quantlab.vocabulary.TERNARY_QUANTIZERS`)."""
        return self.name in vocabulary.TERNARY_QUANTIZERS


# -- uniform rules: q is the step D ------------------------------------------------------------

def absmax_step(w: Any, bits: int) -> np.float32:
    """``max |w| / L``: the step whose top level is the largest weight (1 for all-zero weights)."""
    top = float(np.max(np.abs(np.asarray(w, np.float64))))
    return np.float32(top / qz.max_level(bits) if top > 0 else 1.0)


def _absmax_update(w: jax.Array, step: jax.Array, bits: int) -> jax.Array:
    top = jnp.max(jnp.abs(w))
    return jnp.where(top > 0, top / qz.max_level(bits), step).astype(jnp.result_type(step))


# -- ternary rules: q = [threshold, positive level, negative level] -----------------------------

def ternary(w: jax.Array, q: jax.Array) -> jax.Array:
    """``+q[1]`` where ``w > q[0]``, ``-q[2]`` where ``w < -q[0]``, else 0 (``w``'s shape)."""
    return jnp.where(w > q[0], q[1], jnp.where(w < -q[0], -q[2], 0.0)).astype(w.dtype)


def _ternary_levels(w: np.ndarray, threshold: float, symmetric: bool) -> np.ndarray:
    """``[t, a_p, a_n]`` for float32 weights ``w`` and threshold ``t`` (rounded to float32 first, and
    compared as the quantizer compares): each level the mean ``|w|`` beyond ``t`` on its side, or on
    both sides when ``symmetric`` (or when a side is empty); ``t`` itself when nothing is beyond it."""
    t = np.float32(threshold)
    a = np.abs(w).astype(np.float64)
    above = np.abs(w) > t
    both = float(a[above].mean()) if above.any() else max(float(t), 1e-12)
    if symmetric:
        return np.array([t, both, both], np.float32)
    pos, neg = w > t, w < -t
    return np.array([t, a[pos].mean() if pos.any() else both, a[neg].mean() if neg.any() else both], np.float32)


def twn_params(w: Any, bits: int = 2) -> np.ndarray:
    """TWN's ``[t, a, a]``: ``t = 0.7 mean |w|``, ``a`` = mean ``|w|`` above ``t`` (one level for both signs)."""
    config.check_quantizer("twn", bits)
    w = np.asarray(w, np.float32).ravel()
    return _ternary_levels(w, TWN_THRESHOLD * float(np.abs(w.astype(np.float64)).mean()), symmetric=True)


def _twn_update(w: jax.Array, q: jax.Array, bits: int) -> jax.Array:
    a = jnp.abs(w)
    t = TWN_THRESHOLD * jnp.mean(a)
    above = a > t
    level = jnp.sum(jnp.where(above, a, 0.0)) / jnp.maximum(jnp.sum(above), 1)
    return jnp.stack([t, level, level]).astype(q.dtype)


def ttq_params(w: Any, bits: int = 2) -> np.ndarray:
    """TTQ's starting ``[t, a_p, a_n]``: ``t = 0.05 max |w|``, each level the mean ``|w|`` beyond
    ``t`` on its side."""
    config.check_quantizer("ttq", bits)
    w = np.asarray(w, np.float32).ravel()
    return _ternary_levels(w, TTQ_THRESHOLD * float(np.abs(w).max()), symmetric=False)


def _ttq_update(w: jax.Array, q: jax.Array, bits: int) -> jax.Array:
    return q.at[0].set(TTQ_THRESHOLD * jnp.max(jnp.abs(w)))


def _identity_through(w: jax.Array, q: jax.Array, bits: int) -> jax.Array:
    """Ternary levels forward, identity gradient to ``w``, none to ``q``."""
    return w + jax.lax.stop_gradient(ternary(w, q) - w)


def _ttq_through(w: jax.Array, q: jax.Array, bits: int) -> jax.Array:
    """TTQ's gradients: to ``a_p`` (``a_n``) the sum of the gradients of the weights at that level
    (with the level's sign); to ``w`` the gradient scaled by ``a_p`` above the threshold, ``a_n``
    below it and 1 in between. The threshold gets none."""
    q = q.at[0].set(jax.lax.stop_gradient(q[0]))
    pos = jax.lax.stop_gradient((w > q[0]).astype(w.dtype))
    neg = jax.lax.stop_gradient((w < -q[0]).astype(w.dtype))
    scale = jax.lax.stop_gradient(q[1] * pos + q[2] * neg + (1 - pos - neg))
    levels = q[1] * pos - q[2] * neg  # differentiable in the levels
    return levels + scale * w - jax.lax.stop_gradient(scale * w)


RULES: dict[str, Rule] = {
    # l2 uses its bit width only as the clip level L (exact); absmax also divides by L, which XLA compiles
    # into a product with 1/L when L is a constant: other floats than a traced division, so its bits stay static
    "l2": Rule("l2", qz.optimal_step, qz.quantize, qz.straight_through, qz.lloyd_step, traced_bits=True),
    "absmax": Rule("absmax", absmax_step, qz.quantize, qz.straight_through, _absmax_update),
    "twn": Rule("twn", twn_params, lambda w, q, b: ternary(w, q), _identity_through, _twn_update),
    "ttq": Rule("ttq", ttq_params, lambda w, q, b: ternary(w, q), _ttq_through, _ttq_update, learned=True),
}
QUANTIZERS = vocabulary.QUANTIZERS
"""The rules' names (``TrialConfig.quantizer``, a spec's ``quantizers``), in :data:`RULES`' order."""


def check_quantizer(name: Any, bits: Any = None) -> Rule:
    """The rule called ``name``, or ValueError unless it is one of :data:`QUANTIZERS` (and, for a
    ternary rule given ``bits``, unless every bit width is 2): :func:`quantlab.config.check_quantizer`."""
    return RULES[config.check_quantizer(name, bits)]
