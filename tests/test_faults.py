"""Faults and bad input in the sweep command line (issue 15): interrupts, divergence, preflight
checks, foreign files, hints, concurrent sweeps on one store, and the smaller store/CLI details.

Most tests run ``python -m quantlab`` in a subprocess, because what they guard (exit codes, crashes,
tracebacks, locks between processes) only shows there. Those that need real training use tiny
specs on the Fashion-MNIST cache and are skipped when it is missing.
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from quantlab import data
from quantlab.__main__ import main
from quantlab.experiments import lock, store as storemod
from quantlab.experiments.spec import load_spec
from quantlab.experiments.store import Store
from quantlab.training import divergence, experiment
from fakes import FAKE_METRICS_SOURCE, TINY_SPEC_TOML, constant_metrics
from quantlab.training.train import DivergenceError

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
CRASH = ("Traceback", "Fatal Python error", "Segmentation fault", "Aborted")

TINY = """
description = "tiny real training"
dataset = "fashion_mnist"
family = "ffdnn"
widths = {widths}
depths = [1]
bits = [2]
seeds = [0]
train_subset = 500
[float_train]
epochs = 1
batch_size = 50
learning_rate = {rate}
[retrain]
epochs = 1
batch_size = 50
"""

# A fake run_trial for subprocess tests: sleeps, logs (pid, size, seeds) and returns valid metrics.
WRAPPER = FAKE_METRICS_SOURCE + """
import json, os, sys, time
import quantlab.training.experiment as experiment

log, delay = sys.argv[1], float(sys.argv[2])

def run_trial(config, seeds, progress=None):
    with open(log, "a") as f:
        f.write(json.dumps({"pid": os.getpid(), "size": list(config.size), "seeds": list(seeds)}) + "\\n")
    time.sleep(delay)
    return fake_metrics(config, seeds)

experiment.run_trial = run_trial
from quantlab.__main__ import run
run(sys.argv[3:])
"""

FAKE_SPEC = TINY_SPEC_TOML


def fake_trial(config, seeds, progress=None):
    return [constant_metrics(config) for _ in seeds]


def have_fashion_mnist() -> bool:
    try:
        data.load("fashion_mnist", "test")
    except Exception:  # noqa: BLE001 - any reason: not here
        return False
    return True


needs_data = pytest.mark.skipif(not have_fashion_mnist(), reason="Fashion-MNIST is not available here")


def quantlab(*args: str, cwd: Path = ROOT, timeout: float = 300, prefix: tuple = ()) -> subprocess.CompletedProcess:
    return subprocess.run([*prefix, sys.executable, "-m", "quantlab", *args], cwd=cwd, env=ENV,
                          capture_output=True, text=True, timeout=timeout)


def json_files(root: Path) -> list[str]:
    return sorted(p.name for p in root.glob("*.json")) if root.is_dir() else []


@pytest.fixture
def wrapper(tmp_path) -> Path:
    path = tmp_path / "wrapper.py"
    path.write_text(WRAPPER)
    return path


@pytest.fixture
def fake_spec(tmp_path) -> Path:
    path = tmp_path / "fake.toml"
    path.write_text(FAKE_SPEC)
    return path


def logged(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


# -- 1. interrupts ---------------------------------------------------------------------------------

def interrupt(spec: Path, results: Path, after_records: int, delay: float, sig=signal.SIGINT, env=ENV):
    """Runs a sweep, sends ``sig`` ``delay`` seconds after ``after_records`` records exist;
    returns ``(exit code, stderr)``."""
    proc = subprocess.Popen([sys.executable, "-m", "quantlab", "sweep", str(spec), "--results", str(results)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while len(json_files(results)) < after_records and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(delay)
    assert proc.poll() is None, f"the sweep ended before the signal: {proc.stderr.read()}"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=60)
    return proc.returncode, err


@needs_data
@pytest.mark.slow
def test_sigint_at_any_moment_exits_130_without_a_crash(tmp_path):
    """20 Ctrl-Cs at random moments of a real sweep: half in its first seconds (imports, data,
    first compilations), half in the second trial (compilations, epochs, record writes). Exit 130
    with the message every time, no crash, valid records only. Before the fix 3 to 5 of 10 such
    tries died of SIGSEGV (exit 139) after the message, or aborted, or ran on.

    JAX's persistent compilation cache keeps the tries short (the first compiles, the others load
    the executables); loading runs on XLA's threads just as compiling does."""
    spec = tmp_path / "tiny.toml"
    # enough trials that the sweep outlasts the longest delay: a trial of this spec takes about 0.5 s
    # on a fast CPU, and with 4 trials the sweep had ended 2.5 s after its first record
    spec.write_text(TINY.format(widths=list(range(8, 104, 8)), rate=1e-3))
    env = {**ENV, "JAX_COMPILATION_CACHE_DIR": str(tmp_path / "jax-cache"),
           "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0"}
    rng = random.Random(15)
    outcomes = []
    for i in range(20):
        results, after = tmp_path / f"r{i}", i % 2
        delay = rng.uniform(0.3, 4.0) if after == 0 else rng.uniform(0.0, 2.5)
        code, err = interrupt(spec, results, after, delay, env=env)
        outcomes.append((after, round(delay, 2), code, len(json_files(results))))
        assert code == 130, (outcomes, err[-3000:])
        assert err.rstrip().endswith("interrupted") or "to resume, rerun: python -m quantlab sweep" in err, err
        assert not any(c in err for c in CRASH), err[-3000:]
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # a corrupt record would warn
            assert len(list(Store(results).scan())) == len(json_files(results))
        shutil.rmtree(results, ignore_errors=True)
    print("(after records, delay s, exit code, records):", outcomes)


@needs_data
@pytest.mark.slow
def test_sigterm_exits_143_with_the_message(tmp_path):
    spec = tmp_path / "tiny.toml"
    spec.write_text(TINY.format(widths=[8, 16], rate=1e-3))
    code, err = interrupt(spec, tmp_path / "r", 1, 0.5, signal.SIGTERM)
    assert code == 143 and "interrupted: finished records are kept" in err, err
    assert not any(c in err for c in CRASH), err


def test_ctrl_c_in_process_returns_130(tmp_path, fake_spec, monkeypatch, capsys):
    def interrupted(config, seeds, progress=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(experiment, "run_trial", interrupted)
    assert main(["sweep", str(fake_spec), "--results", str(tmp_path / "r"), "--no-progress"]) == 130
    err = capsys.readouterr().err
    assert f"to resume, rerun: python -m quantlab sweep {fake_spec} --results {tmp_path / 'r'}" in err


# -- 2. divergence ---------------------------------------------------------------------------------

def test_loss_rule():
    assert divergence.loss_reason([2.3, 0.4], 10) is None
    assert divergence.loss_reason([23.0], 10) is None  # 10 x ln 10 = 23.03
    assert "exploded above 23" in divergence.loss_reason([2.3, 23.1], 10)
    assert "not finite" in divergence.loss_reason([float("nan"), 2.0], 10)
    assert "not finite" in divergence.loss_reason([float("inf")], 10)
    assert "\n" not in divergence.loss_reason([1e9], 10)


def test_loss_rule_scales_with_the_classes():
    assert divergence.loss_reason([5.0], 2) is None and divergence.loss_reason([7.0], 2) is not None
    assert divergence.initial_loss(10) == pytest.approx(np.log(10))


def test_chance_rule_judges_only_the_final_error():
    assert divergence.chance_error(10) == pytest.approx(0.9)
    assert divergence.chance_reason(0.90, 10) and divergence.chance_reason(0.885, 10)
    assert divergence.chance_reason(0.87, 10) is None and divergence.chance_reason(0.3, 10) is None
    assert "no better than chance" in divergence.chance_reason(0.9, 10)
    assert divergence.chance_reason(0.45, 2) is None and divergence.chance_reason(0.49, 2)


@pytest.mark.slow
def test_fit_stops_an_exploding_loss_that_stays_finite():
    """A loss of 1e8 is finite: the old check let it through and stored the trial."""
    import jax
    import jax.numpy as jnp

    from quantlab.nn import models
    from quantlab.training import train

    model = models.make_model("ffdnn", (16, 1), num_classes=4)
    keys = jnp.stack([jax.random.key(0)])
    params = jax.vmap(lambda k: models.init_params(model, k, (8, 8, 1)))(keys)
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.integers(0, 255, (200, 8, 8, 1), dtype=np.uint8))
    y = jnp.asarray(rng.integers(0, 4, 200), jnp.int32)
    config = train.TrainConfig(learning_rate=1e3, schedule="constant", epochs=2, batch_size=50)
    with pytest.raises(DivergenceError, match=r"epoch 1 of exploding: mean training loss \[[0-9.e+]+\] exploded"):
        train.fit(model, params, (x, y), (x, y), config, keys, label="exploding")


@needs_data
@pytest.mark.slow
def test_exploding_learning_rate_is_reported_and_stores_nothing(tmp_path):
    spec = tmp_path / "explode.toml"
    spec.write_text(TINY.format(widths=[8, 16], rate=1e3))
    results = tmp_path / "r"
    proc = quantlab("sweep", str(spec), "--results", str(results), "--no-progress")
    assert proc.returncode == 1, proc.stderr
    assert not any(c in proc.stderr for c in CRASH), proc.stderr
    lines = proc.stderr.splitlines()
    for label in ("ffdnn-w8-d1", "ffdnn-w16-d1"):
        assert any(line.startswith(f"diverged: {label} seeds 0: ") and "exploded" in line for line in lines)
    assert "2 trials diverged" in proc.stderr and "lower learning_rate" in proc.stderr
    assert json_files(results) == []


def test_a_diverged_trial_does_not_stop_the_sweep(tmp_path, fake_spec, monkeypatch, capsys):
    def some_diverge(config, seeds, progress=None):
        if config.size == (2, 1):
            raise DivergenceError("training diverged in epoch 1 of ffdnn 2x1: mean training loss [nan] is not finite")
        metrics = [constant_metrics(config) for _ in seeds]
        if config.size == (4, 1):
            metrics[1]["float"]["val_error"] = 0.9  # seed 1 learned nothing
        return metrics

    monkeypatch.setattr(experiment, "run_trial", some_diverge)
    results = tmp_path / "r"
    assert main(["sweep", str(fake_spec), "--results", str(results), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "diverged: ffdnn-w2-d1 seeds 0,1: training diverged in epoch 1" in err
    assert "diverged: ffdnn-w4-d1 seed 1: float training ended no better than chance" in err
    assert "2 trials diverged" in err and "Traceback" not in err
    stored = {(r["config"]["size"][0], r["seed"]) for r in Store(results).scan()}
    assert stored == {(w, s) for w in (1, 3, 4, 5, 6) for s in (0, 1)} - {(4, 1)}


# -- 3. preflight: an unwritable store -------------------------------------------------------------

def _drop_root_write_power() -> tuple:
    """``setpriv`` that drops the capabilities that let root write anywhere, or skips."""
    prefix = ("setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--")
    if shutil.which("setpriv") is None:
        pytest.skip("setpriv (util-linux) is not installed")
    return prefix


def test_read_only_store_is_refused_before_any_training(tmp_path, wrapper, fake_spec):
    """The store is a read-only directory, and the CLI runs without the capabilities that let root
    ignore that (or as an ordinary user): exit 2 with one line, and no trial was started."""
    results = tmp_path / "ro"
    results.mkdir()
    results.chmod(0o555)
    prefix = () if os.geteuid() != 0 else _drop_root_write_power()
    probe = subprocess.run([*prefix, "touch", str(results / "probe")], capture_output=True)
    if probe.returncode == 0:
        pytest.skip("cannot make a directory read-only for this process")
    log = tmp_path / "calls.log"
    proc = subprocess.run([*prefix, sys.executable, str(wrapper), str(log), "0", "sweep", str(fake_spec),
                           "--results", str(results)], cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(f"error: cannot write to the results directory {results}: Permission denied")
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert logged(log) == []


def test_a_store_under_a_file_is_refused_before_any_training(tmp_path, fake_spec, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(experiment, "run_trial", lambda config, seeds, progress=None: calls.append(config))
    (tmp_path / "file").write_text("x")
    assert main(["sweep", str(fake_spec), "--results", str(tmp_path / "file" / "r")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot write to the results directory") and err.count("\n") == 1
    assert calls == []


# -- 4. invalid specs: one line, exit 2, no traceback, nothing written ----------------------------

INVALID = {
    "batch-over-subset": ("widths = [8]\ndepths = [1]\ntrain_subset = 50\n[float_train]\nepochs = 1\n"
                          "batch_size = 100\n",
                          ["[float_train] batch_size 100", "50 training examples", "valid: 1..50"]),
    "retrain-batch": ("widths = [8]\ndepths = [1]\ntrain_subset = 50\n[float_train]\nbatch_size = 10\n"
                      "[retrain]\nbatch_size = 64\n",
                      ["[retrain] batch_size 64", "valid: 1..50"]),
    "bits-64": ("widths = [8]\ndepths = [1]\nbits = [64]\ntrain_subset = 100\n",
                ["bits has invalid value 64", ">= 2 and <= 8"]),
    "bits-9": ("widths = [8]\ndepths = [1]\nbits = [2, 9]\ntrain_subset = 100\n", ["bits has invalid value 9", "<= 8"]),
    "cnn-too-deep": ('dataset = "fashion_mnist"\nfamily = "cnn"\nfeature_maps = [[2, 2, 2, 2, 2]]\n'
                     'train_subset = 100\n',
                     ["[2, 2, 2, 2, 2] has 5 conv layers", "28x28", "1..4"]),
    "subset-over-split": ("widths = [8]\ndepths = [1]\ntrain_subset = 10000000\n",
                          ["train_subset 10000000", "54000", "valid: 1..54000"]),
}


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_spec_is_one_line_before_anything_runs(tmp_path, name):
    text, fragments = INVALID[name]
    spec = tmp_path / f"{name}.toml"
    head = 'dataset = "fashion_mnist"\nfamily = "ffdnn"\n' * ("family" not in text)
    spec.write_text(head + text + "[float_train]\nepochs = 1\n" * ("[float_train]" not in text))
    results = tmp_path / "r"
    proc = quantlab("sweep", str(spec), "--results", str(results), "--no-progress", timeout=120)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr and proc.stderr.startswith("error: spec ") and proc.stderr.count("\n") == 1
    for fragment in fragments:
        assert fragment in proc.stderr, proc.stderr
    assert not results.exists()


def test_a_spec_that_is_not_text(tmp_path):
    spec = tmp_path / "binary.toml"
    spec.write_bytes(b"widths = [8]\ndepths = [1]\n# \xff\xfe\n")
    proc = quantlab("sweep", str(spec), "--dry-run", timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr == f"error: spec file '{spec}' is not UTF-8 text (TOML must be): byte 0xff at offset 28\n"


def test_a_results_directory_that_is_a_file(tmp_path, fake_spec, capsys):
    (tmp_path / "file").write_text("x")
    assert main(["sweep", str(fake_spec), "--results", str(tmp_path / "file")]) == 2
    assert capsys.readouterr().err == f"error: the results directory {tmp_path / 'file'} is a file; give a " \
        "directory with --results DIR or $QUANTLAB_RESULTS\n"


@pytest.mark.parametrize("how", ["path", "name"])
def test_a_directory_as_spec(tmp_path, how):
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "a.toml").write_text("widths = [8]\ndepths = [1]\n")
    proc = quantlab("sweep", "specs/" if how == "path" else "specs", cwd=tmp_path, timeout=60)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr == "error: spec 'specs" + "/" * (how == "path") + "' is a directory; give a .toml file " \
        "(.toml files in it: a.toml)\n"


# -- 5. the store touches only its own files -------------------------------------------------------

def test_foreign_files_are_left_alone_and_listed_once(tmp_path, fake_spec, monkeypatch, capsys):
    results = tmp_path / "r"
    results.mkdir()
    foreign = {"notes.json": '{"my": "notes"}', "broken.json": "{", "README.md": "mine",
               "x-s0-0123456789abcdef.json.bak": "{}"}
    for name, text in foreign.items():
        (results / name).write_text(text)
    monkeypatch.setattr(experiment, "run_trial", fake_trial)
    assert main(["sweep", str(fake_spec), "--results", str(results), "--no-progress"]) == 0
    assert main(["results", str(fake_spec), "--results", str(results)]) == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(list(Store(results).scan())) == 12
    err = capsys.readouterr().err
    assert "corrupt" not in err and err.count("not named like records: broken.json, notes.json") == 1
    for name, text in foreign.items():
        assert (results / name).read_text() == text
    assert not list(results.glob("*.corrupt*"))


def test_record_names_are_recognised():
    assert storemod.RECORD_NAME.fullmatch("ffdnn-w16-d1-s0-0123456789abcdef.json")
    assert storemod.RECORD_NAME.fullmatch("cnn-4-4-8-s12-0123456789abcdef.json")
    for name in ("notes.json", "ffdnn-w16-d1-s0-0123456789ABCDEF.json", ".ffdnn-s0-0123456789abcdef.json",
                 "ffdnn-w16-d1-s0-0123456789abcdef.json.corrupt", "results-s0-abc.json"):
        assert not storemod.RECORD_NAME.fullmatch(name), name


# -- 6. hints repeat the user's command ------------------------------------------------------------

def test_hints_name_the_same_store_and_options(tmp_path, fake_spec, monkeypatch, capsys):
    monkeypatch.setattr(experiment, "run_trial", fake_trial)
    results = tmp_path / "stores" / "mine"
    assert main(["sweep", str(fake_spec), "--only", "w1-", "--results", str(results), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert f"see them with: python -m quantlab results {fake_spec} --only w1- --results {results}\n" in err
    assert main(["results", str(fake_spec), "--results", str(results)]) == 1  # records missing
    err = capsys.readouterr().err
    assert (f"10 of 12 records missing in {results}; run: python -m quantlab sweep {fake_spec} "
            f"--results {results}") in err
    assert main(["results", str(fake_spec), "--only", "w2-,w3-", "--results", str(tmp_path / "a b")]) == 2  # no store
    assert f"run: python -m quantlab sweep {fake_spec} --only w2-,w3- --results '{tmp_path / 'a b'}'" in \
        capsys.readouterr().err


# -- 7. concurrent sweeps split the work -----------------------------------------------------------

@pytest.mark.slow
def test_two_sweeps_on_one_store_split_the_work(tmp_path, wrapper, fake_spec):
    results, log = tmp_path / "shared", tmp_path / "calls.log"
    command = [sys.executable, str(wrapper), str(log), "1.0", "sweep", str(fake_spec), "--results", str(results)]
    procs = [subprocess.Popen(command, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    errs = [p.communicate(timeout=180)[1] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], errs
    calls = logged(log)
    computed = [(c["size"][0], s) for c in calls for s in c["seeds"]]
    assert sorted(computed) == [(w, s) for w in range(1, 7) for s in (0, 1)]  # each record trained once
    assert {c["pid"] for c in calls} == {p.pid for p in procs}  # both worked
    written = []
    for p, err in zip(procs, errs):
        ours = sum(len(c["seeds"]) for c in calls if c["pid"] == p.pid)
        summary = next(line for line in err.splitlines() if line.startswith("sweep 'fake': "))
        assert f"{ours} record{'' if ours == 1 else 's'} written" in summary, summary
        written.append(ours)
    assert sum(written) == 12 and len(json_files(results)) == 12
    assert len(list(Store(results).scan())) == 12
    assert not list(results.glob(".*.lock"))  # released and removed


def test_a_lock_dies_with_its_holder(tmp_path):
    path = tmp_path / ".t.lock"
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from quantlab.experiments.lock import Lock; l = Lock(sys.argv[1]); l.acquire(); "
        "print('held', flush=True); time.sleep(60)"), str(path)],
        cwd=ROOT, env=ENV, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        mine = lock.Lock(path)
        assert not mine.acquire(blocking=False)
        assert mine.holder() == f"pid {holder.pid} on {socket.gethostname()}"
    finally:
        holder.kill()
        holder.wait()
    assert mine.acquire(blocking=False)
    mine.release()
    assert not path.exists()


def test_a_lock_survives_a_holder_that_removes_the_file(tmp_path):
    """The holder removes the file on release; a waiter that got the removed file tries again,
    so two processes never hold the same path."""
    path = tmp_path / ".t.lock"
    first, second, third = lock.Lock(path), lock.Lock(path), lock.Lock(path)
    assert first.acquire(blocking=False) and not second.acquire(blocking=False)
    first.release()
    assert second.acquire(blocking=False) and not third.acquire(blocking=False)
    with pytest.raises(RuntimeError, match="already held"):
        second.acquire()
    second.release()
    with third:
        assert third.held and path.exists()
    assert not third.held and not path.exists()


# -- 8. the smaller items --------------------------------------------------------------------------

def test_records_are_readable_by_all(tmp_path):
    config = {"family": "ffdnn", "size": [8, 1], "bits": [2]}
    old = os.umask(0o077)
    try:
        path = Store(tmp_path).put(config, 0, constant_metrics(load_spec("smoke").trials()[0]))
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644


def test_results_dir_expands_the_home_directory(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv(storemod.ENV_RESULTS, "~/qr")
    assert storemod.default_results_dir(load_spec("smoke")) == tmp_path / "qr"
    assert Store("~/other").root == tmp_path / "other"


def test_data_cache_warnings_are_one_line(tmp_path, fake_spec, monkeypatch, capsys):
    bad = tmp_path / "cache.npz"
    bad.write_bytes(b"garbage")

    def reads_a_corrupt_cache(config, seeds, progress=None):
        data._read_cache(bad, "key", "fashion_mnist")  # warns as data.load does
        return [constant_metrics(config) for _ in seeds]

    monkeypatch.setattr(experiment, "run_trial", reads_a_corrupt_cache)
    assert main(["sweep", str(fake_spec), "--only", "w1-", "--results", str(tmp_path / "r"), "--no-progress"]) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if "cache file" in line]
    assert len(lines) == 1 and lines[0].startswith(f"warning: quantlab.data: cache file {bad} is corrupt"), lines


def test_csv_bits_column_is_integer(tmp_path, fake_spec, monkeypatch, capsys):
    monkeypatch.setattr(experiment, "run_trial", fake_trial)
    results = str(tmp_path / "r")
    assert main(["sweep", str(fake_spec), "--results", results, "--only", "w1-", "--no-progress"]) == 0
    capsys.readouterr()
    assert main(["results", str(fake_spec), "--results", results, "--csv", "--partial"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["method"], r["bits"]) for r in rows] == [("float", "32"), ("direct", "2"), ("retrain", "2")]


def test_a_lost_cluster_mid_sweep_keeps_what_finished_and_names_the_rerun(tmp_path, monkeypatch, capsys):
    """When the cluster goes away with trials in flight (the driver's node or the head died: the executor
    raises ClusterLostError), the sweep ends with one summary: what is stored, that the trials in flight
    were not, and the command that finishes it; no traceback, exit 1."""
    import quantlab.__main__ as cli
    from quantlab.experiments.executors import ClusterLostError, LocalExecutor

    class LosesItsCluster(LocalExecutor):
        def __init__(self):
            super().__init__()
            self.waits = 0

        def wait(self, timeout=None):
            self.waits += 1
            if self.waits == 3:
                raise ClusterLostError("lost the Ray cluster (RaySystemError: System error: the raylet died)")
            return super().wait(timeout)

    spec_file = tmp_path / "fake.toml"
    spec_file.write_text(FAKE_SPEC)
    results = tmp_path / "results"
    monkeypatch.setattr(experiment, "run_trial",
                        lambda config, seeds, progress=None: [constant_metrics(config) for _ in seeds])
    monkeypatch.setattr(cli, "_executor", lambda args: LosesItsCluster())
    code = main(["sweep", str(spec_file), "--results", str(results), "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "error: lost the Ray cluster (RaySystemError" in err and "Traceback" not in err
    assert f"4 of 12 records of this sweep are in {results} (kept)" in err
    assert f"To finish, rerun: python -m quantlab sweep {spec_file} --results {results}" in err
    assert len(list(results.glob("*.json"))) == 4 and not list(results.glob(".*.lock"))
