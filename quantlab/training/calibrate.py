"""Calibration of fixed-point signals: each hidden layer's step, L2-optimal on the float network's
signals over a calibration set.

The calibration set is the first ``examples`` examples of the training split (a trial's
``signal_calibration``); the float network (float weights, float signals) runs on it once, every
hidden layer's output is read from the model's ``"signals"`` collection, and
:func:`quantlab.numerics.signals.optimal_signal_step` gives that layer's step. The steps then stay
fixed through direct quantization and retraining, like the weight steps under the ``fixed`` policy.
"""

from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from quantlab.numerics.signals import Signals, optimal_signal_step


@functools.partial(jax.jit, static_argnums=0)
def _hidden_signals(model, params, images):
    def one_seed(p):
        _, state = model.apply({"params": p}, images, mutable=["signals"])
        sown = state["signals"]
        return [sown[f"signal_{i}"][0] for i in range(len(sown))]

    return jax.vmap(one_seed)(params)


def signal_steps(model, params: Any, images: jax.Array, bits: int) -> Signals:
    """The :class:`~quantlab.numerics.signals.Signals` of ``bits``-bit signals for every seed of the
    float network ``params`` [S, ...]: steps float32 ``[S, hidden layers]``, each L2-optimal on that
    seed's float signals of ``images`` (uint8 ``[N, H, W, C]``, the calibration set)."""
    signals = jax.device_get(_hidden_signals(model, params, images))  # per layer: [S, N, ...]
    seeds = signals[0].shape[0]
    steps = np.array([[optimal_signal_step(layer[s], bits) for layer in signals] for s in range(seeds)],
                     np.float32)
    return Signals(jnp.asarray(steps), bits)


__all__ = ["signal_steps"]
