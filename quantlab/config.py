"""What determines a trial apart from its seed, and the checks of every value in it.

:class:`TrainConfig` (a training budget), :class:`TrialConfig` (one trial: data, network, bits, budgets,
step policy, quantizer rule, signals) and the checks they and the sweep specs share (:func:`check_bits`,
:func:`check_size`, :func:`check_policy`, :func:`check_quantizer`, :func:`default_config`). Standard
library only (a config's dataset is checked against :data:`quantlab.data.DATASETS` when the config is
built), so that the spec, the store, the executors and the command line read, check, plan and key
trials without importing JAX (tests/test_spec.py); the training code imports these names from here.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Sequence
from typing import Any

from quantlab.vocabulary import QUANTIZERS, STEP_POLICIES, TERNARY_QUANTIZERS

MAX_BITS = 8
"""The widest supported bit width. :func:`quantlab.numerics.quantize.optimal_step` walks
``2**(bits - 1) - 1`` breakpoints per weight: at 8 bits a 784x256 layer takes 9 s and 1.9 GB on a
2-core CPU, and every further bit doubles both (16 bits would need ~500 GB for that layer)."""
FAMILIES = ("ffdnn", "cnn")
OPTIMIZERS = ("adam", "sgd", "momentum")
SCHEDULES = ("constant", "cosine")


def check_bits(bits: Any) -> int:
    """Returns ``bits`` as an int, or raises ValueError unless it is an integer in 2..MAX_BITS."""
    if isinstance(bits, bool) or not isinstance(bits, numbers.Integral) or not 2 <= bits <= MAX_BITS:
        raise ValueError(
            f"bits must be an integer >= 2 and <= {MAX_BITS} (2 = ternary with 3 levels, 3 = 7 levels, "
            f"b = 2**b - 1 levels); got {bits!r}"
        )
    return int(bits)


def check_size(family: str, size: Sequence[int]) -> tuple[int, ...]:
    """Validates a size for a family; returns it as a tuple of ints.

    ffdnn: ``(width, depth)`` with width >= 1, depth >= 1. cnn: feature maps per conv layer, each >= 1.
    """
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}; got {family!r}")
    size = tuple(size)
    if not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in size):
        raise ValueError(f"size must be integers; got {size!r}")
    if family == "ffdnn" and (len(size) != 2 or min(size) < 1):
        raise ValueError(f"ffdnn size must be (width >= 1, depth >= 1); got {size!r}")
    if family == "cnn" and (len(size) < 1 or min(size) < 1):
        raise ValueError(f"cnn size must be feature-map counts >= 1, e.g. (8, 8, 16); got {size!r}")
    return tuple(int(s) for s in size)


def max_cnn_depth(image_shape: Sequence[int]) -> int:
    """The most conv layers a CNN can have on ``(H, W, C)`` images: each layer's 2x2 max pooling
    halves the height and width (rounding down), and at least one pixel must remain (4 for 28x28,
    5 for 32x32)."""
    h, w = image_shape[:2]
    return int(min(h, w)).bit_length() - 1


def check_policy(policy: Any) -> str:
    """Returns ``policy`` or raises ValueError unless it is one of :data:`STEP_POLICIES`."""
    if policy not in STEP_POLICIES:
        raise ValueError(f"step_policy must be one of {STEP_POLICIES}; got {policy!r}")
    return policy


def check_quantizer(name: Any, bits: Any = None) -> str:
    """``name`` if it is one of :data:`QUANTIZERS` (and, for a ternary rule given ``bits``, every bit
    width is 2), else ValueError."""
    if name not in QUANTIZERS:
        raise ValueError(f"quantizer must be one of {QUANTIZERS}; got {name!r}")
    if name in TERNARY_QUANTIZERS and bits is not None:
        for b in (bits if isinstance(bits, (tuple, list)) else (bits,)):
            if b != 2:
                raise ValueError(f"quantizer {name!r} is a ternary rule: bits must be 2; got {b!r}")
    return name


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """A training budget. ``learning_rate`` is the peak rate; ``cosine`` decays it to 0 over all
    steps of the run. ``epochs`` counts passes over the training split."""

    optimizer: str = "adam"
    learning_rate: float = 1e-3
    schedule: str = "cosine"
    batch_size: int = 100
    epochs: int = 10

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {OPTIMIZERS}; got {self.optimizer!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}; got {self.schedule!r}")
        if not (isinstance(self.learning_rate, (int, float)) and 0 < self.learning_rate < math.inf):
            raise ValueError(f"learning_rate must be a positive number; got {self.learning_rate!r}")
        for name in ("batch_size", "epochs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1; got {value!r}")


def default_config(family: str, stage: str) -> TrainConfig:
    """Good defaults per family ("ffdnn" | "cnn") and stage ("float" | "retrain").

    Retraining starts from a trained network, so it uses a 5x smaller peak learning rate.
    """
    stages = ("float", "retrain")
    if stage not in stages:
        raise ValueError(f"stage must be one of {stages}; got {stage!r}")
    rate = {"ffdnn": 1e-3, "cnn": 2e-3}
    if family not in rate:
        raise ValueError(f"family must be one of {tuple(rate)}; got {family!r}")
    if stage == "float":
        return TrainConfig(learning_rate=rate[family], epochs=10)
    return TrainConfig(learning_rate=rate[family] / 5, epochs=4)


CALIBRATION_EXAMPLES = 256
"""Training examples (the split's first) on which fixed-point signal steps are calibrated by default:
at least 256 values per hidden unit, and at 8 bits the exact search of the widest layers stays
within seconds."""


@dataclasses.dataclass(frozen=True)
class TrialConfig:
    """Everything that determines a trial's results, apart from the seed.

    size: ffdnn ``(width, depth)``; cnn feature maps per conv layer, e.g. ``(8, 8, 16)``.
    bits: weight bit widths to quantize to (2 = ternary).
    train_subset: train on only the first ``n`` examples of the training split (None: all).
    step_policy: how retraining sets the quantization steps, ``fixed`` (the float network's optimum,
      the paper's method) or ``adaptive`` (re-estimated at every step); see :mod:`quantlab.training.train`.
    quantizer: the rule that sets each layer's levels (:data:`quantlab.numerics.rules.QUANTIZERS`;
      ``twn`` and ``ttq`` are ternary: bits must be ``(2,)``).
    signal_bits: the word length of every hidden layer's output (fixed-point signals,
      :mod:`quantlab.numerics.signals`) in direct quantization and retraining; None: float signals.
    signal_calibration: the training examples (the split's first) on which the signal steps are
      calibrated; :data:`CALIBRATION_EXAMPLES` when ``signal_bits`` is set, else None.

    The two signal fields are left out of the record key while they are None
    (:data:`KEY_OMITS_NONE`), so records of float-signal trials keep the keys they had before them.
    """

    KEY_OMITS_NONE = ("signal_bits", "signal_calibration")

    dataset: str = "fashion_mnist"
    family: str = "ffdnn"
    size: tuple[int, ...] = (256, 2)
    bits: tuple[int, ...] = (2, 3)
    float_train: TrainConfig | None = None
    retrain: TrainConfig | None = None
    train_subset: int | None = None
    step_policy: str = "fixed"
    quantizer: str = "l2"
    signal_bits: int | None = None
    signal_calibration: int | None = None

    def __post_init__(self):
        from quantlab import data  # numpy, only when a config is built (importing this module stays light)

        if self.dataset not in data.DATASETS:
            raise ValueError(f"dataset must be one of {data.DATASETS}; got {self.dataset!r}")
        object.__setattr__(self, "size", check_size(self.family, self.size))
        if not self.bits:
            raise ValueError("bits must list at least one bit width >= 2, e.g. (2, 3)")
        object.__setattr__(self, "bits", tuple(check_bits(b) for b in self.bits))
        for stage, name in (("float", "float_train"), ("retrain", "retrain")):
            if getattr(self, name) is None:
                object.__setattr__(self, name, default_config(self.family, stage))
        subset = self.train_subset
        if subset is not None and (isinstance(subset, bool) or not isinstance(subset, int) or subset < 1):
            raise ValueError(f"train_subset must be None or an integer >= 1; got {subset!r}")
        check_policy(self.step_policy)
        check_quantizer(self.quantizer, self.bits)
        if self.signal_bits is None:
            if self.signal_calibration is not None:
                raise ValueError("signal_calibration needs signal_bits (float signals are not calibrated)")
            return
        check_bits(self.signal_bits)
        if self.signal_calibration is None:
            object.__setattr__(self, "signal_calibration", CALIBRATION_EXAMPLES)
        n = self.signal_calibration
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ValueError(f"signal_calibration must be an integer >= 1 (training examples); got {n!r}")

    def describe(self) -> str:
        """Short human name, e.g. ``ffdnn 256x2 on fashion_mnist``."""
        size = "x".join(map(str, self.size)) if self.family == "ffdnn" else "-".join(map(str, self.size))
        return f"{self.family} {size} on {self.dataset}"


__all__ = ["CALIBRATION_EXAMPLES", "FAMILIES", "MAX_BITS", "OPTIMIZERS", "SCHEDULES", "TrainConfig", "TrialConfig",
           "check_bits", "check_policy", "check_quantizer", "check_size", "default_config", "max_cnn_depth"]
