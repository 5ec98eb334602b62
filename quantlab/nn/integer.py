"""The fixed-point network as integer hardware runs it: int8 weight codes, integer signal codes, int32
accumulators.

A quantized layer of :mod:`quantlab.nn.models` computes ``y = x @ (D_w k) + b`` with weight codes ``k``
(``|k| <= L_w``, :mod:`quantlab.numerics.quantize`) and, with fixed-point signals, inputs
``x = s_in c`` with codes ``c`` (``0..L_s``; the input pixels are the codes ``0..255`` of the step
1/255). So ``y = s_in D_w acc + b`` with the integer accumulator ``acc = c @ k`` (int32). Two ways to
go on from ``acc`` (:data:`VARIANTS`):

* ``"rescaled"``: in float32, ``y = (s_in D_w) acc + b``, then ReLU (a CNN: 2x2 max pooling) and the
  next layer's signal quantizer (:func:`quantlab.numerics.signals.signal_codes`). With float signals
  (no ``signal_steps``) the hidden signals stay float and only the weights are integer codes.
* ``"integer"``: integers only, as fixed-point hardware and the integer kernels of deployment runtimes
  compute: the bias as int32 at the accumulator's scale, ``round(b / (s_in D_w))``; ReLU and pooling
  on int32; the next layer's code ``min(round(acc M), L_s)`` with ``M = s_in D_w / s_out`` applied as
  a fixed-point multiplier ``M = m 2**-shift`` (``m`` a :data:`MULTIPLIER_BITS`-bit integer, the
  product formed exactly in 32-bit words) and a rounding right shift; the logits are the output
  layer's int32 accumulators (a positive common scale away from the float logits). It needs
  fixed-point signals.

Pooling and the requantization commute (both are non-decreasing), and ReLU before the quantizer is
the clip at code 0, so both variants compute the network the book simulates; they differ from it
only where float rounding (``"rescaled"``) or the integer bias and multiplier (``"integer"``) move a
value across a rounding boundary of a signal code (a tie in exact arithmetic up to those roundings).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from quantlab.nn import models
from quantlab.nn.conv import patches
from quantlab.numerics import quantize as qz
from quantlab.numerics import signals as sg

VARIANTS = ("rescaled", "integer")
"""The two integer forward passes (module docstring)."""
MULTIPLIER_BITS = 31
"""Bits of the requantization multiplier ``m`` of the ``"integer"`` variant: ``2**30 <= m < 2**31``."""
PIXEL_STEP = 1.0 / 255.0
"""The input pixels' step: a uint8 pixel ``c`` is the signal ``c / 255`` (:mod:`quantlab.nn.models`)."""
BATCH = 1000
"""Images per jitted call."""


@dataclasses.dataclass(frozen=True)
class FixedPointNetwork:
    """A quantized network as integers and steps, one entry per layer in forward order.

    family: ``"ffdnn"`` (every layer dense) or ``"cnn"`` (3x3 SAME conv + ReLU + 2x2 max pooling
      layers, then one dense output layer).
    codes: int8 weight codes per layer, ``[in, out]`` (dense) or ``[3, 3, C, D]`` (conv).
    weight_steps: float32 ``[layers]``, the step ``D_w`` of each layer's weights.
    biases: float32 ``[out]`` per layer.
    bits: the weights' word length (codes within ``-L_w..L_w``).
    signal_steps: float32 ``[layers - 1]``, the step of each hidden layer's output; None: float signals.
    signal_bits: the hidden signals' word length; None with float signals.
    """

    family: str
    codes: tuple[np.ndarray, ...]
    weight_steps: np.ndarray
    biases: tuple[np.ndarray, ...]
    bits: int
    signal_steps: np.ndarray | None = None
    signal_bits: int | None = None

    def __post_init__(self):
        if self.family not in models.FAMILIES:
            raise ValueError(f"family must be one of {models.FAMILIES}; got {self.family!r}")
        level = qz.max_level(self.bits)
        for i, k in enumerate(self.codes):
            if k.dtype != np.int8 or (k.size and int(np.abs(k.astype(np.int16)).max()) > level):
                raise ValueError(f"layer {i}: codes must be int8 within -{level}..{level} ({self.bits}-bit weights)")
        if len(self.weight_steps) != len(self.codes) or len(self.biases) != len(self.codes):
            raise ValueError("codes, weight_steps and biases need one entry per layer")
        if (self.signal_steps is None) != (self.signal_bits is None):
            raise ValueError("signal_steps and signal_bits go together (both None: float signals)")
        if self.signal_steps is not None:
            sg.signal_levels(self.signal_bits)
            if len(self.signal_steps) != len(self.codes) - 1 or not np.all(np.asarray(self.signal_steps) > 0):
                raise ValueError(f"signal_steps need one step > 0 per hidden layer ({len(self.codes) - 1})")

    @property
    def kinds(self) -> tuple[str, ...]:
        """``"dense"`` or ``"conv"`` per layer."""
        return tuple("conv" if k.ndim == 4 else "dense" for k in self.codes)


def layer_names(family: str, params: Any) -> list[str]:
    """The layers of a :mod:`quantlab.nn.models` parameter tree in forward order (``Dense_0`` ... for
    an FFDNN; ``Conv_0`` ... then ``Dense_0`` for a CNN)."""
    def ordered(prefix):
        return sorted((n for n in params if n.startswith(prefix)), key=lambda n: int(n.split("_")[1]))
    return ordered("Dense_") if family == "ffdnn" else ordered("Conv_") + ordered("Dense_")


def fixed_point(family: str, quantized: Any, weight_steps: Any, bits: int, signal_steps: Any = None,
                signal_bits: int | None = None) -> FixedPointNetwork:
    """The :class:`FixedPointNetwork` of one network's quantized parameters ``quantized`` (kernels
    ``k D_w`` as the quantizer left them), its steps ``weight_steps`` (``{layer: D_w}``) and its
    fixed-point signals. ValueError unless every kernel is exactly its codes times its step."""
    names = layer_names(family, quantized)
    codes, steps, biases = [], [], []
    for name in names:
        kernel = np.asarray(quantized[name]["kernel"], np.float32)
        step = np.float32(weight_steps[name])
        k = np.rint(kernel / step)
        if not np.all(np.abs(k) <= qz.max_level(bits)) or not np.array_equal(
                np.sign(k) * (step * np.abs(k)).astype(np.float32), kernel):
            raise ValueError(f"{name}'s kernel is not {bits}-bit codes times its step {step}: "
                             "quantize it with a uniform rule first")
        codes.append(k.astype(np.int8))
        steps.append(step)
        biases.append(np.asarray(quantized[name]["bias"], np.float32))
    signal = None if signal_steps is None else np.asarray(signal_steps, np.float32)
    return FixedPointNetwork(family, tuple(codes), np.asarray(steps, np.float32), tuple(biases), int(bits),
                             signal, signal_bits)


def requantizer(multiplier: float) -> tuple[int, int]:
    """``(m, shift)`` with ``m 2**-shift`` the nearest to ``multiplier`` (> 0, below ``2**29``) of
    that form, ``2**(MULTIPLIER_BITS - 1) <= m < 2**MULTIPLIER_BITS`` and ``1 <= shift <= 63``."""
    if not 2.0 ** -32 < multiplier < 2.0 ** 29:
        raise ValueError(f"a requantization multiplier must lie in (2**-32, 2**29); got {multiplier!r}")
    fraction, exponent = math.frexp(multiplier)  # multiplier = fraction 2**exponent, 0.5 <= fraction < 1
    m, shift = round(fraction * 2 ** MULTIPLIER_BITS), MULTIPLIER_BITS - exponent
    if m == 2 ** MULTIPLIER_BITS:
        m, shift = m // 2, shift - 1
    return m, shift


def multiply_shift(acc: jax.Array, m: int, shift: int) -> jax.Array:
    """``floor((acc m + 2**(shift - 1)) / 2**shift)`` for int32 ``acc >= 0`` (any shape), as uint32:
    the 62-bit product is formed exactly from 16-bit halves in 32-bit words (no int64). The result
    must fit 32 bits (the caller clips ``acc``)."""
    a = acc.astype(jnp.uint32)
    a0, a1 = a & 0xFFFF, a >> 16
    m0, m1 = jnp.uint32(m & 0xFFFF), jnp.uint32(m >> 16)
    p00, p01, p10, p11 = a0 * m0, a0 * m1, a1 * m0, a1 * m1
    mid = (p00 >> 16) + (p01 & 0xFFFF) + (p10 & 0xFFFF)
    lo = (p00 & 0xFFFF) | (mid << 16)
    hi = p11 + (p01 >> 16) + (p10 >> 16) + (mid >> 16)
    rounding = 1 << (shift - 1)
    lo_sum = lo + jnp.uint32(rounding & 0xFFFFFFFF)
    hi = hi + jnp.uint32(rounding >> 32) + (lo_sum < lo).astype(jnp.uint32)
    if shift >= 32:
        return hi >> (shift - 32)
    return (hi << (32 - shift)) | (lo_sum >> shift)


def _guard_bits(codes: np.ndarray, top_input: int, bias_units: np.ndarray) -> int:
    """Fraction bits below the accumulator's unit that int32 has room for: ``acc 2**g + bias`` stays
    below ``2**30`` in magnitude for every input within ``0..top_input`` (at most 16)."""
    column = np.abs(codes.astype(np.int64)).reshape(-1, codes.shape[-1]).sum(axis=0)
    bound = top_input * int(column.max(initial=0)) + float(np.abs(bias_units).max(initial=0)) + 1
    return int(min(16, max(0, math.floor(30 - math.log2(bound)))))


class IntegerLayer(NamedTuple):
    """The constants of one layer of the ``"integer"`` variant: the accumulator gets ``guard``
    fraction bits (:func:`_guard_bits`; they make the bias exact to ``2**-guard`` of an accumulator
    unit), ``bias`` is int32 at that scale (``round(b 2**guard / (s_in D_w))``), and a hidden layer's
    code is ``min(floor((max(acc 2**guard + bias, 0) m + 2**(shift - 1)) / 2**shift), top)``;
    ``cap`` is the accumulator from which on every code is ``top`` (clipping there keeps the
    product within 32 bits). The output layer has ``m = shift = cap = top = 0``."""

    guard: int
    bias: np.ndarray
    m: int
    shift: int
    cap: int
    top: int


def integer_layers(net: FixedPointNetwork) -> list[IntegerLayer]:
    """The :class:`IntegerLayer` of every layer of ``net`` (fixed-point signals needed)."""
    if net.signal_steps is None:
        raise ValueError("the 'integer' variant needs fixed-point signals (signal_bits); with float signals "
                         "use 'rescaled', where only the weights are integer codes")
    top = sg.signal_levels(net.signal_bits)
    inputs = [PIXEL_STEP] + [float(s) for s in net.signal_steps]
    out = []
    for i, (k, b, s_in, d_w) in enumerate(zip(net.codes, net.biases, inputs, net.weight_steps)):
        units = b.astype(np.float64) / (s_in * float(d_w))
        guard = _guard_bits(k, 255 if i == 0 else top, units)
        bias = np.rint(units * 2.0 ** guard).astype(np.int32)
        if i == len(net.codes) - 1:
            out.append(IntegerLayer(guard, bias, 0, 0, 0, 0))
            continue
        multiplier = s_in * float(d_w) / float(net.signal_steps[i]) / 2.0 ** guard
        m, shift = requantizer(multiplier)
        out.append(IntegerLayer(guard, bias, m, shift, min(2 ** 31 - 1, math.ceil((top + 1) / multiplier) + 1), top))
    return out


def _layer_plan(net: FixedPointNetwork, variant: str) -> tuple[tuple, tuple]:
    """Per layer the static constants ``(scale, guard, m, shift, cap)`` of a forward pass, and the biases.

    rescaled: ``scale`` = the float32 factor from accumulator to ``y`` (``s_in D_w``; ``D_w`` for a
    float input), float32 biases; integer: :func:`integer_layers`."""
    if variant == "rescaled":
        inputs = [PIXEL_STEP] + ([1.0] * (len(net.codes) - 1) if net.signal_steps is None else
                                 [float(s) for s in net.signal_steps])
        return tuple((float(np.float32(s) * d), 0, 0, 0, 0) for s, d in zip(inputs, net.weight_steps)), net.biases
    layers = integer_layers(net)
    return tuple((0.0, q.guard, q.m, q.shift, q.cap) for q in layers), tuple(q.bias for q in layers)


def _accumulate(x: jax.Array, k: jax.Array) -> jax.Array:
    """``x`` (integer codes or float) times the codes ``k``: dense ``[N, in] @ [in, out]`` or a 3x3
    SAME conv ``[N, H, W, C] -> [N, H, W, D]``; int32 (integer ``x``) or float32."""
    if k.ndim == 4:
        n, h, w, c = x.shape
        return _accumulate(patches(x).reshape(n * h * w, 9 * c), k.reshape(9 * c, -1)).reshape(n, h, w, -1)
    if jnp.issubdtype(x.dtype, jnp.integer):
        return jax.lax.dot_general(x, k, (((1,), (0,)), ((), ())), preferred_element_type=jnp.int32)
    return x @ k.astype(jnp.float32)


def _pool(y: jax.Array) -> jax.Array:
    """2x2 VALID max pooling of ``[N, H, W, D]``."""
    n, h, w, d = y.shape
    return y[:, : h // 2 * 2, : w // 2 * 2].reshape(n, h // 2, 2, w // 2, 2, d).max(axis=(2, 4))


@functools.partial(jax.jit, static_argnums=(0, 1, 2))
def _forward(plan: tuple, variant: str, signal_bits: int | None, codes, biases, signal_steps, images):
    """(logits [N, classes], hidden codes per hidden layer) of uint8 ``images``."""
    x = images if codes[0].ndim == 4 else images.reshape(images.shape[0], -1)
    hidden = []
    for i, (k, b, (scale, guard, m, shift, cap)) in enumerate(zip(codes, biases, plan)):
        if k.ndim == 2:
            x = x.reshape(x.shape[0], -1)
        acc = _accumulate(x, k)
        if variant == "integer":
            y = acc * (1 << guard) + b
        else:
            y = acc * jnp.float32(scale) + b
        if i == len(codes) - 1:
            return y, hidden
        y = jnp.maximum(_pool(y) if k.ndim == 4 else y, 0)
        if signal_bits is None:
            x = y
        elif variant == "integer":
            top = sg.signal_levels(signal_bits)
            x = jnp.minimum(multiply_shift(jnp.minimum(y, cap), m, shift), top).astype(jnp.uint8)
        else:
            x = sg.signal_codes(y, signal_steps[i], signal_bits).astype(jnp.uint8)
        hidden.append(x)


def check_variant(variant: Any) -> str:
    """``variant`` if it is one of :data:`VARIANTS`, else ValueError naming them."""
    if variant not in VARIANTS:
        raise ValueError(f"variant must be one of {', '.join(VARIANTS)}; got {variant!r}")
    return variant


def run(net: FixedPointNetwork, images: Any, variant: str = "rescaled", batch: int = BATCH) -> tuple:
    """``(logits [N, classes], hidden [layers - 1] of [N, ...] codes)`` of uint8 ``images`` ``[N, H, W, C]``
    (NumPy): float32 logits (``"rescaled"``) or the int32 accumulators (``"integer"``), uint8 signal
    codes of each hidden layer (float signals: the float32 signals). ``batch`` images per call."""
    check_variant(variant)
    plan, biases = _layer_plan(net, variant)
    steps = None if net.signal_steps is None else jnp.asarray(net.signal_steps)
    images = np.asarray(images)
    if images.dtype != np.uint8 or images.ndim != 4:
        raise ValueError(f"images must be uint8 [N, H, W, C]; got {images.dtype} {images.shape}")
    parts = [jax.device_get(_forward(plan, variant, net.signal_bits, net.codes, biases, steps, images[i:i + batch]))
             for i in range(0, len(images), batch)]
    logits = np.concatenate([p[0] for p in parts])
    hidden = [np.concatenate([p[1][j] for p in parts]) for j in range(len(net.codes) - 1)]
    return logits, hidden


def predict(net: FixedPointNetwork, images: Any, variant: str = "rescaled", batch: int = BATCH) -> np.ndarray:
    """The predicted class of every image: int ``[N]`` (see :func:`run`)."""
    return np.argmax(run(net, images, variant, batch)[0], axis=-1)


__all__ = ["BATCH", "FixedPointNetwork", "IntegerLayer", "MULTIPLIER_BITS", "PIXEL_STEP", "VARIANTS", "check_variant",
           "fixed_point", "integer_layers", "layer_names", "multiply_shift", "predict", "requantizer", "run"]
