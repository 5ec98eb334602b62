"""Before a sweep trains: will it fit this machine's memory and disks, and finish within a day?

:func:`problems` lists, one line each naming the trial or path, the figure and what to do, why a
sweep is refused (:class:`PreflightError`, raised by :func:`quantlab.experiments.sweep.run_sweep`): it

* needs more device memory for one trial than the device has (:func:`trial_memory_bytes`, an upper
  estimate, against :func:`device_memory_bytes`),
* needs more disk than is free where its records and its float networks go (:data:`RECORD_BYTES`
  per record, the float parameters of each trial in the cache), or
* is estimated to run longer than :data:`MAX_ESTIMATE_SECONDS` on this machine.

``force=True`` (``python -m quantlab sweep --force``) runs it anyway (:data:`OVERRIDE`): the
estimates can be wrong.
"""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from quantlab import data
from quantlab.experiments.store import config_dict
from quantlab.formatting import count, format_bytes, format_duration
from quantlab.nn import shapes

MAX_ESTIMATE_SECONDS = 24 * 3600
"""A sweep estimated to take longer than this (a day) on this machine is refused unless forced."""

RECORD_BYTES = 16 * 1024
"""Disk reserved per record (the committed records hold 3-7 KB)."""

PARAM_COPIES = 8
"""Copies of the parameters a seed holds while it trains: weights, gradients, Adam's two moments, the
float network, the quantized and the best copy, and one for XLA's temporaries."""

EVAL_CHUNK = 1000
"""Examples evaluated at once (``quantlab.training.train.evaluate``'s chunk)."""


OVERRIDE = "(estimates, not measurements: --force, or force=True, runs it anyway)"
"""The last line of a refusal: how to override it deliberately."""


class PreflightError(ValueError):
    """A sweep this machine cannot or should not run as asked; the message says why and what to do."""


def trial_memory_bytes(config: Any, n_seeds: int) -> int:
    """Upper estimate of one trial's peak device memory (bytes) with ``n_seeds`` seeds trained
    together: the dataset on the device as float32, :data:`PARAM_COPIES` float32 copies of the
    parameters per seed, and per seed the float32 activations of a training batch (forward and
    backward, 3x) or of an evaluation chunk, whichever is larger."""
    cfg = config_dict(config)
    info = data.info(cfg["dataset"])
    pixels = math.prod(info["image_shape"])
    layers = shapes.layer_dims(cfg["family"], cfg["size"], info["image_shape"], info["num_classes"])
    params = sum(layer["kernel"] + layer["bias"] for layer in layers)
    activations = pixels + sum(layer["outputs"] * layer["positions"] for layer in layers)
    batch = max(stage.get("batch_size", 100) for stage in (cfg["float_train"], cfg["retrain"]))
    per_seed = PARAM_COPIES * params + max(3 * batch, EVAL_CHUNK) * activations
    return 4 * (sum(info["splits"].values()) * pixels + n_seeds * per_seed)


def device_memory_bytes() -> tuple[int, str]:
    """``(bytes, name)`` of the memory of JAX's first device: an accelerator's allocator limit, or
    this machine's physical memory for the CPU."""
    import jax  # noqa: PLC0415 - only planning needs it

    device = jax.devices()[0]
    stats = device.memory_stats() if device.platform != "cpu" else None
    if stats and stats.get("bytes_limit"):
        return int(stats["bytes_limit"]), f"the {device.platform.upper()} ({device.device_kind})"
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"), "this machine's memory"


def float_cache_bytes(config: Any, n_seeds: int) -> int:
    """Disk that the float networks of ``n_seeds`` seeds of a trial take in the cache (float32)."""
    cfg = config_dict(config)
    info = data.info(cfg["dataset"])
    cost = shapes.network_cost(cfg["family"], cfg["size"], info["image_shape"], info["num_classes"])
    return 4 * cost["params"] * n_seeds + 64 * 1024


def _free_bytes(path: Path) -> int:
    """Free bytes on the file system that holds ``path`` (or its nearest existing parent)."""
    path = Path(path).expanduser().absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return shutil.disk_usage(path).free


def problems(name: str, runs: Sequence[Any], estimate: float, results_dir: Path,
             cache_dir: Path | None = None, memory: tuple[int, str] | None = None) -> list[str]:
    """What stops the sweep ``name`` (one line each, with what to do); empty when nothing does.
    ``runs``: the planned runs with missing seeds (``config``, ``label``, ``missing``); ``estimate``:
    seconds on this machine; ``memory``: ``(bytes, name)`` of the device the trials run on
    (:func:`device_memory_bytes`), or None where that is not known here (trials on a Ray cluster)."""
    out = []
    limit, device = memory if memory is not None else (math.inf, "")
    for run in runs:
        need = trial_memory_bytes(run.config, len(run.missing))
        if need > limit:
            out.append(f"trial {run.name} needs about {format_bytes(need)} of memory with "
                       f"{count(len(run.missing), 'seed')} trained together, more than the {format_bytes(limit)} of "
                       f"{device}; give smaller sizes (widths, depths or feature_maps) or fewer seeds")
            break
    if estimate > MAX_ESTIMATE_SECONDS:
        out.append(f"the sweep is estimated at {format_duration(estimate)} on this machine, more than the "
                   f"{format_duration(MAX_ESTIMATE_SECONDS)} limit; lower the budgets (epochs), give fewer "
                   f"sizes or seeds, or run part of it with --only PATTERN")
    cache_dir = cache_dir if cache_dir is not None else data.cache_dir()
    needs = {Path(results_dir): RECORD_BYTES * sum(len(r.missing) for r in runs),
             cache_dir: sum(float_cache_bytes(r.config, len(r.missing)) for r in runs)}
    for path, need in needs.items():
        free = _free_bytes(path)
        if need > free:
            out.append(f"{path} has {format_bytes(free)} free, and the sweep needs about {format_bytes(need)} "
                       f"there; free some space or point "
                       f"{'--results DIR' if path == Path(results_dir) else 'QUANTLAB_CACHE'} "
                       f"at a larger disk")
    return [f"spec {name!r}: {p}" for p in out]
