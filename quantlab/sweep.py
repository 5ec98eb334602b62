"""Running a sweep: whatever a spec needs that the store does not hold yet, with progress bars.

* :func:`plan` lists the spec's trials with the seeds done and missing and an *estimated* time.
* :func:`run_sweep` runs the missing seeds of each trial together (one ``run_trial`` call, seeds
  vmapped) and writes each seed's record as soon as the trial returns. Finished records are never
  recomputed, so a sweep can be killed at any point and rerun: it loses at most the trial in flight.
* :func:`results_table` summarises the records: mean and spread of test error across seeds per
  size, bit width and method, and the gap to float.

The time estimate is a cost model, not a measurement: multiply-accumulates of the network x
examples x epochs (x seeds), plus a fixed compile overhead, with per-family constants measured on a
2-core CPU and rescaled by the wall times of records already in the store when there are any.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import importlib
import inspect
import math
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from tqdm import tqdm

from quantlab import divergence
from quantlab.spec import SpecError, SweepSpec
from quantlab.store import Store, config_dict, provenance, trial_label

# -- cost model ----------------------------------------------------------------------------------

_DATASETS = {  # image shape, classes, training examples after the validation carve (approx.)
    "fashion_mnist": ((28, 28, 1), 10, 54_000),
    "mnist": ((28, 28, 1), 10, 54_000),
    "cifar10": ((32, 32, 3), 10, 45_000),
}
_EVAL_EXAMPLES = 16_000  # validation + test, roughly
# Seconds per multiply-accumulate of a training example (forward + backward ~ 3 MACs per weight
# use), per seed, from bench/RESULTS.md ("after", 2-core CPU, 3 seeds vmapped, 54k-example epochs):
# FFDNN 784-1024x3-10 10.7 s and 784-256x2-10 0.79 s per epoch -> ~7e-12; CNN (32, 32, 64) with
# quantlab.conv 20.7 s -> ~1.4e-11.
_SECONDS_PER_MAC = {"ffdnn": 7e-12, "cnn": 1.4e-11}
_SECONDS_PER_STEP = 1e-4  # dispatch overhead of one optimizer step, small networks
_COMPILE_SECONDS = 5.0  # compiling one jitted training run (float, and one retraining per bit width)


def network_cost(family: str, size: Sequence[int], dataset: str = "fashion_mnist") -> tuple[int, int]:
    """``(parameters, multiply-accumulates per example)`` of a network (exact for quantlab.models:
    FFDNN dense layers; CNN 3x3 SAME convs each followed by 2x2 max pooling, then a dense layer)."""
    (h, w, c), classes, _ = _DATASETS.get(dataset, _DATASETS["fashion_mnist"])
    params = macs = 0
    if family == "ffdnn":
        width, depth = size
        dims = [h * w * c] + [width] * depth + [classes]
        for a, b in zip(dims, dims[1:]):
            params += a * b + b
            macs += a * b
        return params, macs
    for maps in size:
        params += 9 * c * maps + maps
        macs += h * w * 9 * c * maps
        c, h, w = maps, h // 2, w // 2
    params += h * w * c * classes + classes
    macs += h * w * c * classes
    return params, macs


def model_seconds(config: Any, n_seeds: int) -> float:
    """Uncalibrated estimate of one trial's wall time for ``n_seeds`` seeds trained together."""
    cfg = config_dict(config)
    family, dataset = cfg["family"], cfg["dataset"]
    _, macs = network_cost(family, cfg["size"], dataset)
    examples = cfg.get("train_subset") or _DATASETS.get(dataset, _DATASETS["fashion_mnist"])[2]
    n_bits = len(cfg["bits"])
    epochs = _epochs(cfg)
    batch = cfg["float_train"].get("batch_size", 100)
    train_macs = 3 * macs * examples * epochs
    eval_macs = macs * _EVAL_EXAMPLES * (epochs + 1 + n_bits)
    per_mac = _SECONDS_PER_MAC.get(family, _SECONDS_PER_MAC["cnn"])
    steps = epochs * max(1, examples // batch)
    return _COMPILE_SECONDS * (1 + n_bits) + steps * _SECONDS_PER_STEP + per_mac * (train_macs + eval_macs) * n_seeds


def _platform() -> str:
    import jax  # noqa: PLC0415 - only planning needs it

    return jax.devices()[0].platform


def calibration(store: Store, platform: str | None = None) -> dict[str, tuple[float, int]]:
    """Per family: ``(measured / modelled time, number of records)`` over the store's records that
    ran on ``platform`` ("cpu", "gpu", ...; None: all). A GPU's wall times say nothing about a CPU's.

    The factor is time-weighted (total measured over total modelled time), so the large trials,
    which dominate a sweep's time, dominate it; a median of per-trial ratios let the many small,
    overhead-bound trials inflate the estimate of a large one about 3x."""
    pairs: dict[str, list[tuple[float, float]]] = {}
    for record in store.scan():
        prov, cfg = record["provenance"], record["config"]
        if platform is not None and (prov.get("device") or {}).get("platform") != platform:
            continue
        wall, seeds = prov.get("wall_seconds"), prov.get("trial_seeds") or [record["seed"]]
        if not isinstance(wall, (int, float)) or wall <= 0:
            continue
        try:
            pairs.setdefault(cfg["family"], []).append((wall, model_seconds(cfg, len(seeds))))
        except (KeyError, TypeError, ValueError):
            continue

    def factor(ps):
        return sum(w for w, _ in ps) / sum(m for _, m in ps), len(ps)

    out = {family: factor(ps) for family, ps in pairs.items()}
    if pairs:
        out["*"] = factor([p for ps in pairs.values() for p in ps])
    return out


# -- planning ------------------------------------------------------------------------------------

@dataclasses.dataclass
class PlannedRun:
    """One trial of a spec: its config, which seeds are done and missing, estimated seconds."""

    config: Any
    label: str
    params: int
    done: list[int]
    missing: list[int]
    estimate: float  # seconds to run the missing seeds (0 when none)

    @property
    def status(self) -> str:
        return "done" if not self.missing else ("missing" if not self.done else "partial")


@dataclasses.dataclass
class Plan:
    spec: SweepSpec
    store: Store
    runs: list[PlannedRun]
    calibrated_on: int  # records whose wall times rescaled the cost model (0: uncalibrated)

    @property
    def estimate(self) -> float:
        return sum(r.estimate for r in self.runs)


def select(spec: SweepSpec, only: str | None = None) -> list:
    """The spec's trial configs whose label (e.g. ``ffdnn-w256-d3``, ``cnn-4-4-8``) matches
    ``only``: comma-separated patterns, each matched anywhere in the label, with ``*`` and ``?``
    as wildcards (``w16`` matches ``ffdnn-w16-d3``; ``w1*-d1`` matches widths 1.. at depth 1)."""
    trials = spec.trials()
    if not only:
        return trials
    patterns = [p.strip() for p in only.split(",") if p.strip()]

    def match(label: str) -> bool:
        return any(fnmatch.fnmatchcase(label, f"*{p}*") for p in patterns)

    chosen = [t for t in trials if match(trial_label(t))]
    if not chosen:
        labels = ", ".join(trial_label(t) for t in trials)
        raise SpecError(f"--only {only!r} matches no trial of spec {spec.name!r}; its trials: {labels}")
    return chosen


def plan(spec: SweepSpec, store: Store, only: str | None = None) -> Plan:
    """Every trial of ``spec`` (matching ``only``) with its done / missing seeds and an estimate."""
    cal = calibration(store, _platform())
    runs = []
    for config in select(spec, only):
        cfg = config_dict(config)
        missing = store.missing_seeds(config, spec.seeds)
        done = [s for s in spec.seeds if s not in missing]
        factor, _ = cal.get(cfg["family"], cal.get("*", (1.0, 0)))
        estimate = factor * model_seconds(cfg, len(missing)) if missing else 0.0
        params, _ = network_cost(cfg["family"], cfg["size"], cfg["dataset"])
        runs.append(PlannedRun(config, trial_label(config), params, done, missing, estimate))
    families = {config_dict(r.config)["family"] for r in runs}
    used = sum(cal[f][1] for f in families if f in cal) or cal.get("*", (1.0, 0))[1]
    return Plan(spec, store, runs, used)


def format_duration(seconds: float) -> str:
    seconds = int(math.ceil(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def format_plan(p: Plan) -> str:
    """The dry-run listing: one line per trial, then totals and how the estimate was made."""
    spec = p.spec
    seeds_total = len(p.runs) * len(spec.seeds)
    missing = sum(len(r.missing) for r in p.runs)
    lines = [
        f"sweep {spec.name!r}: {len(p.runs)} trials x {len(spec.seeds)} seeds = {seeds_total} records, "
        f"{seeds_total - missing} done, {missing} missing",
        f"results directory: {p.store.root}",
        "",
        f"  {'status':8} {'trial':18} {'params':>10} {'seeds done':12} {'to run':12} {'estimate':>12}",
    ]
    for r in p.runs:
        est = f"~{format_duration(r.estimate)}" if r.missing else "-"
        lines.append(
            f"  {r.status:8} {r.label:18} {r.params:>10,} {_seeds(r.done):12} {_seeds(r.missing):12} {est:>12}"
        )
    how = (f"calibrated on the wall times of {p.calibrated_on} existing record(s)" if p.calibrated_on
           else "uncalibrated: no records in the store yet")
    lines += [
        "",
        f"estimated time for the missing runs: ~{format_duration(p.estimate)} "
        f"(an estimate from a cost model: MACs x examples x epochs x seeds; {how})",
    ]
    return "\n".join(lines)


def _seeds(seeds: Sequence[int]) -> str:
    return ",".join(map(str, seeds)) if seeds else "-"


# -- running -------------------------------------------------------------------------------------

def _epochs(config: Any) -> int:
    """Training epochs of a trial (``quantlab.experiment.trial_epochs`` on a config dict): float,
    float control and one retraining per bit width."""
    cfg = config_dict(config)
    return cfg["float_train"].get("epochs", 1) + (1 + len(cfg["bits"])) * cfg["retrain"].get("epochs", 1)


def _check_results(results: Any, seeds: Sequence[int], label: str) -> None:
    if not isinstance(results, list) or len(results) != len(seeds):
        raise RuntimeError(
            f"run_trial for {label} returned {type(results).__name__} of length "
            f"{len(results) if hasattr(results, '__len__') else '?'}; expected a list of {len(seeds)} dicts"
        )
    for seed, metrics in zip(seeds, results):
        if not isinstance(metrics, dict) or not isinstance(metrics.get("float"), dict):
            raise RuntimeError(f"run_trial for {label} seed {seed} returned metrics without a 'float' dict")


def run_sweep(
    spec: SweepSpec,
    store: Store,
    only: str | None = None,
    progress: bool = True,
    run_trial: Callable[..., list[dict]] | None = None,
) -> dict:
    """Runs every missing (trial, seed) of ``spec`` and writes its record to ``store``.

    Seeds of one trial that are missing run together in one ``run_trial(config, seeds)`` call;
    records are written as soon as it returns. ``run_trial`` defaults to
    :func:`quantlab.experiment.run_trial`. Progress bars (tqdm, on stderr): the whole sweep, with
    an ETA that starts from the cost model and adapts to the measured speed, and the trial in
    flight, per epoch.

    * **Preflight.** Before any training the store must be writable (else :class:`StoreError`);
      the spec's trials were checked against the dataset when the spec was built.
    * **Shared stores.** Each trial runs under its lock (:meth:`Store.lock`). A trial locked by
      another process is put off to the end and then waited for; its seeds that the other process
      wrote meanwhile are counted, not recomputed.
    * **Divergence** (:mod:`quantlab.divergence`): a trial whose loss is NaN, infinite or explodes,
      or a seed whose float network ends no better than chance, is reported in one line and
      stored nowhere; the sweep goes on with the other trials.

    Returns ``{"trials_run", "records_written", "records_skipped", "records_by_others", "diverged",
    "seconds"}``; ``diverged`` lists ``{"trial", "seeds", "reason"}``.
    """
    p = plan(spec, store, only)
    todo = [r for r in p.runs if r.missing]
    summary = {"trials_run": 0, "records_written": 0, "records_skipped": sum(len(r.done) for r in p.runs),
               "records_by_others": 0, "diverged": [], "seconds": 0.0}
    if not todo:
        if progress:
            print(f"{spec.name}: all {summary['records_skipped']} record(s) already in {store.root}, nothing to run",
                  file=sys.stderr)
        return summary
    store.check_writable()
    if run_trial is None:
        run_trial = importlib.import_module("quantlab.experiment").run_trial
    try:
        params = inspect.signature(run_trial).parameters
        takes_progress = "progress" in params or any(
            v.kind is inspect.Parameter.VAR_KEYWORD for v in params.values())
    except (TypeError, ValueError):
        takes_progress = False
    diverging = importlib.import_module("quantlab.train").DivergenceError
    num_classes = importlib.import_module("quantlab.data").info(spec.dataset)["num_classes"]

    start = time.perf_counter()
    overall = tqdm(
        total=max(p.estimate, 1e-9), desc=f"{spec.name}: 0/{len(todo)} trials", file=sys.stderr,
        disable=not progress, smoothing=0, dynamic_ncols=True, position=0,
        bar_format="{desc} {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}]",
    )

    def say(message: str, always: bool = False) -> None:
        if progress or always:
            tqdm.write(message, file=sys.stderr)

    foreign = store.foreign_files()
    if foreign:
        say(f"{store.root}: left alone {len(foreign)} JSON file(s) not named like records: {', '.join(foreign)}", True)
    if summary["records_skipped"]:
        say(f"{spec.name}: {summary['records_skipped']} record(s) already in {store.root}, skipped")

    def run_locked(run: PlannedRun) -> None:
        """Runs what ``run`` still misses; the caller holds its lock."""
        missing = store.missing_seeds(run.config, run.missing)
        summary["records_by_others"] += len(run.missing) - len(missing)
        if not missing:
            overall.update(run.estimate)
            return
        epochs = _epochs(run.config)
        bar = tqdm(
            total=epochs, desc=f"{run.label} seeds {_seeds(missing)}", unit="epoch", file=sys.stderr,
            disable=not progress, leave=False, position=1, dynamic_ncols=True,
        )
        credited = 0.0

        def on_epoch(n: int = 1) -> None:
            nonlocal credited
            bar.update(n)
            step = min(run.estimate * n / epochs, run.estimate - credited)
            credited += step
            overall.update(step)

        t0 = time.perf_counter()
        try:
            if takes_progress:
                results = run_trial(run.config, missing, progress=on_epoch)
            else:
                results = run_trial(run.config, missing)
        except diverging as e:
            results = e
        finally:
            bar.close()
        wall = time.perf_counter() - t0
        overall.update(run.estimate - credited)
        summary["trials_run"] += 1
        if isinstance(results, diverging):
            summary["diverged"].append({"trial": run.label, "seeds": missing, "reason": str(results)})
            say(f"diverged: {run.label} seeds {_seeds(missing)}: {results}", True)
            return
        _check_results(results, missing, run.label)
        prov = provenance(wall, missing)
        for seed, metrics in zip(missing, results):
            error = metrics["float"].get("val_error")
            reason = divergence.chance_reason(error, num_classes) if isinstance(error, (int, float)) else None
            if reason:
                summary["diverged"].append({"trial": run.label, "seeds": [seed], "reason": reason})
                say(f"diverged: {run.label} seed {seed}: {reason}", True)
                continue
            store.put(run.config, seed, metrics, prov)
            summary["records_written"] += 1
        say(f"{run.label} seeds {_seeds(missing)}: {format_duration(wall)}")

    finished = 0

    def locked(run: PlannedRun, blocking: bool) -> bool:
        nonlocal finished
        lock = store.lock(run.config)
        if not lock.acquire(blocking=blocking):
            return False
        try:
            run_locked(run)
        finally:
            lock.release()
        finished += 1
        overall.set_description_str(f"{spec.name}: {finished}/{len(todo)} trials")
        return True

    try:
        later = []
        for run in todo:
            if not locked(run, blocking=False):
                later.append(run)
                say(f"{run.label}: being trained by another process ({store.lock(run.config).holder()}); "
                    "back to it at the end", True)
        for run in later:
            overall.set_description_str(f"{spec.name}: waiting for {run.label} (another process)")
            locked(run, blocking=True)
    finally:
        overall.close()
    summary["seconds"] = time.perf_counter() - start
    return summary


def format_diverged(diverged: Sequence[dict]) -> str:
    """The end-of-sweep list of what diverged (one line per trial and seeds), for messages."""
    trials = len({d["trial"] for d in diverged})
    lines = [f"{trials} trial(s) diverged; these seeds were not stored:"]
    lines += [f"  {d['trial']} seeds {_seeds(d['seeds'])}: {d['reason']}" for d in diverged]
    return "\n".join(lines)


def ensure(spec: SweepSpec | str, store: Store | None = None, progress: bool = True) -> int:
    """Runs whatever records of ``spec`` (a spec or a shipped spec's name) are missing from
    ``store`` (default: the spec's results directory) and returns how many were missing. The one
    call a chapter makes to compute its own records; prints nothing when none is missing."""
    from quantlab.spec import load_spec
    from quantlab.store import default_results_dir

    spec = load_spec(spec) if isinstance(spec, str) else spec
    store = store if store is not None else Store(default_results_dir(spec))
    missing = sum(len(store.missing_seeds(c, spec.seeds)) for c in spec.trials())
    if missing:
        diverged = run_sweep(spec, store, progress=progress)["diverged"]
        if diverged:
            raise RuntimeError(f"spec {spec.name!r}: {format_diverged(diverged)}")
    return missing


# -- results -------------------------------------------------------------------------------------

def _size_text(family: str, size: Sequence[int]) -> str:
    return "x".join(map(str, size)) if family == "ffdnn" else "-".join(map(str, size))


def results_table(spec: SweepSpec, store: Store, only: str | None = None) -> list[dict]:
    """One row per trial, bit width and method (of ``spec.methods``) over the seeds in the store:

    ``trial, size`` (ffdnn ``width x depth``, cnn maps ``a-b-c``), ``params, weights, bits`` (None
    for float), ``method, seeds`` (how many records), ``test_error_mean, test_error_std`` (sample
    std; None for one seed), ``gap_to_float`` (mean test error minus the float mean; None for float).
    Errors are fractions. Trials without records are left out.
    """
    rows = []
    for config in select(spec, only):
        records = [r for s in spec.seeds if (r := store.get(config, s)) is not None]
        if not records:
            continue
        cfg = config_dict(config)
        metrics = [r["metrics"] for r in records]
        label = trial_label(config)
        if len(spec.step_policies) > 1:
            label += f" {cfg['step_policy']}"
        if spec.retrain_epochs:
            label += f" {cfg['retrain']['epochs']}ep"

        def errors(method: str, bits: int | None) -> list[float]:
            try:
                return [float(m[method]["test_error"] if bits is None else m[method][str(bits)]["test_error"])
                        for m in metrics]
            except (KeyError, TypeError, ValueError):
                raise RuntimeError(f"records of {label} lack {method} test errors"
                                   + (f" for {bits} bits" if bits else "")) from None

        float_mean = statistics.fmean(errors("float", None))
        base = {
            "trial": label, "size": _size_text(cfg["family"], cfg["size"]),
            "params": metrics[0].get("params"), "weights": metrics[0].get("weights"),
        }
        combos = [("float", None)] + [(m, b) for b in spec.bits for m in ("direct", "retrain")]
        for method, bits in combos:
            if method not in spec.methods:
                continue
            errs = errors(method, bits)
            mean = statistics.fmean(errs)
            rows.append({
                **base, "bits": bits, "method": method, "seeds": len(errs),
                "test_error_mean": mean,
                "test_error_std": statistics.stdev(errs) if len(errs) > 1 else None,
                "gap_to_float": None if method == "float" else mean - float_mean,
            })
    return rows


def format_results(rows: Sequence[dict]) -> str:
    """A plain-text table of :func:`results_table` rows (errors in percent, gap in points)."""
    head = ("trial", "params", "bits", "method", "seeds", "test error %", "std", "gap to float")
    body = []
    for r in rows:
        body.append((
            r["trial"],
            f"{r['params']:,}" if isinstance(r["params"], int) else "?",
            "32 (float)" if r["bits"] is None else str(r["bits"]),
            r["method"],
            str(r["seeds"]),
            f"{100 * r['test_error_mean']:.2f}",
            "-" if r["test_error_std"] is None else f"{100 * r['test_error_std']:.2f}",
            "-" if r["gap_to_float"] is None else f"{100 * r['gap_to_float']:+.2f} pp",
        ))
    widths = [max(len(h), *(len(row[i]) for row in body)) if body else len(h) for i, h in enumerate(head)]
    left = {0, 3}

    def fmt(cells):
        return "  ".join(c.ljust(w) if i in left else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    return "\n".join([fmt(head), fmt(["-" * w for w in widths]), *(fmt(row) for row in body)])


CSV_COLUMNS = ("trial", "size", "params", "weights", "bits", "method", "seeds",
               "test_error_mean", "test_error_std", "gap_to_float")


def write_csv(rows: Sequence[dict], file=None) -> None:
    """Writes :func:`results_table` rows as CSV (errors as fractions; ``bits`` 32 for float rows;
    empty cell for other None values)."""
    import csv

    from quantlab.compression import FLOAT_BITS

    writer = csv.DictWriter(file or sys.stdout, fieldnames=CSV_COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        row = {k: ("" if r.get(k) is None else r[k]) for k in CSV_COLUMNS}
        if r.get("bits") is None:
            row["bits"] = FLOAT_BITS  # an integer column: 32 for the float rows
        writer.writerow(row)
