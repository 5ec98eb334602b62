"""Where a sweep's trials run: in this process (``local``) or as tasks on a Ray cluster (``ray``).

:func:`quantlab.experiments.sweep.run_sweep` owns everything that touches the store (planning, the per-trial
locks, the checks on what a trial returned, divergence, writing records, progress bars); an executor
only computes trials. It is handed a :class:`Job` (a trial's config and the seeds still missing),
and hands back an :class:`Outcome`: the per-seed metrics, or the divergence, or that the worker was
lost, or the exception ``run_trial`` raised. The driver (the process running the sweep) is therefore
the only writer of the store, whichever executor computes.

* :class:`LocalExecutor` (``local``, the default): one trial at a time, in this process, with the
  per-epoch progress bar. This is what a sweep always did.
* :class:`RayExecutor` (``ray``): each trial is one Ray task. Without an address it starts a local
  Ray cluster on this machine (and stops it at the end); with one (``ray://...``, ``HOST:PORT`` or
  ``auto``) it joins a running cluster. A task asks for one GPU when the cluster has GPUs, else for
  ``cpus_per_trial`` CPUs; as many tasks run at once as the cluster has room for. A task returns the
  metrics and the provenance computed *on the worker* (its host, device, packages, commit, wall
  time, plus ``executor``: Ray node, worker pid, attempt), and the driver writes the record.
  A worker that dies mid-trial (killed, out of memory, its node lost) is retried ``max_retries``
  times by the driver, then the trial is reported as failed by name.

Ray is optional (``pip install 'quantlab[ray]'``): this module imports it only when a
:class:`RayExecutor` starts.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import os
import socket
import time
import warnings
from collections.abc import Callable
from typing import Any

from quantlab.formatting import count
from quantlab.training.divergence import DivergenceError

EXECUTORS = ("local", "ray")
DEFAULT_MAX_RETRIES = 2


class ExecutorError(RuntimeError):
    """An executor cannot be used as asked (Ray missing, cluster unreachable, worker mismatch)."""


class ClusterLostError(ExecutorError):
    """The cluster went away while trials were in flight (the driver's node or the head died)."""


@dataclasses.dataclass(eq=False)
class Job:
    """One trial to compute: ``config`` for ``seeds`` (trained together). ``attempt`` counts tries;
    ``state`` is the sweep's own bookkeeping (lock, bars), which executors leave alone."""

    label: str
    config: Any
    seeds: list[int]
    attempt: int = 1
    on_epoch: Callable[[int], None] | None = None  # per-epoch progress, where the executor can report it
    state: Any = None
    started: float = 0.0  # time.perf_counter() when (re)submitted


@dataclasses.dataclass
class Outcome:
    """What became of a :class:`Job`: exactly one of ``results`` (one metrics dict per seed),
    ``diverged`` (the DivergenceError's message), ``lost`` (why the worker was lost; may be
    retried) or ``error`` (the exception ``run_trial`` raised, re-raised by the sweep).
    ``provenance`` is the worker's (None: the driver computes it, as for ``local``)."""

    job: Job
    results: list | None = None
    diverged: str | None = None
    lost: str | None = None
    error: BaseException | None = None
    wall: float = 0.0
    provenance: dict | None = None
    timing: dict | None = None  # the trial's compilation and phases (:meth:`_Clock.timing`)


class Executor:
    """The interface: ``open`` once, then ``submit`` jobs while ``slots()`` allows and collect
    outcomes with ``wait``; ``close`` at the end (also after an error)."""

    name = "?"
    max_retries = 0

    def open(self, run_trial: Callable[..., list]) -> None:
        """``run_trial(config, seeds, progress=None) -> [metrics per seed]`` computes a job."""
        raise NotImplementedError

    def slots(self) -> int:
        """How many trials may be in flight at once."""
        raise NotImplementedError

    def submit(self, job: Job) -> None:
        raise NotImplementedError

    def wait(self, timeout: float | None = None) -> list[Outcome]:
        """Outcomes of finished jobs (possibly none when ``timeout`` passes first)."""
        raise NotImplementedError

    def describe(self) -> str:
        """One line for messages: where trials run."""
        return self.name

    def close(self) -> None:
        pass


class _Clock:
    """The wall time of one trial, the part of it JAX spent compiling
    (:mod:`quantlab.training.compiletime`) and its phases (:mod:`quantlab.training.phases`), from its
    construction on."""

    def __init__(self):
        self._compiled = importlib.import_module("quantlab.training.compiletime")
        self._phases = importlib.import_module("quantlab.training.phases")
        self._start = (time.perf_counter(), self._compiled.seconds(), self._compiled.programs(),
                       self._phases.seconds(), self._compiled.background_seconds())

    def wall(self) -> float:
        return time.perf_counter() - self._start[0]

    def timing(self) -> dict:
        """``compile_seconds``, ``compiled_programs`` (executables built or read from the cache),
        ``compile_ahead_seconds`` (compiled meanwhile in the background, :mod:`quantlab.training.warmup`)
        and ``phase_seconds`` (seconds per phase, net of compilation)."""
        return {"compile_seconds": self._compiled.seconds() - self._start[1],
                "compiled_programs": self._compiled.programs() - self._start[2],
                "compile_ahead_seconds": self._compiled.background_seconds() - self._start[4],
                "phase_seconds": self._phases.since(self._start[3])}


class LocalExecutor(Executor):
    """One trial at a time in this process: :meth:`wait` runs the submitted job (its per-epoch
    progress to ``job.on_epoch``) and returns its outcome; an exception of
    ``run_trial`` other than divergence propagates from :meth:`wait` as it is."""

    name = "local"

    def __init__(self) -> None:
        self._run_trial = None
        self._job: Job | None = None

    def open(self, run_trial):
        self._run_trial = run_trial

    def slots(self) -> int:
        return 1

    def submit(self, job: Job) -> None:
        if self._job is not None:
            raise RuntimeError("the local executor runs one trial at a time")
        self._job = job

    def wait(self, timeout=None) -> list[Outcome]:
        job, self._job = self._job, None
        if job is None:
            return []
        clock = _Clock()
        try:
            results = self._run_trial(job.config, job.seeds, progress=job.on_epoch)
        except DivergenceError as e:
            return [Outcome(job, diverged=str(e), wall=clock.wall())]
        return [Outcome(job, results=results, wall=clock.wall(), timing=clock.timing())]


# -- Ray -----------------------------------------------------------------------------------------

def _remote_trial(run_trial, config, seeds, numerics_version, attempt):
    """The body of a Ray task (runs on a worker): the trial, timed, with the worker's provenance."""
    import quantlab
    from quantlab.experiments import environment

    if quantlab.NUMERICS_VERSION != numerics_version:
        return {"mismatch": f"the worker on {socket.gethostname()} runs quantlab {quantlab.__version__} with "
                            f"NUMERICS_VERSION {quantlab.NUMERICS_VERSION}, the driver {numerics_version}"}
    clock = _Clock()
    try:
        results = run_trial(config, list(seeds))
    except DivergenceError as e:
        return {"diverged": str(e), "wall": clock.wall()}
    wall = clock.wall()
    prov = environment.collect(wall, seeds, **clock.timing())
    prov["executor"] = _worker_identity(attempt)
    return {"results": results, "wall": wall, "provenance": prov}


def _worker_identity(attempt: int) -> dict:
    """Which Ray worker computed a trial (the host and device are in the provenance already)."""
    out = {"name": "ray", "pid": os.getpid(), "attempt": int(attempt)}
    try:
        import ray

        ctx = ray.get_runtime_context()
        out["node_id"] = ctx.get_node_id()
        out["node_ip"] = ray.util.get_node_ip_address()
        out["gpu_ids"] = [str(g) for g in ray.get_gpu_ids()]
    except Exception:  # noqa: BLE001 - provenance must never fail a finished trial
        pass
    return out


def _first_line(error: BaseException, limit: int = 200) -> str:
    text = str(error).strip().splitlines()
    line = text[0] if text else ""
    line = f"{type(error).__name__}: {line}" if line else type(error).__name__
    return line if len(line) <= limit else line[: limit - 3] + "..."


class RayExecutor(Executor):
    """Trials as Ray tasks (see the module docstring).

    ``address``: None starts a local cluster (``num_cpus`` CPUs, default all) that :meth:`close`
    stops; otherwise the cluster to join (``auto``, ``HOST:PORT``, ``ray://HOST:PORT``), left
    running. If Ray is already initialised in this process, that cluster is used as it is.
    ``cpus_per_trial``: CPUs a task requests. ``gpus_per_trial``: GPUs a task requests (None: 1
    when the cluster has GPUs, else 0). ``max_retries``: retries of a trial whose worker was lost.
    """

    name = "ray"

    def __init__(self, address: str | None = None, num_cpus: int | None = None, cpus_per_trial: float = 1,
                 gpus_per_trial: float | None = None, max_retries: int = DEFAULT_MAX_RETRIES,
                 runtime_env: dict | None = None):
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0; got {max_retries}")
        if cpus_per_trial <= 0:
            raise ValueError(f"cpus_per_trial must be > 0; got {cpus_per_trial}")
        if num_cpus is not None and num_cpus < 1:
            raise ValueError(f"num_cpus must be >= 1; got {num_cpus}")
        self.address, self.num_cpus = address, num_cpus
        self.cpus_per_trial, self.gpus_per_trial = cpus_per_trial, gpus_per_trial
        self.max_retries, self.runtime_env = max_retries, runtime_env
        self._ray = None
        self._owned = False
        self._refs: dict[Any, Job] = {}
        self._slots = (0.0, 1)  # (when computed, value)

    def open(self, run_trial):
        try:
            import ray
        except ImportError:
            raise ExecutorError("the ray executor needs Ray: pip install 'quantlab[ray]' "
                                "(or use --executor local)") from None
        self._ray = ray
        if ray.is_initialized():
            self._owned = False
        else:
            kwargs = {"include_dashboard": False, "logging_level": logging.WARNING, "log_to_driver": False}
            if self.runtime_env:
                kwargs["runtime_env"] = self.runtime_env
            try:
                with warnings.catch_warnings():
                    # Ray starts its processes with fork + exec (subprocess), which is safe; JAX, already
                    # imported by the plan, warns about any fork all the same.
                    warnings.filterwarnings("ignore", message="os.fork", category=RuntimeWarning)
                    if self.address:
                        ray.init(address=self.address, **kwargs)
                    else:
                        ray.init(address="local", num_cpus=self.num_cpus, **kwargs)
            except (ConnectionError, RuntimeError, ValueError) as e:
                where = f"the Ray cluster at {self.address}" if self.address else "a local Ray cluster"
                raise ExecutorError(f"cannot start or join {where}: {_first_line(e)}") from None
            self._owned = True
        resources = ray.cluster_resources()
        gpus = self.gpus_per_trial
        if gpus is None:
            gpus = 1 if resources.get("GPU", 0) >= 1 else 0
        self._gpus = gpus
        nodes = [n.get("Resources", {}) for n in ray.nodes() if n.get("Alive")]
        for what, need in (("CPU", self.cpus_per_trial), ("GPU", gpus)):
            most = max((n.get(what, 0) for n in nodes), default=0)
            if need and most < need:  # Ray would queue the tasks for ever
                self.close()
                hint = "; lower --cpus-per-trial" if what == "CPU" else ""
                raise ExecutorError(f"a trial asks for {need:g} {what} but no node of the Ray cluster has "
                                    f"that many (the largest has {most:g}){hint}")
        options = {"num_cpus": self.cpus_per_trial, "num_gpus": gpus, "max_retries": 0}
        self._task = ray.remote(_remote_trial).options(**options)
        self._run_trial_ref = ray.put(run_trial)
        self._numerics = importlib.import_module("quantlab").NUMERICS_VERSION

    def slots(self) -> int:
        when, value = self._slots
        if time.monotonic() - when < 2.0:
            return value
        resources = self._ray.cluster_resources()
        if self._gpus:
            value = int(resources.get("GPU", 0) // self._gpus)
        else:
            value = int(resources.get("CPU", 0) // self.cpus_per_trial)
        value = max(1, value)
        self._slots = (time.monotonic(), value)
        return value

    def describe(self) -> str:
        resources = self._ray.cluster_resources()
        nodes = len([n for n in self._ray.nodes() if n.get("Alive")])
        ask = f"{self._gpus:g} GPU" if self._gpus else f"{self.cpus_per_trial:g} CPU"
        where = f"Ray cluster at {self.address}" if self.address else (
            "local Ray cluster" if self._owned else "Ray cluster of this process")
        return (f"{where}: {count(nodes, 'node')}, {resources.get('CPU', 0):g} CPU, {resources.get('GPU', 0):g} GPU; "
                f"{ask} per trial, up to {self.slots()} at once")

    def submit(self, job: Job) -> None:
        ref = self._task.remote(self._run_trial_ref, job.config, list(job.seeds), self._numerics, job.attempt)
        self._refs[ref] = job

    def wait(self, timeout=None) -> list[Outcome]:
        ray = self._ray
        if not self._refs:
            return []
        try:
            ready, _ = ray.wait(list(self._refs), num_returns=1, timeout=timeout)
            if ready:  # whatever else is ready too
                ready, _ = ray.wait(list(self._refs), num_returns=len(self._refs), timeout=0)
        except (ray.exceptions.RaySystemError, ConnectionError) as e:  # the driver lost its node or the cluster
            raise ClusterLostError(f"lost the Ray cluster ({_first_line(e)})") from None
        out = []
        for ref in ready:
            job = self._refs.pop(ref)
            try:
                value = ray.get(ref)
            except ray.exceptions.RayTaskError as e:  # run_trial raised on the worker
                cause = getattr(e, "cause", None)
                out.append(Outcome(job, error=cause if isinstance(cause, BaseException) else e))
                continue
            except ray.exceptions.RayError as e:  # the worker (or its node) died, or ran out of memory
                out.append(Outcome(job, lost=_first_line(e)))
                continue
            if "mismatch" in value:
                raise ExecutorError(f"{value['mismatch']}: install the same quantlab on every node")
            if "diverged" in value:
                out.append(Outcome(job, diverged=value["diverged"], wall=value["wall"]))
            else:
                out.append(Outcome(job, results=value["results"], wall=value["wall"],
                                   provenance=value["provenance"]))
        return out

    def close(self) -> None:
        ray = self._ray
        if ray is None:
            return
        for ref in list(self._refs):
            try:
                ray.cancel(ref, force=True)
            except Exception:  # noqa: BLE001 - best effort: the cluster may already be gone
                pass
        self._refs.clear()
        if self._owned and ray.is_initialized():
            ray.shutdown()
        self._ray = None


def make_executor(name: str | Executor | None = None, **options) -> Executor:
    """An executor by name (``local`` | ``ray``; None: ``local``) with ``options`` for
    :class:`RayExecutor`; an :class:`Executor` is returned as it is."""
    if isinstance(name, Executor):
        return name
    if name in (None, "local"):
        if any(v is not None for v in options.values()):
            given = ", ".join(k for k, v in options.items() if v is not None)
            raise ExecutorError(f"{given}: only for the ray executor (--executor ray)")
        return LocalExecutor()
    if name == "ray":
        return RayExecutor(**{k: v for k, v in options.items() if v is not None})
    raise ExecutorError(f"unknown executor {name!r}; valid: {', '.join(EXECUTORS)}")


__all__ = ["EXECUTORS", "DEFAULT_MAX_RETRIES", "ClusterLostError", "Executor", "ExecutorError", "Job", "LocalExecutor",
           "Outcome", "RayExecutor", "make_executor"]

