"""Nothing trains that this machine cannot hold or finish (issue 25, items 2-5): absurd sizes and
budgets, full disks, a bad cache location and a chapter that finds records missing end in one line
with exit code 2 (or :class:`MissingRecordsError`), before any training. No test trains: where a
sweep would start, ``run_trial`` is a fake that records the call."""

from __future__ import annotations

import errno

import pytest

from quantlab import data
from quantlab.__main__ import main
from quantlab.experiments import preflight, sweep
from quantlab.experiments.spec import load_spec
from quantlab.experiments.store import Store, StoreError
from fakes import metrics, stage

HEAD = 'dataset = "fashion_mnist"\nfamily = "ffdnn"\nbits = [2]\nseeds = [0]\n'


def spec_file(tmp_path, body: str, name: str = "absurd"):
    path = tmp_path / f"{name}.toml"
    path.write_text(HEAD + body)
    return path


def run_cli(capsys, *argv) -> tuple[int, str]:
    code = main(["sweep", *map(str, argv), "--no-progress"])
    return code, capsys.readouterr().err


@pytest.fixture()
def no_training(monkeypatch):
    """``run_trial`` replaced by a fake that records its calls (and returns synthetic metrics)."""
    import quantlab.training.experiment

    calls = []

    def fake(config, seeds, progress=None):
        calls.append((config.size, list(seeds)))
        return [metrics(1, 1, stage(0.1), {b: stage(0.5) for b in config.bits}, {b: stage(0.2) for b in config.bits})
                for _ in seeds]

    monkeypatch.setattr(quantlab.training.experiment, "run_trial", fake)
    return calls


@pytest.mark.parametrize("body,fragments", [
    ("widths = [10000000]\ndepths = [3]\n", ["ffdnn-w10000000-d3 needs about", "PiB of memory", "smaller sizes"]),
    ("widths = [16]\ndepths = [100000]\n", ["estimated at", "more than the 24 h 00 min limit", "--only PATTERN"]),
    ("widths = [16]\ndepths = [1]\n[float_train]\nepochs = 100000000\n", ["estimated at", "lower the budgets"]),
], ids=["width-1e7", "depth-1e5", "epochs-1e8"])
def test_absurd_sizes_and_budgets_are_refused_before_training(tmp_path, capsys, no_training, body, fragments):
    path = spec_file(tmp_path, body)
    code, err = run_cli(capsys, path, "--results", tmp_path / "r")
    assert code == 2 and no_training == [], err
    assert err.startswith("error: spec 'absurd': ") and "Traceback" not in err and "--force" in err
    for fragment in fragments:
        assert fragment in err, err
    assert not list((tmp_path / "r").glob("*.json"))
    code, out = main(["sweep", str(path), "--dry-run", "--results", str(tmp_path / "r")]), capsys.readouterr().out
    assert code == 0 and "the sweep would be refused" in out and fragments[0] in out


def test_force_runs_what_the_preflight_refuses(tmp_path, capsys, no_training):
    path = spec_file(tmp_path, "widths = [16]\ndepths = [1]\n[float_train]\nepochs = 100000000\n")
    code, err = run_cli(capsys, path, "--results", tmp_path / "r", "--force")
    assert code == 0 and no_training == [((16, 1), [0])], err


def test_the_memory_estimate_grows_with_size_and_seeds():
    small = load_spec("smoke").trials()[0]
    assert 0 < preflight.trial_memory_bytes(small, 1) < preflight.trial_memory_bytes(small, 3) < 2**30
    big = load_spec("ffdnn-width").trials()[-1]  # 784-1024x3-10: the reference sweep's largest, which ran
    assert preflight.trial_memory_bytes(big, 5) < preflight.device_memory_bytes()[0]


def test_a_full_disk_is_refused_before_training_with_the_path_and_the_space(tmp_path, capsys, no_training, monkeypatch):
    results = tmp_path / "r"
    monkeypatch.setattr(preflight, "_free_bytes", lambda path: 12 * 1024 if path == results else 10**12)
    path = spec_file(tmp_path, "widths = [16, 32]\ndepths = [1]\n")
    code, err = run_cli(capsys, path, "--results", results)
    assert code == 2 and no_training == [], err
    assert f"{results} has 12.0 KiB free, and the sweep needs about 32.0 KiB there" in err and "--results DIR" in err


def test_a_disk_that_fills_during_the_sweep_ends_in_one_line(tmp_path, capsys, no_training, monkeypatch):
    import quantlab.experiments.store as storemod

    def full(path, text):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(storemod, "write_atomic", full)
    code, err = run_cli(capsys, spec_file(tmp_path, "widths = [16]\ndepths = [1]\n"), "--results", tmp_path / "r")
    assert code == 2 and "Traceback" not in err, err
    assert err.startswith("error: no space left on the device of") and "free some space and rerun" in err


def test_a_full_disk_fails_the_write_check_even_when_an_empty_file_fits(tmp_path, monkeypatch):
    import quantlab.fileio as fileio

    real = fileio.tempfile.NamedTemporaryFile

    class Full:  # creating the file works, writing to it does not: a disk with 0 bytes free
        def __init__(self, *a, **k):
            self.f = real(*a, **k)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, b):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(fileio.tempfile, "NamedTemporaryFile", Full)
    with pytest.raises(StoreError, match="No space left on device"):
        Store(tmp_path / "r").check_writable()
    with pytest.raises(data.CacheError, match="cannot be written .No space left on device.; point QUANTLAB_CACHE"):
        monkeypatch.setenv(data.ENV_CACHE, str(tmp_path / "cache"))
        data.check_cache()


@pytest.mark.parametrize("command", [["data"], ["sweep", "smoke", "--dry-run"]])
def test_a_cache_that_is_a_file_is_one_line(tmp_path, capsys, monkeypatch, command):
    (tmp_path / "file").write_text("not a directory")
    monkeypatch.setenv(data.ENV_CACHE, str(tmp_path / "file"))
    assert main(command) == 2
    err = capsys.readouterr().err
    assert err == f"error: the cache {tmp_path / 'file'} is a file, not a directory; point QUANTLAB_CACHE at a " \
                  "writable directory (default ~/.cache/quantlab)\n"


def test_a_read_only_cache_is_one_line(tmp_path, capsys, monkeypatch):
    import quantlab.fileio as fileio

    def read_only(*args, **kwargs):  # creating a file on a read-only mount
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(fileio.tempfile, "NamedTemporaryFile", read_only)
    monkeypatch.setenv(data.ENV_CACHE, str(tmp_path / "cache"))
    assert main(["data"]) == 2
    assert capsys.readouterr().err.startswith(f"error: the cache {tmp_path / 'cache'} cannot be written (Read-only")


def test_a_chapter_never_trains_unasked(tmp_path, monkeypatch, no_training):
    monkeypatch.delenv(sweep.ENV_TRAIN, raising=False)
    spec, store = load_spec("smoke"), Store(tmp_path / "empty")
    with pytest.raises(sweep.MissingRecordsError) as e:
        sweep.ensure(spec, store)
    message = str(e.value)
    assert "2 records missing" in message and "ffdnn-w16-d1, ffdnn-w32-d1" in message and "of training" in message
    assert f"python -m quantlab sweep smoke --results {store.root}" in message and "QUANTLAB_TRAIN=1" in message
    assert no_training == [] and not store.root.exists()
    monkeypatch.setenv(sweep.ENV_TRAIN, "1")
    assert sweep.ensure(spec, store, progress=False) == 2 and len(no_training) == 2
