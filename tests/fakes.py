"""Synthetic inputs shared by the tests (unit tests only; never results): a tiny sweep spec, the source
of fake metrics for subprocess wrappers, and one factory of synthetic metrics, records and tidy rows
(:func:`stage`, :func:`metrics`, :func:`record`, :func:`rows`)."""

import inspect

TINY_SPEC_TOML = """
description = "fake trials"
dataset = "fashion_mnist"
family = "ffdnn"
widths = [1, 2, 3, 4, 5, 6]
depths = [1]
bits = [2]
seeds = [0, 1]
train_subset = 100
[float_train]
epochs = 1
[retrain]
epochs = 1
"""
"""A sweep spec of six tiny FFDNN trials x 2 seeds (TOML text): for tests that fake or time trials."""

def constant_metrics(config) -> dict:
    """One seed's valid metrics of ``config`` without training: float error 0.1, every direct and
    retrained bit width 0.5."""
    stage = {"val_error": 0.5, "test_error": 0.5, "steps": [0.1], "zero_fraction": 0.3}
    return {"params": 1, "weights": 1, "float": {"val_error": 0.1, "test_error": 0.1},
            "direct": {str(b): stage for b in config.bits}, "retrain": {str(b): stage for b in config.bits}}


FAKE_METRICS_SOURCE = inspect.getsource(constant_metrics) + """

def fake_metrics(config, seeds):
    return [constant_metrics(config) for _ in seeds]
"""
"""Python source of :func:`constant_metrics` and ``fake_metrics(config, seeds)`` (one per seed), for
the wrapper scripts that stand in for ``run_trial`` in a subprocess."""


# -- one factory of synthetic metrics, records and tidy rows ---------------------------------------

def stage(test_error: float, val_error: float | None = None, **extra) -> dict:
    """One stage's metrics (a float network, a direct or retrained bit width): ``val_error``
    defaults to ``test_error``; ``extra`` adds fields (``history``, ``best_epoch``, ...)."""
    return {"val_error": test_error if val_error is None else val_error, "test_error": test_error,
            "steps": [0.1], "zero_fraction": 0.3, **extra}


def metrics(params: int, weights: int, float_: dict, direct: dict, retrain: dict, control: dict | None = None) -> dict:
    """A trial's metrics for one seed, shaped like ``quantlab.training.experiment.run_trial``'s:
    ``float_``/``control``: :func:`stage` dicts; ``direct``/``retrain``: ``{bits: stage}``."""
    out = {"params": params, "weights": weights, "float": float_,
           "direct": {str(b): s for b, s in direct.items()}, "retrain": {str(b): s for b, s in retrain.items()}}
    if control is not None:
        out["float_control"] = control
    return out


def record(family: str, size, seed: int, metrics_: dict, dataset: str = "fashion_mnist", **config) -> dict:
    """A store record's fields that the row layer reads (``config``, ``seed``, ``metrics``)."""
    bits = sorted(int(b) for b in metrics_["retrain"])
    return {"config": {"family": family, "size": list(size), "dataset": dataset, "bits": bits, **config},
            "seed": seed, "metrics": metrics_}


def rows(errors: dict, params: int = 1000, weights: int | None = None, control=None, **fields) -> list[dict]:
    """Tidy rows of one network: ``errors`` maps ``(method, bits)`` to per-seed test errors (seed =
    position; the validation error equals it); ``control``: per-seed float-control errors (or one for every
    seed); ``fields`` are added to every row (``trial``, ``spec``, ``retrain_epochs``, ...)."""
    out = []
    for (method, bits), errs in errors.items():
        for seed, e in enumerate(errs):
            c = control[seed] if isinstance(control, (list, tuple)) else control
            out.append({"params": params, "weights": params - params // 100 if weights is None else weights,
                        "seed": seed, "method": method, "bits": bits, "test_error": e, "val_error": e,
                        "control_test_error": c, **fields})
    return out
