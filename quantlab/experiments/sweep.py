"""Running a sweep: whatever a spec needs that the store does not hold yet, with progress bars.

* :func:`plan` lists the spec's trials with the seeds done and missing and an *estimated* time.
* :func:`run_sweep` runs the missing seeds of each trial in blocks of :data:`SEED_BLOCK` (one
  ``run_trial`` call per block, its seeds vmapped; a record lost from a trial trains again with the
  seeds it was trained with; :func:`training_groups`), so that a record comes back bit for bit, and
  writes each seed's record as soon as its block returns. Finished records are never
  recomputed, so a sweep can be killed at any point and rerun: it loses at most the trials in flight.
  Trials run in this process or as Ray tasks (:mod:`quantlab.experiments.executors`); this process alone
  writes the store either way.
* :func:`ensure` checks that a spec's records are there, the one call a sweep chapter makes, and
  trains what is missing only when asked (``$QUANTLAB_TRAIN=1`` or ``train=True``). Reading and
  summarising records is :mod:`quantlab.analysis.rows`', which never trains.

The time estimate is a cost model, not a measurement: multiply-accumulates of the network x
examples x epochs (x seeds), plus a fixed compile overhead, with per-family constants measured on a
2-core CPU and rescaled by the wall times of records already in the store when there are any.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import importlib
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

from tqdm import tqdm

from quantlab import data
from quantlab.experiments import preflight
from quantlab.experiments.environment import collect as collect_environment
from quantlab.experiments.executors import Executor, Job, LocalExecutor, Outcome, make_executor
from quantlab.experiments.spec import SpecError, SweepSpec, load_spec
from quantlab.experiments.store import (MissingRecordsError, Store, config_dict, default_results_dir,
                                        sweep_command, trial_name)
from quantlab.formatting import count, format_duration
from quantlab.nn import shapes
from quantlab.training import divergence

# -- cost model ----------------------------------------------------------------------------------

_EVAL_EXAMPLES = 16_000  # validation + test, roughly
# Seconds per multiply-accumulate of a training example (forward + backward ~ 3 MACs per weight
# use), per seed, from bench/RESULTS.md ("after", 2-core CPU, 3 seeds vmapped, 54k-example epochs):
# FFDNN 784-1024x3-10 10.7 s and 784-256x2-10 0.79 s per epoch -> ~7e-12; CNN (32, 32, 64) with
# quantlab.nn.conv 20.7 s -> ~1.4e-11.
_SECONDS_PER_MAC = {"ffdnn": 7e-12, "cnn": 1.4e-11}
_SECONDS_PER_STEP = 1e-4  # dispatch overhead of one optimizer step, small networks
_COMPILE_SECONDS = 5.0  # compiling one jitted training run (float, and one retraining per bit width) ...
_COMPILED_LAYERS = 4  # ... of up to 4 layers; the layers are unrolled in the program, so it grows with them


def network_cost(family: str, size: Sequence[int], dataset: str = "fashion_mnist") -> tuple[int, int]:
    """``(parameters, multiply-accumulates per example)`` of a network on ``dataset``'s images
    (:func:`quantlab.nn.shapes.network_cost`, exact)."""
    info = data.info(dataset)
    cost = shapes.network_cost(family, size, info["image_shape"], info["num_classes"])
    return cost["params"], cost["macs"]


def model_seconds(config: Any, n_seeds: int, cached_epochs: int = 0) -> float:
    """Uncalibrated estimate of one trial's wall time for ``n_seeds`` seeds trained together, less
    ``cached_epochs`` (float training and float control read from the cache,
    :func:`quantlab.training.experiment.cached_epochs`)."""
    cfg = config_dict(config)
    family, dataset = cfg["family"], cfg["dataset"]
    _, macs = network_cost(family, cfg["size"], dataset)
    examples = cfg.get("train_subset") or data.info(dataset)["splits"]["train"]
    n_bits = len(cfg["bits"])
    epochs = _epochs(cfg) - cached_epochs
    batch = cfg["float_train"].get("batch_size", 100)
    train_macs = 3 * macs * examples * epochs
    eval_macs = macs * _EVAL_EXAMPLES * (epochs + 1 + n_bits)
    per_mac = _SECONDS_PER_MAC.get(family, _SECONDS_PER_MAC["cnn"])
    steps = epochs * max(1, examples // batch)
    layers = len(shapes.layer_dims(family, cfg["size"], data.info(dataset)["image_shape"]))
    compile_seconds = _COMPILE_SECONDS * (1 + n_bits) * max(1.0, layers / _COMPILED_LAYERS)
    return compile_seconds + steps * _SECONDS_PER_STEP + per_mac * (train_macs + eval_macs) * n_seeds


def _cached_epochs(config: Any, seeds: Sequence[int]) -> int:
    from quantlab.training import experiment  # noqa: PLC0415 - JAX only when planning

    return experiment.cached_epochs(config, seeds)


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
    """One trial of a spec: its config, its name (:func:`~quantlab.experiments.store.trial_name`), which
    seeds are done and missing, estimated seconds."""

    config: Any
    name: str
    params: int
    done: list[int]
    missing: list[int]
    estimate: float  # seconds to run the missing seeds (0 when none)

    @property
    def status(self) -> str:
        return "done" if not self.missing else ("missing" if not self.done else "partial")


@dataclasses.dataclass
class SweepPlan:
    spec: SweepSpec
    store: Store
    runs: list[PlannedRun]
    calibrated_on: int  # records whose wall times rescaled the cost model (0: uncalibrated)

    @property
    def estimate(self) -> float:
        return sum(r.estimate for r in self.runs)

    def problems(self, memory: tuple[int, str] | None) -> list[str]:
        """What stops this plan on this machine (:func:`quantlab.experiments.preflight.problems`)."""
        return preflight.problems(self.spec.name, [r for r in self.runs if r.missing], self.estimate,
                                  self.store.root, memory=memory)


def select(spec: SweepSpec, only: str | None = None) -> list:
    """The spec's trial configs whose name (:func:`~quantlab.experiments.store.trial_name`, e.g.
    ``ffdnn-w256-d3``, ``cnn-4-4-8``, ``ffdnn-w16-d3 signal_bits=4``) matches ``only``:
    comma-separated patterns, each matched anywhere in the name, with ``*`` and ``?`` as wildcards
    (``w16`` matches ``ffdnn-w16-d3``; ``w1*-d1`` matches widths 1.. at depth 1; ``w16*bits=4``
    the 4-bit-signal trial of width 16)."""
    trials = spec.trials()
    if not only:
        return trials
    patterns = [p.strip() for p in only.split(",") if p.strip()]

    def match(label: str) -> bool:
        return any(fnmatch.fnmatchcase(label, f"*{p}*") for p in patterns)

    chosen = [t for t in trials if match(trial_name(spec, t))]
    if not chosen:
        labels = ", ".join(trial_name(spec, t) for t in trials)
        raise SpecError(f"--only {only!r} matches no trial of spec {spec.name!r}; its trials: {labels}")
    return chosen


_HERE = object()


def plan(spec: SweepSpec, store: Store, only: str | None = None, platform: Any = _HERE) -> SweepPlan:
    """Every trial of ``spec`` (matching ``only``) with its done / missing seeds and an estimate,
    calibrated on the store's records from ``platform`` (default: this process's JAX platform;
    None: records from any platform, and JAX is not started: what a Ray driver wants, whose trials
    run elsewhere and which must not take a GPU's memory from its workers). The estimate leaves out
    the float training and float control that this process's float-network cache already holds
    (:func:`quantlab.training.experiment.cached_epochs`; not on a Ray driver)."""
    cal = calibration(store, _platform() if platform is _HERE else platform)
    runs = []
    for config in select(spec, only):
        cfg = config_dict(config)
        missing = store.missing_seeds(config, spec.seeds)
        done = [s for s in spec.seeds if s not in missing]
        factor, _ = cal.get(cfg["family"], cal.get("*", (1.0, 0)))
        estimate = 0.0
        for seeds in training_groups(store, config, missing, spec.seeds):
            # the float stages this process would read from its cache (not on a Ray driver: no JAX there)
            cached = 0 if platform is None else _cached_epochs(config, seeds)
            estimate += factor * model_seconds(cfg, len(seeds), cached)
        params, _ = network_cost(cfg["family"], cfg["size"], cfg["dataset"])
        runs.append(PlannedRun(config, trial_name(spec, config), params, done, missing, estimate))
    families = {config_dict(r.config)["family"] for r in runs}
    used = sum(cal[f][1] for f in families if f in cal) or cal.get("*", (1.0, 0))[1]
    return SweepPlan(spec, store, runs, used)


def format_plan(p: SweepPlan) -> str:
    """The dry-run listing: one line per trial, then totals and how the estimate was made."""
    spec = p.spec
    seeds_total = len(p.runs) * len(spec.seeds)
    missing = sum(len(r.missing) for r in p.runs)
    width = max([18, *(len(r.name) for r in p.runs)])
    lines = [
        f"sweep {spec.name!r}: {count(len(p.runs), 'trial')} x {count(len(spec.seeds), 'seed')} = "
        f"{count(seeds_total, 'record')}, "
        f"{seeds_total - missing} done, {missing} missing",
        f"results directory: {p.store.root}",
        "",
        f"  {'status':8} {'trial':{width}} {'params':>10} {'seeds done':12} {'to run':12} {'estimate':>12}",
    ]
    for r in p.runs:
        est = f"~{format_duration(r.estimate)}" if r.missing else "-"
        lines.append(
            f"  {r.status:8} {r.name:{width}} {r.params:>10,} {_seeds(r.done):12} {_seeds(r.missing):12} {est:>12}"
        )
    how = (f"calibrated on the wall times of {count(p.calibrated_on, 'existing record')}" if p.calibrated_on
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
    """Training epochs of a trial (as ``quantlab.training.experiment.run_trial`` counts them, from a config
    dict, without importing JAX): float, float control and one retraining per bit width."""
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


@dataclasses.dataclass(eq=False)
class _Flight:
    """The sweep's side of a trial in flight: its planned run, the trial lock it holds while its seed
    groups (:func:`training_groups`) run one after another, its epoch bar (local executor) and how
    much of its estimate the overall bar was credited so far (at most ``cap``: the groups begun)."""

    run: PlannedRun
    lock: Any
    keep: list[int] = dataclasses.field(default_factory=list)  # the seeds whose records it writes
    groups: list[list[int]] = dataclasses.field(default_factory=list)  # the groups not yet begun
    bar: Any = None
    credited: float = 0.0
    base: float = 0.0  # ``cap`` before the group in flight
    cap: float = 0.0

    def next_group(self) -> list[int]:
        """Takes the next group to train and raises ``cap`` by its share of the estimate (by seeds)."""
        group, self.base = self.groups.pop(0), self.cap
        total = len(group) + sum(map(len, self.groups))
        self.cap += (self.run.estimate - self.cap) * len(group) / total
        return group


class _Progress:
    """What a sweep shows on stderr (nothing with ``show`` False, but messages said ``always``): the
    whole sweep's bar, whose ETA starts from the cost model and adapts to the measured speed, credited
    per epoch (local) or by elapsed time (parallel); the trials in flight (parallel); one-line messages."""

    def __init__(self, name: str, trials: int, estimate: float, show: bool, parallel: bool):
        self.name, self.trials, self.show, self.parallel, self.finished = name, trials, show, parallel, 0
        self.overall = tqdm(
            total=max(estimate, 1e-9), desc=f"{name}: 0/{trials} trials", file=sys.stderr,
            disable=not show, smoothing=0, dynamic_ncols=True, position=0,
            bar_format="{desc} {percentage:3.0f}%|{bar}| [{elapsed}<{remaining}]",
        )
        self.status = tqdm(total=0, desc="", file=sys.stderr, disable=not (show and parallel), leave=False,
                           position=1, dynamic_ncols=True, bar_format="{desc}")

    def say(self, message: str, always: bool = False) -> None:
        if self.show or always:
            tqdm.write(message, file=sys.stderr)

    def credit(self, flight: _Flight, amount: float) -> None:
        """Moves the overall bar by ``amount`` seconds of ``flight``'s estimate (never past it)."""
        step = max(0.0, min(amount, flight.cap - flight.credited))
        flight.credited += step
        self.overall.update(step)

    def epoch_bar(self, run: PlannedRun, seeds: Sequence[int]) -> Any:
        """The bar of a trial in flight on the local executor, per epoch."""
        return tqdm(total=_epochs(run.config), desc=f"{run.name} seeds {_seeds(seeds)}", unit="epoch",
                    file=sys.stderr, disable=not self.show, leave=False, position=1, dynamic_ncols=True)

    def in_flight(self, jobs: Sequence[Job]) -> None:
        if self.parallel:
            names = [j.label + (f" (attempt {j.attempt})" if j.attempt > 1 else "") for j in jobs]
            self.status.set_description_str(f"  running: {', '.join(names)}" if names else "")

    def skip(self, seconds: float) -> None:
        """Moves the overall bar by ``seconds`` of a trial that needs no training (another process made it)."""
        self.overall.update(seconds)

    def trial_done(self) -> None:
        self.finished += 1
        self.overall.set_description_str(f"{self.name}: {self.finished}/{self.trials} trials")

    def waiting_for(self, label: str) -> None:
        self.overall.set_description_str(f"{self.name}: waiting for {label} (another process)")

    def close(self) -> None:
        self.status.close()
        self.overall.close()


class _SweepRun:
    """One :func:`run_sweep` once its checks passed: the scheduler (:meth:`run`: which trial next, its
    lock, trials another process holds put off to the end), and what a finished trial's outcome does
    (:meth:`settle`: retry a lost worker, report divergence, write the records). Counts go to ``tally``."""

    def __init__(self, spec: SweepSpec, store: Store, ex: Executor, bars: _Progress, tally: dict,
                 num_classes: int):
        self.spec, self.store, self.ex, self.bars, self.tally = spec, store, ex, bars, tally
        self.num_classes, self.parallel = num_classes, bars.parallel
        self.inflight: list[Job] = []

    def run(self, todo: Sequence[PlannedRun]) -> None:
        pending, later = list(todo), []
        while pending or later or self.inflight:
            while pending and len(self.inflight) < self.ex.slots():
                run = pending.pop(0)
                lock = self.store.lock(run.config)
                if lock.acquire(blocking=False):
                    self.begin(run, lock)
                else:
                    later.append(run)
                    self.bars.say(f"{run.name}: being trained by another process ({lock.holder()}); "
                                  "back to it at the end", True)
            if not pending and later and len(self.inflight) < self.ex.slots():
                if self.inflight:  # others are running: take a trial put off only if it is free now
                    for run in list(later):
                        if len(self.inflight) >= self.ex.slots():
                            break
                        lock = self.store.lock(run.config)
                        if lock.acquire(blocking=False):
                            later.remove(run)
                            self.begin(run, lock)
                else:  # nothing else to do: wait for the other process
                    run = later.pop(0)
                    self.bars.waiting_for(run.name)
                    lock = self.store.lock(run.config)
                    lock.acquire(blocking=True)
                    self.begin(run, lock)
            if self.inflight:
                for outcome in self.ex.wait(timeout=0.5 if self.parallel else None):
                    self.settle(outcome)
                if self.parallel:  # no epoch reports from workers: credit elapsed time, up to 90 % of the estimate
                    now = time.perf_counter()
                    for job in self.inflight:
                        flight = job.state
                        elapsed = min(now - job.started, 0.9 * (flight.cap - flight.base))
                        self.bars.credit(flight, flight.base + elapsed - flight.credited)

    def done(self, lock) -> None:
        lock.release()
        self.bars.trial_done()

    def begin(self, run: PlannedRun, lock) -> None:
        """Submits what ``run`` still misses; the caller took its lock."""
        missing = self.store.missing_seeds(run.config, run.missing)
        self.tally["records_by_others"] += len(run.missing) - len(missing)
        if not missing:
            self.bars.skip(run.estimate)
            self.done(lock)
            return
        groups = training_groups(self.store, run.config, missing, self.spec.seeds)
        self.submit(_Flight(run, lock, keep=missing, groups=groups))

    def submit(self, flight: _Flight) -> None:
        """Submits the next seed group of ``flight``."""
        run, start = flight.run, flight.cap
        job = Job(run.name, run.config, flight.next_group(), state=flight)
        if not self.parallel:
            flight.bar = self.bars.epoch_bar(run, job.seeds)
            epochs, share = flight.bar.total, flight.cap - start

            def on_epoch(n: int = 1) -> None:
                flight.bar.update(n)
                self.bars.credit(flight, share * n / epochs)

            job.on_epoch = on_epoch
        job.started = time.perf_counter()
        self.inflight.append(job)
        self.ex.submit(job)
        self.bars.in_flight(self.inflight)

    def settle(self, outcome: Outcome) -> None:
        """A finished job: its error re-raised; a lost worker retried (up to the executor's
        ``max_retries``, then the trial reported failed); divergence reported; else its records
        written. Then the trial's next seed group is submitted, or its lock released."""
        job = outcome.job
        flight: _Flight = job.state
        label, mine = job.label, [s for s in job.seeds if s in flight.keep]  # the records this job writes
        if outcome.error is not None:
            raise outcome.error
        if outcome.lost is not None:
            if job.attempt <= self.ex.max_retries:
                self.tally["retried"].append({"trial": label, "seeds": mine, "attempt": job.attempt,
                                              "reason": outcome.lost})
                self.bars.say(f"{label} seeds {_seeds(mine)}: worker lost ({outcome.lost}); "
                              f"retry {job.attempt} of {self.ex.max_retries}", True)
                job.attempt += 1
                job.started = time.perf_counter()
                self.ex.submit(job)
                self.bars.in_flight(self.inflight)
                return
            self.inflight.remove(job)
            lost = mine + [s for group in flight.groups for s in group if s in flight.keep]
            reason = f"its worker was lost {count(job.attempt, 'time')}, last: {outcome.lost}"
            self.tally["failed"].append({"trial": label, "seeds": lost, "reason": reason})
            self.bars.say(f"failed: {label} seeds {_seeds(lost)}: {reason}; nothing stored", True)
            flight.cap = flight.run.estimate  # the groups not begun will not be
            self.bars.credit(flight, flight.cap)
            self.done(flight.lock)
            self.bars.in_flight(self.inflight)
            return
        self.inflight.remove(job)
        if flight.bar is not None:
            flight.bar.close()
        self.bars.credit(flight, flight.cap)
        try:
            self.store_results(job, outcome, mine)
        except BaseException:
            self.done(flight.lock)
            self.bars.in_flight(self.inflight)
            raise
        if flight.groups:
            self.submit(flight)  # under the same lock
        else:
            self.tally["trials_run"] += 1
            self.done(flight.lock)
        self.bars.in_flight(self.inflight)

    def store_results(self, job: Job, outcome: Outcome, mine: list[int]) -> None:
        """Writes the records of seeds ``mine`` of a finished job (divergence reported instead)."""
        label, config = job.label, job.state.run.config
        if outcome.diverged is not None:
            self.tally["diverged"].append({"trial": label, "seeds": mine, "reason": outcome.diverged})
            self.bars.say(f"diverged: {label} seeds {_seeds(mine)}: {outcome.diverged}", True)
            return
        results = outcome.results
        _check_results(results, job.seeds, label)
        prov = outcome.provenance
        if prov is None:
            prov = collect_environment(outcome.wall, job.seeds, **(outcome.timing or {}))
        for seed, metrics in zip(job.seeds, results):
            if seed not in mine:
                continue  # trained again only so that the missing seeds come out as they were
            error = metrics["float"].get("val_error")
            reason = divergence.chance_reason(error, self.num_classes) if isinstance(error, (int, float)) else None
            if reason:
                self.tally["diverged"].append({"trial": label, "seeds": [seed], "reason": reason})
                self.bars.say(f"diverged: {label} seed {seed}: {reason}", True)
                continue
            self.store.put(config, seed, metrics, prov)
            self.tally["records_written"] += 1
        where = f" on {prov.get('hostname')}" if self.parallel and prov.get("hostname") else ""
        self.bars.say(f"{label} seeds {_seeds(mine)}: {format_duration(outcome.wall)}{where}")

    def give_back(self) -> None:
        """Releases the locks (and closes the bars) of the trials still in flight."""
        for job in self.inflight:
            if job.state.bar is not None:
                job.state.bar.close()
            job.state.lock.release()


SEED_BLOCK = 3
"""Seeds train in blocks of this many, by value (0-2, 3-5, ...): a seed's numbers depend, by float
rounding, on which seeds were trained with it (XLA compiles another program for another number of
vmapped seeds), so a fixed block makes a record a function of its trial and seed alone, whatever
else was missing when it was computed. Every committed record was trained this way (seeds 0-2 and,
where a spec has five, 3-4)."""


def training_groups(store: Store, config: Any, missing: Sequence[int], seeds: Sequence[int]) -> list[list[int]]:
    """The seed groups to train (one ``run_trial`` call each) so that the ``missing`` seeds come out as
    they were (or would have been); each group's missing seeds are written, the others only trained again.

    A missing seed that a stored record of ``config`` (among ``seeds``) names in its ``trial_seeds``
    (provenance) trains again with that whole group, in its order (its record was lost); the others
    train with the missing seeds of their :data:`SEED_BLOCK`."""
    if not missing:
        return []  # (reading the trial's records again would be wasted)
    recorded: dict[int, list[int]] = {}
    for seed in seeds:
        if seed in missing:
            continue
        record = store.get(config, seed)
        group = record and (record.get("provenance") or {}).get("trial_seeds")
        if isinstance(group, list):
            for s in group:
                recorded.setdefault(int(s), [int(t) for t in group])
    groups: list[list[int]] = []
    for seed in missing:
        group = recorded.get(seed) or [s for s in missing if s // SEED_BLOCK == seed // SEED_BLOCK
                                       and s not in recorded]
        if group not in groups:
            groups.append(group)
    return groups


def run_sweep(
    spec: SweepSpec,
    store: Store,
    only: str | None = None,
    progress: bool = True,
    run_trial: Callable[..., list[dict]] | None = None,
    executor: str | Executor | None = None,
    force: bool = False,
) -> dict:
    """Runs every missing (trial, seed) of ``spec`` and writes its record to ``store``.

    Seeds of one trial that are missing run in groups (:func:`training_groups`: blocks of
    :data:`SEED_BLOCK`, or the seeds a lost record was trained with), one after another under the
    trial's lock, each one ``run_trial(config, seeds, progress=None)`` call, which returns one metrics dict
    per seed and calls ``progress`` (if not None) with each finished epoch; records are written as soon
    as it returns. ``run_trial`` defaults to :func:`quantlab.training.experiment.run_trial`. Progress bars (tqdm, on
    stderr): the whole sweep, with an ETA that starts from the cost model and adapts to the measured
    speed, and the trial in flight, per epoch (``local``) or the trials in flight (``ray``).

    * **Executors** (:mod:`quantlab.experiments.executors`): ``executor`` is ``"local"`` (default: one trial
      at a time in this process), ``"ray"`` (trials as Ray tasks on a local cluster of this
      machine) or an :class:`~quantlab.experiments.executors.Executor` (e.g. ``RayExecutor(address=...)``).
      Whichever computes, this process alone writes the store, the records are the same, and the
      guarantees below hold. A Ray worker lost mid-trial is retried (``max_retries``), then the
      trial is reported in one line and listed under ``failed``; the sweep goes on.
    * **Preflight.** Before any training the store must be writable (else :class:`StoreError`), and
      the sweep must fit this machine's memory and disks and its estimate a day
      (:mod:`quantlab.experiments.preflight`; else :class:`~quantlab.experiments.preflight.PreflightError`,
      unless ``force``); the spec's trials were checked against the dataset when the spec was built.
    * **Shared stores.** Each trial runs under its lock (:meth:`Store.lock`), held by this process
      while the trial is in flight on any executor. A trial locked by another process is put off to
      the end and then waited for; its seeds that the other process wrote meanwhile are counted,
      not recomputed.
    * **Divergence** (:mod:`quantlab.training.divergence`): a trial whose loss is NaN, infinite or explodes,
      or a seed whose float network ends no better than chance, is reported in one line and
      stored nowhere; the sweep goes on with the other trials.

    Returns ``{"trials_run", "records_written", "records_skipped", "records_by_others", "diverged",
    "failed", "retried", "executor", "seconds"}``; ``diverged`` and ``failed`` list ``{"trial",
    "seeds", "reason"}``, ``retried`` lists ``{"trial", "seeds", "attempt", "reason"}``.
    """
    ex = make_executor(executor)
    parallel = not isinstance(ex, LocalExecutor)
    p = plan(spec, store, only, platform=None) if parallel else plan(spec, store, only)
    todo = [r for r in p.runs if r.missing]
    for run in p.runs:  # a driver killed between a trial's last record and its lock's release left the file
        stale = store.lock(run.config)
        if not run.missing and stale.path.exists() and stale.acquire(blocking=False):
            stale.release()
    tally = {"trials_run": 0, "records_written": 0, "records_skipped": sum(len(r.done) for r in p.runs),
               "records_by_others": 0, "diverged": [], "failed": [], "retried": [], "executor": ex.name,
               "seconds": 0.0}
    if not todo:
        if progress:
            print(f"{spec.name}: all {count(tally['records_skipped'], 'record')} already in {store.root}, "
                  "nothing to run", file=sys.stderr)
        return tally
    store.check_writable()
    if not parallel and not data.is_cached(spec.dataset):
        data.load(spec.dataset, "test")  # prepares the data, or says why it cannot be had, before anything else
    problems = p.problems(None if parallel else preflight.device_memory_bytes())
    if problems and not force:
        raise preflight.PreflightError("\n".join(problems) + f"\n{preflight.OVERRIDE}")
    if run_trial is None:
        run_trial = importlib.import_module("quantlab.training.experiment").run_trial
    num_classes = data.info(spec.dataset)["num_classes"]

    start = time.perf_counter()
    bars = _Progress(spec.name, len(todo), p.estimate, progress, parallel)
    foreign = store.foreign_files()
    if foreign:
        bars.say(f"{store.root}: left alone {count(len(foreign), 'JSON file')} not named like records: "
                 f"{', '.join(foreign)}", True)
    if tally["records_skipped"]:
        bars.say(f"{spec.name}: {count(tally['records_skipped'], 'record')} already in {store.root}, skipped")
    sweep = _SweepRun(spec, store, ex, bars, tally, num_classes)
    try:
        ex.open(run_trial)
        if parallel:
            bars.say(f"{spec.name}: {count(len(todo), 'trial')} on {ex.describe()}")
        sweep.run(todo)
    finally:
        sweep.give_back()  # an error or an interrupt: the trials in flight lose their locks and bars
        try:
            ex.close()
        finally:
            bars.close()
    tally["seconds"] = time.perf_counter() - start
    return tally


def format_failed(failed: Sequence[dict]) -> str:
    """The end-of-sweep list of trials whose workers were lost too often (nothing stored of them)."""
    lines = [f"{count(len(failed), 'trial')} failed (worker lost after all retries); nothing of them was stored:"]
    lines += [f"  {d['trial']} seeds {_seeds(d['seeds'])}: {d['reason']}" for d in failed]
    return "\n".join(lines)


def format_diverged(diverged: Sequence[dict]) -> str:
    """The end-of-sweep list of what diverged (one line per trial and seeds), for messages."""
    trials = len({d["trial"] for d in diverged})
    lines = [f"{count(trials, 'trial')} diverged; these seeds were not stored:"]
    lines += [f"  {d['trial']} seeds {_seeds(d['seeds'])}: {d['reason']}" for d in diverged]
    return "\n".join(lines)


ENV_TRAIN = "QUANTLAB_TRAIN"
"""Set to 1 to let :func:`ensure` (so a chapter, and ``make book``) train the records a spec lacks."""


def ensure(spec: SweepSpec | str, store: Store | None = None, progress: bool = True,
           executor: str | Executor | None = None, train: bool | None = None) -> int:
    """Makes sure ``store`` (default: the spec's results directory) holds every record of ``spec`` (a
    spec or a shipped spec's name); returns how many were missing. The one call a chapter makes.

    Missing records are trained (:func:`run_sweep`) only when ``train`` is true, or when it is None
    and ``$QUANTLAB_TRAIN`` is 1; otherwise nothing trains and :class:`MissingRecordsError` lists
    them with the estimated time and the command that makes them. Prints nothing when none is
    missing. ``executor``: as for :func:`run_sweep` (default: this process)."""
    spec = load_spec(spec) if isinstance(spec, str) else spec
    store = store if store is not None else Store(default_results_dir(spec))
    missing = sum(len(store.missing_seeds(c, spec.seeds)) for c in spec.trials())
    if not missing:
        return 0
    if not (train if train is not None else os.environ.get(ENV_TRAIN, "") == "1"):
        p = plan(spec, store, platform=None)
        trials = [r.name for r in p.runs if r.missing]
        listed = ", ".join(trials[:6]) + (f" and {len(trials) - 6} more" if len(trials) > 6 else "")
        raise MissingRecordsError(
            f"spec {spec.name!r}: {count(missing, 'record')} missing from {store.root} ({listed}), about "
            f"{format_duration(p.estimate)} of training on this machine. Make them with: "
            f"{sweep_command(spec, store)} (or set {ENV_TRAIN}=1, or pass train=True, to let this call train them)")
    tally = run_sweep(spec, store, progress=progress, executor=executor)
    if tally["diverged"]:
        raise RuntimeError(f"spec {spec.name!r}: {format_diverged(tally['diverged'])}")
    if tally["failed"]:
        raise RuntimeError(f"spec {spec.name!r}: {format_failed(tally['failed'])}")
    return missing
