"""Real quantized networks for the integer-inference and export tests: a float FFDNN 64x2 and CNN 4-8
trained for 2 epochs on Fashion-MNIST (seed 0; cached in the float-network cache), quantized directly."""

import dataclasses
import functools

import jax
import numpy as np

from quantlab.numerics.signals import Signals
from quantlab.training import experiment as ex
from quantlab.training.train import TrainConfig

SIZES = {"ffdnn": (64, 2), "cnn": (4, 8)}


@functools.lru_cache(maxsize=None)
def float_network(family):
    config = ex.TrialConfig(family=family, size=SIZES[family], bits=(2, 3), float_train=TrainConfig(epochs=2))
    trial = ex.prepare(config, [0])
    return trial, ex.train_float(trial)


def quantized(family, bits, signal_bits):
    """(model, quantized params, Signals or None, FixedPointNetwork) of the directly quantized float network."""
    trial, trained = float_network(family)
    signals = None
    if signal_bits is not None:
        config = dataclasses.replace(trial.config, signal_bits=signal_bits)
        signals = ex.calibrate(dataclasses.replace(trial, config=config), trained)
    direct = ex.quantize_direct(trial, trained, bits, signals)
    quantized = jax.tree.map(lambda a: np.asarray(a)[0], jax.device_get(direct.network(trial)))
    one = None if signals is None else Signals(signals.steps[0], signal_bits)
    return trial.model, quantized, one, direct.fixed_point(trial, 0)
