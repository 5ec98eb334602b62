"""The sweep's executors (issue 13): the ``ray`` executor writes the same records as ``local``, retries
a trial whose worker was killed or whose node was removed from a multi-node cluster, reports one whose
worker keeps dying, and a sweep whose driver was SIGKILLed finishes, on rerun, exactly what is missing.

Each test starts its own local Ray cluster (2 CPUs, Ray's temporary files in a fresh directory) and
stops it; Ray processes of a test that outlive it (the node agents of a cluster whose driver was
killed linger for about a minute) are ended by pid. Skipped when Ray is not installed (the ``ray``
extra; ``make test`` installs it from requirements.lock).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install 'quantlab[ray]' (make test installs it)")

from quantlab import data  # noqa: E402
from quantlab.__main__ import main  # noqa: E402
from quantlab.experiments import sweep  # noqa: E402
from quantlab.experiments.executors import RayExecutor  # noqa: E402
from quantlab.experiments.spec import load_spec  # noqa: E402
from quantlab.experiments.store import RECORD_NAME, Store, trial_label  # noqa: E402
from quantlab.training import experiment  # noqa: E402
from fakes import FAKE_METRICS_SOURCE, TINY_SPEC_TOML  # noqa: E402

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent

FAKE_SPEC = TINY_SPEC_TOML

# The sweep command with a fake run_trial (defined in __main__, so Ray ships it to the workers by
# value): sleeps, then logs [run, size, seeds, pid] and returns valid metrics.
WRAPPER = FAKE_METRICS_SOURCE + """
import json, os, sys, time
import quantlab.training.experiment as experiment

log, run_id, delay = sys.argv[1], sys.argv[2], float(sys.argv[3])

def run_trial(config, seeds, progress=None):
    time.sleep(delay)
    out = fake_metrics(config, seeds)
    with open(log, "a") as f:
        f.write(json.dumps([run_id, list(config.size), list(seeds), os.getpid()]) + "\\n")
    return out

def report_jax():  # the driver of a Ray sweep must not start a JAX backend (on a GPU: its memory)
    from jax._src import xla_bridge
    sys.stderr.write(f"driver JAX backends initialised: {xla_bridge.backends_are_initialized()}\\n")

import atexit
atexit.register(report_jax)
experiment.run_trial = run_trial
from quantlab.__main__ import run
run(sys.argv[4:])
"""


def fake_metrics(config) -> dict:
    """:func:`fakes.constant_metrics`, defined here again on purpose: Ray ships a function of this test
    module to its workers by value, while ``fakes`` is not importable there."""
    stage = {"val_error": 0.5, "test_error": 0.5, "steps": [0.1], "zero_fraction": 0.3}
    return {"params": 1, "weights": 1, "float": {"val_error": 0.1, "test_error": 0.1},
            "direct": {str(b): stage for b in config.bits}, "retrain": {str(b): stage for b in config.bits}}


def dies_once(marker: str, width: int, then=None):
    """A run_trial that SIGKILLs its own (worker) process the first time it meets a trial of
    ``width`` (``marker`` records that it did, and the pid), and otherwise runs ``then``."""

    def run_trial(config, seeds, progress=None):
        if config.size[0] == width and not os.path.exists(marker):
            with open(marker, "w") as f:
                f.write(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        if then is None:
            return [fake_metrics(config) for _ in seeds]
        return then(config, seeds)

    return run_trial


def always_dies(width: int):
    def run_trial(config, seeds, progress=None):
        if config.size[0] == width:
            os.kill(os.getpid(), signal.SIGKILL)
        return [fake_metrics(config) for _ in seeds]

    return run_trial


def _pids_with_env(needle: bytes) -> list[int]:
    """Processes (not this one) whose environment holds ``needle``: those of this test's Ray cluster."""
    out = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            if needle in (proc / "environ").read_bytes():
                out.append(int(proc.name))
        except OSError:
            continue
    return out


def _comm(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
    except OSError:
        return ""


@pytest.fixture
def ray_env(monkeypatch):
    """A fresh RAY_TMPDIR (short: Ray's socket paths must fit 107 bytes) and a PYTHONPATH that makes
    the workers import this checkout; afterwards, ends whatever Ray process of it is left."""
    tmp = tempfile.mkdtemp(prefix="qlray-", dir="/tmp")
    monkeypatch.setenv("RAY_TMPDIR", tmp)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    yield tmp
    if ray.is_initialized():
        ray.shutdown()
    for pid in _pids_with_env(f"RAY_TMPDIR={tmp}".encode()):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def by_value():
    """Ray pickles this module's functions by value (its workers cannot import the test module)."""
    module = sys.modules[__name__]
    ray.cloudpickle.register_pickle_by_value(module)
    yield
    ray.cloudpickle.unregister_pickle_by_value(module)


def store_files(store: Store) -> list[str]:
    return sorted(p.name for p in store.root.iterdir()) if store.root.is_dir() else []


def a_cache(root: Path, real_data: Path) -> Path:
    """A fresh $QUANTLAB_CACHE (so no float network is reused) that shares the data arrays."""
    root.mkdir()
    (root / "data").symlink_to(real_data)
    return root


def test_ray_writes_the_local_records_and_retries_a_killed_worker(tmp_path, monkeypatch, ray_env, by_value):
    try:
        data.load("fashion_mnist", "test")
    except Exception as e:  # noqa: BLE001
        pytest.skip(f"Fashion-MNIST is not available here: {e}")
    real_data = data.cache_dir() / "data"
    spec = load_spec("smoke")
    local, remote = Store(tmp_path / "local"), Store(tmp_path / "ray")

    monkeypatch.setenv("QUANTLAB_CACHE", str(a_cache(tmp_path / "cache-local", real_data)))
    t0 = time.perf_counter()
    first = sweep.run_sweep(spec, local, progress=False)
    t_local = time.perf_counter() - t0
    monkeypatch.setenv("QUANTLAB_CACHE", str(a_cache(tmp_path / "cache-ray", real_data)))
    t0 = time.perf_counter()
    second = sweep.run_sweep(spec, remote, progress=False, executor=RayExecutor(num_cpus=2))
    t_ray = time.perf_counter() - t0
    print(f"smoke: local {t_local:.1f} s, ray {t_ray:.1f} s (cluster start included)")
    assert first["executor"] == "local" and second["executor"] == "ray"
    assert second["records_written"] == first["records_written"] == 2
    assert second["failed"] == second["retried"] == []

    # same files (keys), same configs and metrics; provenance from the worker, naming it
    assert store_files(remote) == store_files(local) and len(store_files(local)) == 2
    for config in spec.trials():
        a, b = local.get(config, 0), remote.get(config, 0)
        assert b["key"] == a["key"] and b["config"] == a["config"] and b["metrics"] == a["metrics"]
        pa, pb = a["provenance"], b["provenance"]
        assert set(pb) == set(pa) | {"executor"}
        assert pb["executor"]["name"] == "ray" and pb["executor"]["attempt"] == 1
        assert pb["executor"]["pid"] != os.getpid() and pb["executor"]["node_id"]
        assert pb["hostname"] == socket.gethostname() and pb["device"] == pa["device"]
        assert pb["layers"] == pa["layers"] == "fused"
        assert pb["trial_seeds"] == [0] and pb["wall_seconds"] > 0

    # a second run: the worker of ffdnn-w32-d1 is killed mid-trial once; the retry stores the same record
    target = next(c for c in spec.trials() if c.size[0] == 32)
    kept = remote.path(next(c for c in spec.trials() if c.size[0] == 16), 0).read_bytes()
    remote.path(target, 0).unlink()
    shutil.rmtree(tmp_path / "cache-ray" / "float")
    marker = tmp_path / "killed"
    t0 = time.perf_counter()
    third = sweep.run_sweep(spec, remote, progress=False, run_trial=dies_once(str(marker), 32, experiment.run_trial),
                            executor=RayExecutor(num_cpus=2, max_retries=1))
    print(f"retry run: {time.perf_counter() - t0:.1f} s; retried: {third['retried']}")
    killed_pid = int(marker.read_text())
    assert [(r["trial"], r["seeds"], r["attempt"]) for r in third["retried"]] == [("ffdnn-w32-d1", [0], 1)]
    assert third["failed"] == [] and third["records_written"] == 1 and third["records_skipped"] == 1
    record = remote.get(target, 0)
    assert record["metrics"] == local.get(target, 0)["metrics"]
    assert record["provenance"]["executor"]["attempt"] == 2 and record["provenance"]["executor"]["pid"] != killed_pid
    assert remote.path(next(c for c in spec.trials() if c.size[0] == 16), 0).read_bytes() == kept
    assert store_files(remote) == store_files(local)  # no .tmp, .lock or .corrupt file left


def test_a_worker_that_keeps_dying_is_retried_then_reported_by_name(tmp_path, monkeypatch, capsys, ray_env, by_value):
    spec_file = tmp_path / "fake.toml"
    spec_file.write_text(FAKE_SPEC.replace("[1, 2, 3, 4, 5, 6]", "[1, 2]"))
    results = tmp_path / "results"
    monkeypatch.setattr(experiment, "run_trial", always_dies(2))
    code = main(["sweep", str(spec_file), "--results", str(results), "--executor", "ray", "--num-cpus", "2",
                 "--max-retries", "1", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "ffdnn-w2-d1 seeds 0,1: worker lost" in err and "retry 1 of 1" in err
    assert "failed: ffdnn-w2-d1 seeds 0,1: its worker was lost 2 times" in err
    assert "1 trial failed" in err and "--executor ray" in err and "--max-retries 1" in err
    store = Store(results)
    spec = load_spec(spec_file)
    done = {trial_label(c): [s for s in spec.seeds if store.has(c, s)] for c in spec.trials()}
    assert done == {"ffdnn-w1-d1": [0, 1], "ffdnn-w2-d1": []}
    assert all(RECORD_NAME.fullmatch(name) for name in store_files(store))  # no lock, tmp or corrupt file


def test_sigkill_of_the_driver_then_rerun_finishes_only_what_is_missing(tmp_path, ray_env):
    spec_file, wrapper = tmp_path / "fake.toml", tmp_path / "wrapper.py"
    spec_file.write_text(FAKE_SPEC)
    wrapper.write_text(WRAPPER)
    log, results = tmp_path / "computed.log", tmp_path / "results"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    def command(run_id, delay):
        return [sys.executable, str(wrapper), str(log), run_id, str(delay), "sweep", str(spec_file),
                "--results", str(results), "--executor", "ray", "--num-cpus", "2", "--no-progress"]

    proc = subprocess.Popen(command("first", 1.0), cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 240
    while len(list(results.glob("*.json"))) < 4 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, f"the sweep ended before it could be killed: {proc.stderr.read()}"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stderr.close()

    # the cluster's raylet and workers die with the driver (Ray fate-shares them); no worker computes on
    mine = f"RAY_TMPDIR={ray_env}".encode()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        working = [p for p in _pids_with_env(mine)
                   if any(w in _comm(p) for w in ("raylet", "gcs_server", "ray::_remote_trial", "ray::IDLE"))]
        if not working:
            break
        time.sleep(0.5)
    assert not working, [(p, _comm(p)) for p in working]

    def snapshot():
        return {p.name: p.read_bytes() for p in results.glob("*.json")}

    killed = snapshot()
    assert 4 <= len(killed) < 12, sorted(killed)
    assert all(RECORD_NAME.fullmatch(n) for n in killed)

    done = subprocess.run(command("rerun", 0.0), cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"{len(killed)} already present" in done.stderr
    assert "driver JAX backends initialised: False" in done.stderr

    spec, store = load_spec(spec_file), Store(results)
    names = sorted(p.name for p in results.iterdir())
    assert len(names) == 12 and all(RECORD_NAME.fullmatch(n) for n in names), names  # no tmp, lock, corrupt
    for config in spec.trials():
        for seed in spec.seeds:
            assert store.get(config, seed) is not None
            assert len(list(results.glob(f"{trial_label(config)}-s{seed}-*.json"))) == 1
    after = snapshot()
    assert {name: after[name] for name in killed} == killed  # finished records were not rewritten
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    rerun = [(size[0], seed) for run_id, size, seeds, _ in lines if run_id == "rerun" for seed in seeds]
    finished = {(json.loads(killed[n])["config"]["size"][0], json.loads(killed[n])["seed"]) for n in killed}
    assert not set(rerun) & finished, "a finished record was recomputed"
    assert sorted(rerun) == sorted({(c.size[0], s) for c in spec.trials() for s in spec.seeds} - finished)

    third = subprocess.run(command("third", 0.0), cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert third.returncode == 0 and "0 trials run" in third.stderr, third.stderr
    assert snapshot() == after


def test_a_trial_no_node_can_take_is_refused_instead_of_waiting_for_ever(tmp_path, capsys, ray_env):
    spec_file = tmp_path / "fake.toml"
    spec_file.write_text(FAKE_SPEC.replace("[1, 2, 3, 4, 5, 6]", "[1]"))
    code = main(["sweep", str(spec_file), "--results", str(tmp_path / "results"), "--executor", "ray",
                 "--num-cpus", "2", "--cpus-per-trial", "3", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "error: a trial asks for 3 CPU but no node of the Ray cluster has that many" in err
    assert not ray.is_initialized() and not list((tmp_path / "results").glob("*.json"))


def logs_its_node(started: str, finished: str, delay: float):
    """A run_trial that appends ``[width, node id]`` to ``started`` when it begins and to ``finished``
    when it returns (after ``delay`` seconds), with :func:`fake_metrics` per seed."""

    def run_trial(config, seeds, progress=None):
        node = ray.get_runtime_context().get_node_id() if ray.is_initialized() else "local"
        with open(started, "a") as f:
            f.write(json.dumps([config.size[0], node]) + "\n")
        time.sleep(delay)
        with open(finished, "a") as f:
            f.write(json.dumps([config.size[0], node]) + "\n")
        return [fake_metrics(config) for _ in seeds]

    return run_trial


def _lines(path: Path) -> list:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


# Ray's Cluster starts its node processes with subprocess (fork, then exec at once in C), in this pytest
# process where earlier tests imported JAX: Python warns of fork in a threaded process, which concerns
# a child that keeps running Python code, not one that execs.
@pytest.mark.filterwarnings("ignore:os.fork\\(\\) was called:RuntimeWarning")
def test_a_worker_node_removed_mid_sweep_on_a_multi_node_cluster(tmp_path, ray_env, by_value):
    """The way Ray's own tests build a cluster on one machine (ray.cluster_utils.Cluster): a head that takes
    no trial and two one-CPU worker nodes. The node running a trial is removed mid-sweep; its trial is
    retried on the other node, the sweep completes, and every record equals the local executor's."""
    from ray.cluster_utils import Cluster

    spec_file = tmp_path / "fake.toml"
    spec_file.write_text(FAKE_SPEC)
    spec = load_spec(spec_file)
    local = Store(tmp_path / "local")
    started, finished = tmp_path / "started.log", tmp_path / "finished.log"
    sweep.run_sweep(spec, local, progress=False, run_trial=logs_its_node(str(started), str(finished), 0))
    started.unlink()
    finished.unlink()

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    try:
        workers = [cluster.add_node(num_cpus=1) for _ in range(2)]
        cluster.wait_for_nodes()
        remote = Store(tmp_path / "ray")
        outcome = {}
        thread = threading.Thread(target=lambda: outcome.update(sweep.run_sweep(
            spec, remote, progress=False, run_trial=logs_its_node(str(started), str(finished), 2.0),
            executor=RayExecutor(address=cluster.address, max_retries=2))))
        thread.start()
        ids = {w.node_id: w for w in workers}
        deadline, victim = time.monotonic() + 180, None
        while victim is None and time.monotonic() < deadline and thread.is_alive():
            done = {tuple(x) for x in _lines(finished)}
            running = [(width, node) for width, node in _lines(started) if (width, node) not in done and node in ids]
            if done and running:  # a trial has finished somewhere and one is running now: take its node away
                victim = running[0]
            else:
                time.sleep(0.1)
        assert victim is not None, f"no trial ran on a worker node: {_lines(started)}"
        cluster.remove_node(ids[victim[1]])
        thread.join(timeout=300)
        assert not thread.is_alive(), "the sweep did not finish after a worker node was removed"
    finally:
        if ray.is_initialized():
            ray.shutdown()
        cluster.shutdown()

    assert outcome["failed"] == [] and outcome["records_written"] == len(spec.trials()) * len(spec.seeds)
    assert [r["trial"] for r in outcome["retried"]] == [f"ffdnn-w{victim[0]}-d1"], outcome["retried"]
    survivor = next(n for n in ids if n != victim[1])
    assert [victim[0], survivor] in _lines(finished), "the lost trial was not finished on the other node"
    assert store_files(remote) == store_files(local)
    for config in spec.trials():
        for seed in spec.seeds:
            assert remote.get(config, seed)["metrics"] == local.get(config, seed)["metrics"]
