"""The row layer: results as tidy rows, read from the store, and their one seed summary.

What the CLI's ``results``, the charts, the analysis (:mod:`quantlab.analysis.stats`) and the verdicts
(:mod:`quantlab.analysis.report`) read:

* :func:`tidy` flattens a spec's records into one row per (trial, seed, method, bit width). It only
  reads: when records are missing it says which command computes them
  (``python -m quantlab sweep``, or :func:`quantlab.experiments.sweep.ensure` from code); it never trains.
* :func:`summarise` aggregates those rows over seeds, the one way quantlab does: mean and sample
  standard deviation per (network, method, bits), the gap to the float network and to the float
  control of the same network, paired per seed. Its rules: errors and gaps are fractions; a
  standard deviation or standard error of one seed is None.
* :func:`network_label` is the one name of a network; :func:`check_rows` the one check of rows.
* :func:`provenance_summary` and :func:`provenance_note` say what produced the records (commit, device,
  packages, dates, wall time) and with which budget, for the note under each chart.

Errors are fractions in [0, 1] everywhere here; text (:mod:`quantlab.formatting`) and charts convert
them to percent for display.
Weight memory is :func:`quantlab.numerics.compression.memory_bits` (quantized kernels at ``bits`` each, biases at 32
bits; float networks ``params x 32``). Reading results imports neither Altair nor the sweep runner; JAX
comes in through the spec's trial configs.
"""

from __future__ import annotations

import csv
import json
import math
import os
import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from quantlab import data
from quantlab.experiments.spec import SweepSpec, load_spec
from quantlab.experiments.store import (REPO_ROOT, MissingRecordsError, Store, config_dict, default_results_dir,
                                        sweep_command, trial_label, trial_name)
from quantlab.fileio import write_atomic
from quantlab.formatting import and_list, count, format_duration, plural
from quantlab.numerics.compression import memory_bits  # the book's one definition of weight memory
from quantlab.vocabulary import FLOAT_BITS, METHODS, QUANTIZERS, STEP_POLICIES

# What the paper most likely used for each family (its full text was not available).
PAPER_DATASETS = {"ffdnn": "TIMIT", "cnn": "CIFAR-10"}


def dataset_name(dataset: str) -> str:
    """A dataset's display name (``quantlab.data.info``): ``fashion_mnist`` -> ``Fashion-MNIST``."""
    return data.info(dataset)["display_name"] if dataset in data.DATASETS else dataset


def _spec(spec_or_name: SweepSpec | str) -> SweepSpec:
    return spec_or_name if isinstance(spec_or_name, SweepSpec) else load_spec(spec_or_name)


def _store(spec: SweepSpec, store: Store | None) -> Store:
    return store if store is not None else Store(default_results_dir(spec))


def size_fields(family: str, size: Sequence[int]) -> dict:
    """``width``, ``depth`` (ffdnn) or ``maps`` (cnn, e.g. ``"8-8-16"``), and a short ``size_label``."""
    size = tuple(int(s) for s in size)
    if family == "ffdnn":
        width, depth = size
        return {"width": width, "depth": depth, "maps": None, "size_label": f"{width}x{depth}"}
    maps = "-".join(map(str, size))
    return {"width": None, "depth": None, "maps": maps, "size_label": maps}


def missing_records(spec_or_name: SweepSpec | str, store: Store | None = None) -> list[tuple[str, int]]:
    """``(trial name, seed)`` of every record of the spec that the store lacks (reading only); the name
    is :func:`~quantlab.experiments.store.trial_name`'s (``ffdnn-w16-d3 signal_bits=4``)."""
    spec = _spec(spec_or_name)
    store = _store(spec, store)
    return [(trial_name(spec, c), s) for c in spec.trials() for s in spec.seeds if not store.has(c, s)]


def record_rows(
    record: Mapping[str, Any], methods: Sequence[str] = METHODS, spec_name: str | None = None
) -> list[dict]:
    """The tidy rows of one store record (see :func:`tidy`)."""
    cfg, metrics = record["config"], record["metrics"]
    family, size = cfg["family"], tuple(int(s) for s in cfg["size"])
    params, weights = int(metrics["params"]), int(metrics["weights"])
    control = metrics.get("float_control") or {}
    base = {
        "spec": spec_name, "trial": record.get("label") or trial_label(cfg), "family": family,
        "dataset": cfg["dataset"], "size": size, **size_fields(family, size),
        "params": params, "weights": weights, "seed": int(record["seed"]),
        "step_policy": cfg.get("step_policy", "fixed"), "retrain_epochs": (cfg.get("retrain") or {}).get("epochs"),
        "train_subset": cfg.get("train_subset"), "quantizer": cfg.get("quantizer", "l2"),
        "signal_bits": cfg.get("signal_bits"),
        "control_test_error": control.get("test_error"), "control_val_error": control.get("val_error"),
    }

    def row(method: str, bits: int, m: Mapping[str, Any]) -> dict:
        return {**base, "method": method, "bits": bits,
                "test_error": float(m["test_error"]), "val_error": float(m["val_error"]),
                "weight_bits": memory_bits(params, weights, bits), "weight_error": m.get("weight_error")}

    rows = []
    if "float" in methods:
        rows.append(row("float", FLOAT_BITS, metrics["float"]))
    for bits in cfg["bits"]:
        for method in ("direct", "retrain"):
            stage = metrics.get(method, {}).get(str(bits))
            if method in methods and stage is not None:
                rows.append(row(method, int(bits), stage))
    return rows


def tidy(spec_or_name: SweepSpec | str, store: Store | None = None, allow_missing: bool = False,
         methods: Sequence[str] | None = None) -> list[dict]:
    """One row per (trial, seed, method, bits) of a spec's records, in spec order. Reads only.
    ``methods``: which methods' rows (default: the spec's ``methods``).

    Raises :class:`MissingRecordsError` (naming the command that computes them) when records are
    missing, unless ``allow_missing``: then trials or seeds without a record are left out.

    Row fields: ``spec, trial`` (e.g. ``ffdnn-w256-d3``), ``family, dataset, size`` (tuple),
    ``width, depth`` (ffdnn; else None), ``maps`` (cnn, e.g. ``"8-8-16"``; else None),
    ``size_label, params, weights`` (quantized kernels), ``seed, step_policy`` (``fixed |
    adaptive``), ``retrain_epochs`` (the retraining budget), ``quantizer``, ``signal_bits`` (the hidden
    signals' word length; None: float), ``method`` (``float | direct |
    retrain``), ``bits`` (32 for float), ``test_error, val_error`` (fractions), ``weight_bits``
    (:func:`memory_bits`) and ``control_test_error, control_val_error``: the seed's float control
    (the float network trained on for the retraining's epochs, unquantized).
    """
    spec = _spec(spec_or_name)
    store = _store(spec, store)
    if not allow_missing and (missing := missing_records(spec, store)):
        raise MissingRecordsError(
            f"{count(len(missing), 'record')} of spec {spec.name!r} are not in {store.root} "
            f"(e.g. {missing[0][0]} seed {missing[0][1]}); compute them with: {sweep_command(spec, store)}")
    rows = []
    for record in store.records(spec):
        rows.extend(record_rows(record, spec.methods if methods is None else methods, spec.name))
    return rows


def curve_rows(metrics: Mapping[str, Any], **fields: Any) -> list[dict]:
    """Validation curves of one seed's metrics (a record's ``metrics`` or a trial's per-seed dict):
    one row per (stage, bits, epoch) with ``stage`` (``float | control | retrain``), ``bits`` (32
    for float stages), ``epoch`` (0 = the stage's starting network: the float network for the
    control, the directly quantized one for a retraining), ``val_error`` (fraction) and
    ``train_loss`` (nats) and ``train_error`` (fraction): the same network's loss and error on training
    examples (:data:`quantlab.training.train.TRAIN_PROBE`; None at epoch 0, and ``train_error`` None in
    records computed before histories kept it), plus ``fields`` (e.g. ``trial, seed``) on every row."""
    out = []

    def add(stage: str, bits: int, history: Sequence[Mapping[str, Any]], start: float | None) -> None:
        if start is not None:
            out.append({**fields, "stage": stage, "bits": bits, "epoch": 0, "val_error": float(start),
                        "train_loss": None, "train_error": None, "step_excess": None})
        for h in history:
            out.append({**fields, "stage": stage, "bits": bits, "epoch": int(h["epoch"]),
                        "val_error": float(h["val_error"]), "train_loss": float(h["train_loss"]),
                        "train_error": h.get("train_error"), "step_excess": h.get("step_excess")})

    add("float", FLOAT_BITS, metrics["float"].get("history") or [], None)
    if "float_control" in metrics:
        add("control", FLOAT_BITS, metrics["float_control"].get("history") or [], metrics["float"]["val_error"])
    for bits, stage in metrics.get("retrain", {}).items():
        add("retrain", int(bits), stage.get("history") or [], metrics["direct"][bits]["val_error"])
    return out


REPLICATES = "replicates"
"""Folder beside ``results/`` with other machines' runs of the reference specs, one store per folder
(``replicates/<name>/``, each with a README saying what ran where): same configs, seeds and keys."""


def replicate(spec_or_name: SweepSpec | str, name: str) -> list[dict]:
    """:func:`tidy` rows of a spec's records in the replicate store ``replicates/<name>`` (another
    machine's run of the same trials), leaving out what it lacks (e.g. seeds it did not run)."""
    spec = load_spec(spec_or_name) if isinstance(spec_or_name, str) else spec_or_name
    root = REPO_ROOT / REPLICATES / name
    if not root.is_dir():
        raise FileNotFoundError(f"no replicate store {root} (the folders of {root.parent} are the replicates)")
    return tidy(spec, Store(root), allow_missing=True)


def curves(spec_or_name: SweepSpec | str, store: Store | None = None) -> list[dict]:
    """:func:`curve_rows` of every record of a spec (reading only; missing records are left out),
    with the fields ``spec, dataset, trial, size_label, params, seed`` and :data:`NETWORK_FIELDS`."""
    spec = _spec(spec_or_name)
    out = []
    for record in _store(spec, store).records(spec):
        cfg = record["config"]
        out.extend(curve_rows(
            record["metrics"], spec=spec.name, dataset=cfg["dataset"], trial=record["label"],
            size_label=size_fields(cfg["family"], cfg["size"])["size_label"],
            params=int(record["metrics"]["params"]), seed=int(record["seed"]),
            step_policy=cfg.get("step_policy", "fixed"), retrain_epochs=int(cfg["retrain"]["epochs"]),
            train_subset=cfg.get("train_subset"), quantizer=cfg.get("quantizer", "l2"),
            signal_bits=cfg.get("signal_bits")))
    return out


ROW_FIELDS = ("params", "weights", "seed", "method", "bits", "test_error")
"""The fields every row needs for :func:`summarise` and what is built on it (:func:`check_rows`)."""


def network_label(row: Mapping[str, Any]) -> str:
    """The one short name of a row's network: its trial label (``ffdnn-w8-d3``), else its family
    and size (``ffdnn-8x3``), else its parameter count."""
    if row.get("trial"):
        return str(row["trial"])
    size = row.get("size")
    if size is None:
        return f"{row['params']:,} params"
    text = size if isinstance(size, str) else "-".join(map(str, size))
    return f"{row.get('family', 'net')}-{text}"


def check_rows(rows: Iterable[Mapping[str, Any]], fields: Sequence[str] = ROW_FIELDS,
               purpose: str = "to summarise") -> list[Mapping[str, Any]]:
    """``rows`` as a list, or ValueError if it is empty or a row lacks one of ``fields`` (the
    message names the row and the fields)."""
    rows = list(rows)
    if not rows:
        raise ValueError(f"rows is empty: there are no results {purpose}")
    for i, r in enumerate(rows):
        missing = [f for f in fields if f not in r]
        if missing:
            raise ValueError(f"row {i} lacks {plural(len(missing), 'field')} {', '.join(missing)}; "
                             f"tidy rows need {', '.join(fields)}")
    return rows


def _std(values: Sequence[float]) -> float | None:
    return statistics.stdev(values) if len(values) > 1 else None


def _se(values: Sequence[float]) -> float | None:
    std = _std(values)
    return None if std is None else std / math.sqrt(len(values))


def row_bits(row: Mapping[str, Any]) -> int:
    """A row's weight bits: :data:`~quantlab.vocabulary.FLOAT_BITS` for float rows."""
    return FLOAT_BITS if row["method"] == "float" else int(row["bits"])


_GROUP_FIELDS = ("spec", "trial", "family", "dataset", "size", "width", "depth", "maps", "size_label",
                 "params", "weights", "step_policy", "retrain_epochs", "train_subset", "quantizer", "signal_bits",
                 "method")

NETWORK_FIELDS = ("spec", "trial", "train_subset", "quantizer", "step_policy", "retrain_epochs", "signal_bits")
"""What tells one trained network of a sweep from another: its trial (size; :func:`network_label`),
training-set size, quantizer rule, step policy, retraining budget and signal word length (None:
float signals); the tidy rows, curve rows and
summary rows of one network share them (seeds aside)."""


def network_key(row: Mapping[str, Any]) -> tuple:
    """The :data:`NETWORK_FIELDS` of a tidy or curve row (the trial as :func:`network_label`; None where a
    field is absent): a summary row's ``key``."""
    return tuple(network_label(row) if k == "trial" else row.get(k) for k in NETWORK_FIELDS)


BASELINES = {"control": "gap_control", "float": "gap"}
"""The float baselines of a gap (:meth:`SummaryRow.gap`), each with the fields of :meth:`SummaryRow.as_dict` that
hold the gap against it: ``"control"``, the float network trained on for the retraining's epochs (the same
total training budget as the retrained network; ``gap_control``, ``gap_control_std``, ...); ``"float"``, the
float network before those extra epochs (the paper's baseline; ``gap``, ``gap_std``, ...)."""


@dataclass(frozen=True)
class Gap:
    """A network's test error minus a float baseline's, paired per seed (fractions): ``mean`` (its mean
    test error minus the baseline's), ``by_seed`` (``{seed: test error - baseline test error}`` on the
    seeds both have), ``std`` (sample standard deviation of those differences) and ``se`` (``std /
    sqrt(n)``, the book's "±" on a gap); ``std`` and ``se`` are None for one seed."""

    mean: float
    by_seed: dict[int, float]
    std: float | None
    se: float | None


def _paired_gap(mean: float, by_seed: dict[int, float]) -> Gap:
    values = list(by_seed.values())
    return Gap(mean, by_seed, _std(values), _se(values))


@dataclass(frozen=True)
class SummaryRow:
    """One row of the seed summary (:func:`summarise`): one network, method and bit width over its seeds.
    Errors and gaps are fractions; a standard deviation over one seed is None. The network's fields are
    those of :func:`tidy`, None where the rows lack them. The gap to a float baseline (:data:`BASELINES`)
    is :meth:`gap`, that baseline's mean test error :meth:`baseline_error`; :meth:`as_dict` is the flat
    row that tables, charts and ``results --csv`` show."""

    key: tuple  # network_key: what tells this network from the others (seeds aside)
    spec: str | None
    trial: str | None
    family: str | None
    dataset: str | None
    size: Any
    width: int | None
    depth: int | None
    maps: Any
    size_label: str | None
    params: int
    weights: int
    step_policy: str | None
    retrain_epochs: int | None
    train_subset: int | None
    quantizer: str | None
    signal_bits: int | None
    method: str
    network: str  # network_label
    bits: int  # FLOAT_BITS for float rows
    weight_bits: int  # quantlab.numerics.compression.memory_bits
    seeds: int  # how many
    seed_list: list[int]
    test_error: float  # mean over seeds
    test_error_std: float | None  # sample standard deviation
    val_error: float | None  # None where the rows lack it
    val_error_std: float | None
    float_error: float | None  # the float network's mean test error (quantized rows whose rows hold it)
    float_gap: Gap | None  # against the float network (quantized rows whose rows hold it)
    control_error: float | None  # the float control's mean test error (rows with control_test_error)
    control_gap: Gap | None  # against the float control (every method, rows with control_test_error)

    def gap(self, baseline: str) -> Gap | None:
        """The gap to ``baseline`` (``"control"`` or ``"float"``, :data:`BASELINES`); None without one."""
        return self.control_gap if check_baseline(baseline) == "control" else self.float_gap

    def baseline_error(self, baseline: str) -> float | None:
        """The mean test error of ``baseline`` (``"control"`` or ``"float"``); None without one."""
        return self.control_error if check_baseline(baseline) == "control" else self.float_error

    def as_dict(self) -> dict[str, Any]:
        """The flat row: the fields from ``spec`` to ``val_error_std``; then the gap to the float network
        (``gap``, ``gap_by_seed``, ``gap_std``, ``gap_se``), ``control_error`` and the gap to the float
        control (``gap_control``, ``gap_control_by_seed``, ...): None without one (:data:`BASELINES`)."""
        return {**{name: getattr(self, name) for name in _FLAT_FIELDS}, **self._gap_fields("float"),
                "control_error": self.control_error, **self._gap_fields("control")}

    def _gap_fields(self, baseline: str) -> dict[str, Any]:
        g, prefix = self.gap(baseline), BASELINES[baseline]
        values = (None,) * 4 if g is None else (g.mean, g.by_seed, g.std, g.se)
        return dict(zip((prefix, f"{prefix}_by_seed", f"{prefix}_std", f"{prefix}_se"), values))


_FLAT_FIELDS = tuple(f.name for f in fields(SummaryRow) if f.name not in ("key", "float_error", "float_gap",
                                                                          "control_error", "control_gap"))


def check_baseline(baseline: str) -> str:
    """``baseline`` if it is one of :data:`BASELINES`, else ValueError naming them."""
    if baseline not in BASELINES:
        raise ValueError(f"baseline must be one of {tuple(BASELINES)}; got {baseline!r}")
    return baseline


def summarise(rows: Iterable[Mapping[str, Any]]) -> list[SummaryRow]:
    """The one seed summary: :func:`tidy` rows aggregated over seeds, one :class:`SummaryRow` per network
    (:data:`NETWORK_FIELDS`), method and bits, in first-seen order. Empty ``rows`` give ``[]``; a row
    lacking one of :data:`ROW_FIELDS` raises ValueError."""
    rows = list(rows)
    if rows:
        check_rows(rows)
    groups: dict[tuple, list[Mapping[str, Any]]] = {}
    for r in rows:
        groups.setdefault((network_key(r), r["method"], row_bits(r)), []).append(r)
    floats = {net: members for (net, method, _), members in groups.items() if method == "float"}
    return [_summary_row(net, method, bits, members, floats.get(net) if method != "float" else None)
            for (net, method, bits), members in groups.items()]


def _summary_row(net: tuple, method: str, bits: int, members: Sequence[Mapping[str, Any]],
                 base: Sequence[Mapping[str, Any]] | None) -> SummaryRow:
    """The :class:`SummaryRow` of one group of tidy rows (``members``: one per seed), with the float
    network's rows ``base`` (None for float rows or without one)."""
    first = members[0]
    test = [float(m["test_error"]) for m in members]
    mean = statistics.fmean(test)
    val = [m.get("val_error") for m in members]
    val_ok = all(v is not None for v in val)
    control_error = control_gap = float_error = float_gap = None
    if all(m.get("control_test_error") is not None for m in members):
        control = [float(m["control_test_error"]) for m in members]
        control_error = statistics.fmean(control)
        control_gap = _paired_gap(mean - control_error,
                                  {int(m["seed"]): t - c for m, t, c in zip(members, test, control)})
    if base:
        float_error = statistics.fmean(float(b["test_error"]) for b in base)
        by_seed = {b["seed"]: float(b["test_error"]) for b in base}
        float_gap = _paired_gap(mean - float_error, {int(m["seed"]): float(m["test_error"]) - by_seed[m["seed"]]
                                                     for m in members if m["seed"] in by_seed})
    return SummaryRow(
        key=net, **{k: first.get(k) for k in _GROUP_FIELDS}, network=network_label(first), bits=bits,
        weight_bits=first.get("weight_bits") or memory_bits(first["params"], first["weights"], bits),
        seeds=len(members), seed_list=[m["seed"] for m in members], test_error=mean, test_error_std=_std(test),
        val_error=statistics.fmean(map(float, val)) if val_ok else None,
        val_error_std=_std([float(v) for v in val]) if val_ok else None,
        float_error=float_error, float_gap=float_gap, control_error=control_error, control_gap=control_gap)


def pick(summary_rows: Iterable[SummaryRow], method: str, bits: int, which: str = "smallest",
         **match) -> SummaryRow:
    """The summary row of ``method`` at ``bits`` for the smallest or largest network (by
    parameters), among rows whose fields equal ``match`` (e.g. ``depth=1``)."""
    if which not in ("smallest", "largest"):
        raise ValueError(f"which must be 'smallest' or 'largest'; got {which!r}")
    chosen = [r for r in summary_rows if r.method == method and r.bits == int(bits)
              and all(getattr(r, k) == v for k, v in match.items())]
    if not chosen:
        raise LookupError(f"no summary row for method {method!r} at {bits} bits matching {match}")
    return (min if which == "smallest" else max)(chosen, key=lambda r: r.params)


# -- provenance ----------------------------------------------------------------------------------

def _device_text(device: Any, cpu_count: Any, cpu_model: Any = None) -> str:
    if not isinstance(device, Mapping):
        return "unknown device"
    kind, platform, count = device.get("kind"), device.get("platform"), device.get("count") or 1
    if platform == "cpu":
        cores = f"{cpu_count} cores" if cpu_count else None
        return f"CPU ({', '.join(x for x in (cpu_model, cores) if x)})" if (cpu_model or cores) else "CPU"
    return f"{count} x {kind}" if count > 1 else str(kind or platform)


def _budget(train: Mapping[str, Any], epochs: Sequence[int] | None = None) -> str:
    """A budget in words; ``epochs`` lists the budgets of a budget study instead of ``train``'s."""
    count = ", ".join(map(str, epochs)) if epochs else str(train["epochs"])
    return (f"{count} epochs of {train['optimizer']}, peak learning rate {train['learning_rate']:g}, "
            f"{train['schedule']} schedule, batch {train['batch_size']}")


def budget_text(train_config: Any) -> str:
    """A training budget in words, e.g. ``3 epochs of adam, peak learning rate 0.001, cosine
    schedule, batch 100``, from a :class:`quantlab.training.train.TrainConfig` (or its dict)."""
    return _budget(train_config if isinstance(train_config, Mapping) else config_dict(train_config))


def provenance_summary(spec_or_name: SweepSpec | str, store: Store | None = None) -> list[dict]:
    """What produced the records of a spec: one entry per producing environment (git commit,
    device, packages, Python, platform), with how many records, trials and seeds it produced, its
    first and last date, and its wall time (trials run with several seeds at once are counted
    once). Every entry also carries the spec's ``dataset``, ``bits``, ``spec_seeds``, training
    budgets (``float_train``, ``retrain``: plain dicts) and the records ``expected`` by the spec.
    """
    spec = _spec(spec_or_name)
    store = _store(spec, store)
    records = store.records(spec)
    spec_fields = {
        "spec": spec.name, "dataset": spec.dataset, "family": spec.family, "bits": list(spec.bits),
        "spec_seeds": list(spec.seeds), "float_train": config_dict(spec.float_train),
        "retrain": config_dict(spec.retrain), "train_subset": spec.train_subset,
        "expected": len(spec.trials()) * len(spec.seeds),
    }
    groups: dict[tuple, dict] = {}
    for r in records:
        p = r.get("provenance") or {}
        git = p.get("git") or {}
        packages = dict(sorted((p.get("packages") or {}).items()))
        device = _device_text(p.get("device"), p.get("cpu_count"), p.get("cpu_model"))
        key = (git.get("commit"), git.get("dirty"), device, tuple(packages.items()), p.get("python"), p.get("platform"))
        g = groups.get(key)
        if g is None:
            g = groups[key] = {
                **spec_fields, "git_commit": git.get("commit"), "git_dirty": git.get("dirty"),
                "device": device, "packages": packages, "python": p.get("python"), "platform": p.get("platform"),
                "quantlab": p.get("quantlab"), "numerics_version": r["numerics_version"],
                "records": 0, "trials": [], "seeds": [], "dates": [], "wall_seconds": 0.0, "_runs": set(),
            }
        g["records"] += 1
        if r["label"] not in g["trials"]:
            g["trials"].append(r["label"])
        if r["seed"] not in g["seeds"]:
            g["seeds"].append(r["seed"])
        if p.get("date"):
            g["dates"].append(p["date"])
        run = (r["label"], p.get("date"), p.get("wall_seconds"), tuple(p.get("trial_seeds") or [r["seed"]]))
        if run not in g["_runs"] and isinstance(p.get("wall_seconds"), (int, float)):
            g["_runs"].add(run)
            g["wall_seconds"] += float(p["wall_seconds"])
    out = []
    for g in groups.values():
        dates = sorted(g.pop("dates"))
        g.pop("_runs")
        g["seeds"] = sorted(g["seeds"])
        g["first_date"], g["last_date"] = (dates[0], dates[-1]) if dates else (None, None)
        g["wall_seconds"] = round(g["wall_seconds"], 3)
        out.append(g)
    return out


def provenance_note(spec_or_name: SweepSpec | str, store: Store | None = None) -> str:
    """A short Markdown paragraph for under a chart: the spec, dataset, budget and seeds, and for
    each producing environment its records, device, commit, packages, dates and wall time."""
    spec = _spec(spec_or_name)
    entries = provenance_summary(spec, store)
    seeds = ", ".join(map(str, spec.seeds))
    subset = f", first {spec.train_subset:,} training examples" if spec.train_subset else ""
    head = (f"**Provenance.** Spec `{spec.name}` on {dataset_name(spec.dataset)}{subset}; seeds {seeds}; "
            f"float training: {_budget(config_dict(spec.float_train))}; "
            f"each retraining: {_budget(config_dict(spec.retrain), spec.retrain_epochs)}"
            f"{'; step policies: ' + ', '.join(spec.step_policies) if spec.step_policies != ('fixed',) else ''}.")
    if not entries:
        return head + " No records yet."
    parts = []
    for e in entries:
        commit = (e["git_commit"] or "unknown commit")[:7] + (" (uncommitted changes)" if e["git_dirty"] else "")
        packages = ", ".join(f"{k} {v}" for k, v in e["packages"].items() if v)
        day = (e["first_date"] or "?")[:10]
        last = (e["last_date"] or "?")[:10]
        when = day if day == last else f"{day} to {last}"
        parts.append(
            f"{e['records']} of {e['expected']} records computed on {e['device']} from commit {commit} "
            f"on {when} ({packages}; Python {e['python']}; quantlab {e['quantlab']}, numerics version "
            f"{e['numerics_version']}), {format_duration(e['wall_seconds'])} of training in all."
        )
    return " ".join([head, *parts])



def store_overview(specs: Sequence[SweepSpec | str], store: Store | None = None) -> dict:
    """What the store holds for ``specs`` and what it took (reading only), for the book's introduction:
    ``records`` (distinct record keys of the specs: two specs may share a trial), ``files`` (record
    files in the store), ``trials`` (distinct trial configs among all records in the store),
    ``devices`` and ``commits`` (sorted, of :func:`provenance_summary`), ``max_spec_seconds`` (the
    largest wall time of one spec) and ``total_seconds`` (wall time of every distinct trial config
    once)."""
    specs = [_spec(s) for s in specs]
    store = _store(specs[0], store)
    entries = {s.name: provenance_summary(s, store) for s in specs}
    keys = {r["key"] for s in specs for r in store.records(s)}
    trial_wall = {json.dumps(r["config"], sort_keys=True): r["provenance"]["wall_seconds"] for r in store.scan()}
    flat = [e for es in entries.values() for e in es]
    return {
        "records": len(keys), "files": len(list(store.root.glob("*.json"))), "trials": len(trial_wall),
        "devices": sorted({e["device"] for e in flat}),
        "commits": sorted({(e["git_commit"] or "unknown")[:7] for e in flat}),
        "max_spec_seconds": max((sum(e["wall_seconds"] for e in es) for es in entries.values()), default=0),
        "total_seconds": sum(trial_wall.values()),
    }


def data_note(spec_or_name: SweepSpec | str) -> str:
    """The sentence a sweep chapter says its data with: the spec's dataset and how it relates to the
    paper's (:data:`PAPER_DATASETS`, inferred), e.g. ``The data is Fashion-MNIST (a stand-in ...),
    not the paper's: ...``."""
    spec = _spec(spec_or_name)
    name = dataset_name(spec.dataset)
    if name == PAPER_DATASETS.get(spec.family):
        return (f"The data is {name}, most likely the paper's own for these networks; its exact networks and "
                "budgets are not known here, so the numbers compare with the paper's in their shape only.")
    return (f"The data is {describe(spec)}, not the paper's: the numbers are not comparable to the paper's, "
            "only the shape of the effect is.")


def describe(spec_or_name: SweepSpec | str) -> str:
    """One line naming the data of a spec, e.g. ``Fashion-MNIST (a stand-in for the paper's data)``; which
    data the paper most likely used (:data:`PAPER_DATASETS`) is said once, on the book's data page."""
    spec = _spec(spec_or_name)
    paper = PAPER_DATASETS.get(spec.family)
    name = dataset_name(spec.dataset)
    return f"{name} (a stand-in for the paper's data)" if paper and name != paper else name


def seeds_text(specs: Sequence[SweepSpec | str]) -> str:
    """How many seeds the networks of ``specs`` are trained with, largest count first, e.g. ``5 in
    ffdnn-width, ffdnn-depth and cnn-maps and 3 in the other 9 specs`` (one count: ``3 in every spec``)."""
    by_count: dict[int, list[str]] = {}
    for s in map(_spec, specs):
        by_count.setdefault(len(s.seeds), []).append(s.name)
    counts = sorted(by_count, reverse=True)
    if len(counts) == 1:
        return f"{counts[0]} in every spec"
    parts = [f"{n} in {and_list(by_count[n])}" for n in counts[:-1]]
    rest = by_count[counts[-1]]
    where = and_list(rest) if len(rest) < 3 else f"the other {len(rest)} specs"
    return and_list([*parts, f"{counts[-1]} in {where}"])


# -- export --------------------------------------------------------------------------------------

CSV_COLUMNS = {
    "spec": "the sweep spec the record belongs to (quantlab/experiments/specs/<spec>.toml)",
    "trial": "the network's trial label, e.g. ffdnn-w256-d3 (256 units x 3 hidden layers) or cnn-8-8-16",
    "family": "ffdnn (fully connected) or cnn (convolutional)",
    "dataset": "the TFDS dataset name, e.g. fashion_mnist",
    "size_label": "the size in short: widthxdepth (ffdnn) or the feature maps per conv layer (cnn)",
    "width": "units per hidden layer (ffdnn; empty for cnn)",
    "depth": "hidden layers (ffdnn; empty for cnn)",
    "maps": "feature maps per conv layer, e.g. 8-8-16 (cnn; empty for ffdnn)",
    "params": "parameters of the network, all of them (count)",
    "weights": "the quantized parameters: the kernels of every layer, biases excluded (count)",
    "step_policy": f"how retraining sets the quantization steps: {' | '.join(STEP_POLICIES)} (fixed: the float "
                   "network's optimum, kept)",
    "retrain_epochs": "the retraining budget (epochs), also the float control's",
    "train_subset": "training examples used (empty: the whole training split)",
    "quantizer": f"the rule that sets each layer's levels: {' | '.join(QUANTIZERS)} (l2: the paper's L2-optimal step)",
    "signal_bits": "word length of every hidden layer's output (bits; empty: float signals)",
    "seed": "the seed (initialisation and shuffling)",
    "method": f"{' | '.join(METHODS)}: float (no quantization), direct (quantized, no retraining), retrain "
              "(quantized, then retrained)",
    "bits": "bits per quantized weight (2 = ternary: -1, 0, +1 times the step); 32 for float rows",
    "test_error": "classification error on the test split (fraction of examples, 0-1; x 100 for the book's %)",
    "val_error": "classification error on the validation split, the one models are selected on (fraction, 0-1)",
    "weight_bits": "memory of the network's parameters (bits): weights x bits + biases x 32; params x 32 for float",
    "control_test_error": "test error of the seed's float control: the float network trained on for the "
                          "retraining's epochs, unquantized (fraction, 0-1)",
    "control_val_error": "validation error of the seed's float control (fraction, 0-1)",
    "weight_error": "relative L2 quantization error of the weights, sum ||Q(w) - w||^2 / sum ||w||^2 "
                    "(0 = exact; empty for float rows)",
    "stage": "curves: float (float training), control (the float control) or retrain (a retraining)",
    "epoch": "curves: the epoch of the stage (0: its starting network, the float network for the control "
             "and the directly quantized one for a retraining)",
    "train_loss": "curves: cross-entropy of the epoch's network on the first training examples (nats; "
                  "empty at epoch 0)",
    "train_error": "curves: classification error of the same network on the same examples (fraction, 0-1)",
    "step_excess": "curves, adaptive step policy: the largest relative excess L2 error of a layer's step "
                   "over that layer's optimum (0 = optimal)",
}
"""Every column of the tidy-row and curve CSVs (:func:`write_csv` of :func:`tidy` and :func:`curves`
rows), in order, with its meaning and unit: the one home of the column dictionary the book ships beside
its CSVs (:func:`write_columns`)."""

CSV_FIELDS = tuple(CSV_COLUMNS)[: tuple(CSV_COLUMNS).index("stage")]
"""The columns of a tidy CSV, in order (the fields of :func:`tidy` rows, without the ``size`` tuple that
``size_label`` spells out); a curves CSV adds ``stage`` to ``step_excess``."""


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        single = np.float32(value)
        if float(single) == value:  # a float32 of the records (errors, steps): its shortest float32 form
            return np.format_float_positional(single, unique=True, trim="-")
        return repr(value)  # shortest round-tripping form: the file holds the records' exact numbers
    return value


def write_columns(path: str | os.PathLike) -> Path:
    """Writes the column dictionary (:data:`CSV_COLUMNS`: ``column,meaning``) to a CSV file at ``path``."""

    def write(f) -> None:
        writer = csv.writer(f)
        writer.writerow(["column", "meaning"])
        writer.writerows(CSV_COLUMNS.items())

    return write_atomic(path, write, newline="")


def write_csv(rows: Iterable[Mapping[str, Any]], path: str | os.PathLike, own_order: bool = False) -> Path:
    """Writes tidy rows (:func:`tidy`) or curve rows (:func:`curves`) to a CSV file at ``path`` (parent
    folders are created) and returns its path. Columns: those of :data:`CSV_COLUMNS` the rows have, in
    that order, then any other scalar field the rows carry (sorted by name); with ``own_order`` (a
    table of other rows), every scalar field in the order the rows first have it. List, tuple and dict
    fields are left out. Missing values and None are empty cells; floats are written exactly: a float32
    of the records (errors are fractions, as in the rows) in its shortest float32 form (0.1497, not
    0.14970000088214874), others in full precision. Raises ValueError for no rows."""
    rows = list(rows)
    if not rows:
        raise ValueError(f"no rows to write to {os.fspath(path)}")
    scalar = (str, int, float, bool, type(None))
    seen = list(dict.fromkeys(k for r in rows for k, v in r.items() if k != "size" and isinstance(v, scalar)))
    if own_order:
        fields = seen
    else:
        fields = [f for f in CSV_COLUMNS if f in seen] + sorted(k for k in seen if k not in CSV_COLUMNS)

    def write(f) -> None:
        writer = csv.writer(f)
        writer.writerow(fields)
        for r in rows:
            writer.writerow([_csv_value(r.get(k)) for k in fields])

    return write_atomic(path, write, newline="")


__all__ = [
    "BASELINES", "CSV_COLUMNS", "CSV_FIELDS", "Gap", "MissingRecordsError", "PAPER_DATASETS", "ROW_FIELDS",
    "SummaryRow", "budget_text", "check_baseline", "check_rows", "curve_rows", "curves", "data_note", "dataset_name",
    "describe", "missing_records", "network_label", "pick", "provenance_note", "provenance_summary", "record_rows",
    "replicate", "row_bits", "size_fields", "store_overview", "summarise", "tidy", "write_columns", "write_csv"
]

