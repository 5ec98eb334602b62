"""One trial of the paper's method: float training -> direct quantization -> retraining.

A trial is one network (dataset, family, size) and one budget, run for several seeds at once.
:func:`run_trial` returns plain JSON-ready dicts (schema in ARCHITECTURE.md); errors are fractions.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from quantlab import data, models
from quantlab import quantize as qz
from quantlab.train import FitResult, Quant, TrainConfig, default_config, error_rate, fit
from quantlab.train import seed_quantize, seed_steps


@dataclasses.dataclass(frozen=True)
class TrialConfig:
    """Everything that determines a trial's results, apart from the seed.

    size: ffdnn ``(width, depth)``; cnn feature maps per conv layer, e.g. ``(8, 8, 16)``.
    bits: weight bit widths to quantize to (2 = ternary).
    train_subset: train on only the first ``n`` examples of the training split (None: all).
    """

    dataset: str = "fashion_mnist"
    family: str = "ffdnn"
    size: tuple[int, ...] = (256, 2)
    bits: tuple[int, ...] = (2, 3)
    float_train: TrainConfig | None = None
    retrain: TrainConfig | None = None
    train_subset: int | None = None

    def __post_init__(self):
        if self.dataset not in data.DATASETS:
            raise ValueError(f"dataset must be one of {data.DATASETS}; got {self.dataset!r}")
        object.__setattr__(self, "size", models.check_size(self.family, self.size))
        if not self.bits:
            raise ValueError("bits must list at least one bit width >= 2, e.g. (2, 3)")
        object.__setattr__(self, "bits", tuple(qz.check_bits(b) for b in self.bits))
        for stage, name in (("float", "float_train"), ("retrain", "retrain")):
            if getattr(self, name) is None:
                object.__setattr__(self, name, default_config(self.family, stage))
        subset = self.train_subset
        if subset is not None and (isinstance(subset, bool) or not isinstance(subset, int) or subset < 1):
            raise ValueError(f"train_subset must be None or an integer >= 1; got {subset!r}")

    def describe(self) -> str:
        """Short human name, e.g. ``ffdnn 256x2 on fashion_mnist``."""
        size = "x".join(map(str, self.size)) if self.family == "ffdnn" else "-".join(map(str, self.size))
        return f"{self.family} {size} on {self.dataset}"


def _on_device(name: str, split: str, subset: int | None = None):
    images, labels = data.load(name, split)
    if subset is not None:
        images, labels = images[:subset], labels[:subset]
    return jnp.asarray(images), jnp.asarray(labels, jnp.int32)


def _per_seed(tree: Any, index: int) -> Any:
    return jax.tree.map(lambda x: x[index], tree)


def _stage(model, params, steps, quant, test, val_error, best_epoch=None, history=None) -> list[dict]:
    """Per-seed record of a quantized model: errors, steps, zero fraction."""
    qparams = seed_quantize(params, steps, quant)
    test_error = error_rate(model, qparams, *test)
    records = []
    for s in range(len(test_error)):
        record = {
            "val_error": float(val_error[s]),
            "test_error": float(test_error[s]),
            "steps": qz.masked_steps(_per_seed(steps, s), quant.mask),
            "zero_fraction": float(qz.zero_fraction(_per_seed(qparams, s), quant.mask)),
        }
        if best_epoch is not None:
            record["best_epoch"] = int(best_epoch[s])
            record["history"] = _seed_history(history, s)
        records.append(record)
    return records


def _seed_history(history: list, s: int) -> list[dict]:
    return [{"epoch": h["epoch"], "train_loss": h["train_loss"][s], "val_error": h["val_error"][s]} for h in history]


def run_trial(config: TrialConfig, seeds: Sequence[int], progress=None) -> list[dict]:
    """Runs float training, direct quantization and retraining for every seed (trained together).

    Args:
      config: the trial.
      seeds: distinct integer seeds; each determines initialisation and shuffling.
      progress: optional callable, called with the number of finished epochs (for progress bars);
        a trial has ``float_train.epochs + len(bits) * retrain.epochs`` epochs.
    Returns:
      One metrics dict per seed, in the order of ``seeds``.
    """
    seeds = [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be a non-empty list of distinct integers; got {seeds!r}")
    meta = data.info(config.dataset)
    train = _on_device(config.dataset, "train", config.train_subset)
    validation = _on_device(config.dataset, "validation")
    test = _on_device(config.dataset, "test")
    model = models.make_model(config.family, config.size, meta["num_classes"])
    keys = jnp.stack([jax.random.key(s) for s in seeds])
    init_keys, float_keys, retrain_keys = (jax.vmap(lambda k: jax.random.fold_in(k, i))(keys) for i in range(3))
    params = jax.vmap(lambda k: models.init_params(model, k, meta["image_shape"]))(init_keys)
    mask = models.quantized_mask(_per_seed(params, 0))
    name = config.describe()

    trained: FitResult = fit(
        model, params, train, validation, config.float_train, float_keys, label=name, progress=progress
    )
    float_test = error_rate(model, trained.params, *test)
    out = [
        {
            "params": models.count_params(_per_seed(params, 0)),
            "weights": models.count_params(_per_seed(params, 0), mask),
            "float": {
                "val_error": float(trained.val_error[s]),
                "test_error": float(float_test[s]),
                "best_epoch": int(trained.best_epoch[s]),
                "history": _seed_history(trained.history, s),
            },
            "direct": {},
            "retrain": {},
        }
        for s in range(len(seeds))
    ]
    for bits in config.bits:
        quant = Quant(bits, mask)
        steps = seed_steps(trained.params, quant)
        direct_val = error_rate(model, seed_quantize(trained.params, steps, quant), *validation)
        direct = _stage(model, trained.params, steps, quant, test, direct_val)
        bit_keys = jax.vmap(lambda k: jax.random.fold_in(k, bits))(retrain_keys)
        retrained = fit(
            model, trained.params, train, validation, config.retrain, bit_keys, quant,
            label=f"{name}, {bits}-bit retraining", progress=progress,
        )
        retrain = _stage(
            model, retrained.params, retrained.steps, quant, test,
            retrained.val_error, retrained.best_epoch, retrained.history,
        )
        for s in range(len(seeds)):
            out[s]["direct"][str(bits)] = direct[s]
            out[s]["retrain"][str(bits)] = retrain[s]
    return out
