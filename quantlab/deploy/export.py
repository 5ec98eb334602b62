"""A record's retrained network, re-run and exported: safetensors (packed codes) or ONNX.

Records keep errors, steps and curves, not weights (a sweep's networks would take gigabytes). The
exporter re-runs the one trial deterministically instead: the float network comes from the
float-network cache when this machine trained it (:mod:`quantlab.training.netcache`), else it is
trained again; then calibration, direct quantization and the retraining of the asked bit width run
as the sweep ran them, with the seeds the record was trained with (its ``trial_seeds``: the seeds of
a trial train together). On the machine kind that made the record the re-run's test error equals the
record's; the file's metadata holds both, and :func:`export` warns when they differ.
"""

from __future__ import annotations

import os
import warnings
from typing import Any

import numpy as np

import quantlab
from quantlab import data
from quantlab.deploy import fileformat, onnxgraph
from quantlab.experiments import store as qstore
from quantlab.numerics import packing as packing_module
from quantlab.training import experiment as ex
from quantlab.vocabulary import EXPORT_FORMATS

class ReproductionWarning(UserWarning):
    """The re-run's test error is not the record's (another machine kind or library version)."""


def find_trial(spec: Any, label: str, bits: int, signal_bits: int | None = None) -> Any:
    """The one trial config of ``spec`` named ``label`` (``ffdnn-w256-d3``, ``cnn-4-4-8``) with
    ``bits`` among its bit widths and signal word length ``signal_bits`` (None: float signals).
    ValueError naming the valid labels, bits and signal bits otherwise."""
    trials = spec.trials()
    labels = sorted({qstore.trial_label(c) for c in trials})
    named = [c for c in trials if qstore.trial_label(c) == label]
    if not named:
        raise ValueError(f"network {label!r} is not in spec {spec.name!r}; valid: {', '.join(labels)}")
    signal = [c for c in named if c.signal_bits == signal_bits]
    if not signal:
        valid = sorted({c.signal_bits for c in named}, key=lambda b: -1 if b is None else b)
        raise ValueError(f"--signal-bits {signal_bits} is not a signal word length of {label} in {spec.name}; "
                         f"valid: {', '.join('none (float)' if b is None else str(b) for b in valid)}")
    with_bits = [c for c in signal if bits in c.bits]
    if not with_bits:
        raise ValueError(f"--bits {bits} is not a bit width of {label} in {spec.name}; "
                         f"valid: {', '.join(map(str, signal[0].bits))}")
    if len(with_bits) > 1:
        raise ValueError(f"{label} names {len(with_bits)} trials of {spec.name} (quantizer rules, subsets, "
                         "policies or budgets): export takes specs with one trial per network")
    return with_bits[0]


def retrained(config: Any, seed: int, bits: int, trial_seeds: list[int] | None = None, progress=None) -> tuple:
    """``(FixedPointNetwork, test error)`` of seed ``seed``'s network of ``config`` retrained at
    ``bits``, re-run with ``trial_seeds`` (default: ``[seed]``) trained together."""
    seeds = list(trial_seeds or [seed])
    if seed not in seeds:
        raise ValueError(f"seed {seed} is not among the trial's seeds {seeds}")
    trial = ex.prepare(config, seeds)
    trained = ex.train_float(trial, progress)
    direct = ex.quantize_direct(trial, trained, bits, ex.calibrate(trial, trained))
    stage = ex.retrain(trial, direct, progress)
    index = seeds.index(seed)
    return stage.fixed_point(trial, index), float(stage.test_error[index])


def check(spec: Any, label: str, seed: int, bits: int, file_format: str = "safetensors",
          signal_bits: int | None = None, packing: str = "bits") -> Any:
    """The trial config an export of these values writes (:func:`find_trial`), or ValueError naming
    the field and its valid values; nothing runs."""
    if file_format not in EXPORT_FORMATS:
        raise ValueError(f"format must be one of {', '.join(EXPORT_FORMATS)}; got {file_format!r}")
    if file_format == "onnx" and signal_bits is None:
        raise ValueError("ONNX export writes the integer-only network, which needs fixed-point signals: "
                         "give --signal-bits (or use --format safetensors, which also holds float-signal networks)")
    config = find_trial(spec, label, bits, signal_bits)
    if seed not in spec.seeds:
        raise ValueError(f"seed {seed} is not a seed of spec {spec.name}; valid: {', '.join(map(str, spec.seeds))}")
    if file_format == "safetensors":
        packing_module.check_packing(packing, bits)
    return config


def export(spec: Any, store: qstore.Store, label: str, seed: int, bits: int, out: str | os.PathLike,
           file_format: str = "safetensors", signal_bits: int | None = None, packing: str = "bits",
           progress=None) -> dict:
    """Re-runs (:func:`retrained`) and writes one network of ``spec`` to ``out`` in ``file_format``
    (:data:`quantlab.vocabulary.EXPORT_FORMATS`; ``packing`` for safetensors); returns the metadata
    written. ``progress`` is called with finished epochs (float training, cached or not, then retraining)."""
    config = check(spec, label, seed, bits, file_format, signal_bits, packing)
    record = store.get(config, seed)
    trial_seeds = (record or {}).get("provenance", {}).get("trial_seeds") or [seed]
    net, test_error = retrained(config, seed, bits, trial_seeds, progress)
    meta = {"dataset": config.dataset, "size": list(config.size), "quantizer": config.quantizer,
            "step_policy": config.step_policy, "seed": seed, "trial_seeds": trial_seeds,
            "label": qstore.trial_label(config), "record_key": qstore.record_key(config, seed),
            "quantlab_version": quantlab.__version__, "numerics_version": quantlab.NUMERICS_VERSION,
            "test_error": test_error}
    if record is not None:
        meta["record_test_error"] = record["metrics"]["retrain"][str(bits)]["test_error"]
        if not np.isclose(meta["record_test_error"], test_error, rtol=0, atol=1e-9):
            warnings.warn(f"the re-run's test error {test_error:.4%} is not the record's "
                          f"{meta['record_test_error']:.4%} (another machine kind or library version): the "
                          "file holds the re-run's network", ReproductionWarning, stacklevel=2)
    if file_format == "onnx":
        onnxgraph.save(out, net, tuple(data.info(config.dataset)["image_shape"]), meta)
    else:
        fileformat.save(out, net, meta, packing)
    return meta


__all__ = ["ReproductionWarning", "check", "export", "find_trial", "retrained"]
