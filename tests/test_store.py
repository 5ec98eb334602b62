"""The result store: content-hash keys, atomic writes, corruption detection, provenance.

The store is generic over dataclass configs, so these tests use small stand-in dataclasses and
never train anything.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import quantlab
from quantlab.experiments import environment
from quantlab.experiments import store as storemod
from quantlab.experiments.store import CorruptRecordWarning, Store, StoreError, check_record, record_key, trial_label

ROOT = Path(__file__).resolve().parent.parent


@dataclasses.dataclass(frozen=True)
class Budget:
    optimizer: str = "adam"
    learning_rate: float = 1e-3
    epochs: int = 2


@dataclasses.dataclass(frozen=True)
class Config:
    dataset: str = "fashion_mnist"
    family: str = "ffdnn"
    size: tuple = (16, 1)
    bits: tuple = (2,)
    float_train: Budget = Budget()
    retrain: Budget = Budget(epochs=1)
    train_subset: int | None = 2000


def metrics(error: float = 0.25) -> dict:
    return {
        "params": 12730, "weights": 12704,
        "float": {"val_error": error, "test_error": error, "best_epoch": 2, "history": []},
        "direct": {"2": {"val_error": 0.5, "test_error": 0.5, "steps": [0.1, 0.2], "zero_fraction": 0.4}},
        "retrain": {"2": {"val_error": 0.3, "test_error": 0.3, "best_epoch": 1, "steps": [0.1, 0.2],
                          "zero_fraction": 0.4, "history": []}},
    }


# -- keys ------------------------------------------------------------------------------------------

def test_key_is_a_stable_content_hash():
    key = record_key(Config(), 0)
    assert len(key) == 16 and all(c in "0123456789abcdef" for c in key)
    assert record_key(Config(), 0) == key == record_key(Config(size=[16, 1]), 0)  # tuple == list
    assert record_key(dataclasses.asdict(Config()), 0) == key  # a plain dict hashes the same


@pytest.mark.parametrize("change", [
    {"size": (32, 1)}, {"bits": (2, 3)}, {"dataset": "mnist"}, {"train_subset": None},
    {"float_train": Budget(epochs=3)}, {"retrain": Budget(learning_rate=2e-3, epochs=1)},
])
def test_key_changes_with_the_config(change):
    assert record_key(dataclasses.replace(Config(), **change), 0) != record_key(Config(), 0)


def test_key_changes_with_the_seed_and_numerics_version(monkeypatch, tmp_path):
    key = record_key(Config(), 0)
    assert record_key(Config(), 1) != key
    store = Store(tmp_path)
    store.put(Config(), 0, metrics())
    assert store.get(Config(), 0) is not None
    monkeypatch.setattr(quantlab, "NUMERICS_VERSION", quantlab.NUMERICS_VERSION + 1)
    assert record_key(Config(), 0) != key
    assert store.get(Config(), 0) is None  # a record from older numerics is never served
    assert store.missing_seeds(Config(), [0, 1]) == [0, 1]


def test_labels_and_file_names_are_readable(tmp_path):
    assert trial_label(Config(size=(256, 3))) == "ffdnn-w256-d3"
    assert trial_label(Config(family="cnn", size=(4, 4, 8))) == "cnn-4-4-8"
    path = Store(tmp_path).path(Config(), 7)
    assert path.name == f"ffdnn-w16-d1-s7-{record_key(Config(), 7)}.json"


# -- records and provenance ------------------------------------------------------------------------

def test_put_then_get_round_trips_with_provenance(tmp_path):
    store = Store(tmp_path / "new" / "dir")  # created on the first write
    assert store.get(Config(), 0) is None and list(store.scan()) == []
    prov = environment.collect(12.5, [0, 1])
    path = store.put(Config(), 0, metrics(), prov)
    assert path == store.path(Config(), 0) and path.is_file()
    record = store.get(Config(), 0)
    assert record["metrics"] == metrics()
    assert record["config"] == json.loads(json.dumps(dataclasses.asdict(Config())))
    assert record["seed"] == 0 and record["numerics_version"] == quantlab.NUMERICS_VERSION
    assert record["key"] == record_key(Config(), 0) and record["label"] == "ffdnn-w16-d1"
    p = record["provenance"]
    assert p["quantlab"] == quantlab.__version__ and p["wall_seconds"] == 12.5 and p["trial_seeds"] == [0, 1]
    assert set(p["packages"]) == {"jax", "jaxlib", "flax", "optax", "numpy"} and p["packages"]["jax"]
    for field in ("git", "python", "platform", "device", "hostname", "cpu_count", "cpu_model", "cpu_isa", "date"):
        assert field in p
    if Path("/proc/cpuinfo").exists():  # Linux: generation and vector extensions, e.g. "family 25 model 1: avx2 fma"
        assert p["cpu_isa"].startswith("family ") and ": " in p["cpu_isa"]
    assert p["date"].endswith("+00:00")
    assert check_record(record) is None
    assert [r["key"] for r in store.scan()] == [record["key"]]
    assert not list(path.parent.glob("*.tmp")) and not list(path.parent.glob(".*.tmp"))


def test_provenance_git_and_device():
    git = environment.git_state(ROOT)
    if (ROOT / ".git").exists():
        assert set(git) == {"commit", "dirty"}
    assert environment.git_state(Path("/")) is None
    import jax  # noqa: F401 - the device is recorded once JAX is in use

    device = environment.device()
    assert device["platform"] and device["kind"] and device["count"] >= 1


def test_put_rejects_bad_metrics_and_unwritable_dirs(tmp_path):
    store = Store(tmp_path)
    with pytest.raises(TypeError):
        store.put(Config(), 0, {})
    (tmp_path / "file").write_text("x")
    with pytest.raises(StoreError, match="cannot write to the results directory"):
        Store(tmp_path / "file" / "sub").put(Config(), 0, metrics())


# -- atomic writes ---------------------------------------------------------------------------------

def test_failed_replace_leaves_no_record_and_no_temp_file(tmp_path, monkeypatch):
    store = Store(tmp_path)

    def boom(src, dst):
        raise OSError("simulated crash")

    monkeypatch.setattr(storemod.os, "replace", boom)
    with pytest.raises(OSError, match="simulated crash"):
        store.put(Config(), 0, metrics())
    monkeypatch.undo()
    assert list(tmp_path.iterdir()) == []
    assert store.get(Config(), 0) is None


CRASH = """
import os, sys
sys.path.insert(0, {root!r})
from quantlab.experiments import store as storemod
from quantlab.experiments.store import Store
import dataclasses
from test_store import Config, metrics
store = Store({dir!r})
if sys.argv[1] == "first":
    store.put(Config(), 0, metrics(0.1))
# die hard (no cleanup, no flush of anything else) between the temp write and the rename
storemod.os.replace = lambda src, dst: os._exit(9)
store.put(Config(), 0, metrics(0.9))
"""


@pytest.mark.parametrize("existing", [False, True])
def test_crash_between_temp_write_and_rename(tmp_path, existing):
    """A process killed after writing the temp file but before the rename leaves the previous state
    (no record, or the old record) plus an ignored temp file; the next write succeeds."""
    results = tmp_path / "results"
    script = tmp_path / "crash.py"
    script.write_text(CRASH.format(root=str(ROOT), dir=str(results)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent), str(ROOT)])}
    proc = subprocess.run([sys.executable, str(script), "first" if existing else "none"], env=env,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 9, proc.stderr
    temps = list(results.glob(".*.tmp"))
    assert len(temps) == 1 and json.loads(temps[0].read_text())["metrics"]["float"]["test_error"] == 0.9
    store = Store(results)
    record = store.get(Config(), 0)
    if existing:
        assert record["metrics"]["float"]["test_error"] == 0.1  # the old record, intact
    else:
        assert record is None
    assert [r["seed"] for r in store.scan()] == ([0] if existing else [])
    store.put(Config(), 0, metrics(0.2))
    assert store.get(Config(), 0)["metrics"]["float"]["test_error"] == 0.2


# -- corruption ------------------------------------------------------------------------------------

def _edit_json(fn):
    def edit(path: Path):
        record = json.loads(path.read_text())
        fn(record)
        path.write_text(json.dumps(record))
    return edit


def _resign(record):
    record["sha256"] = storemod._content_hash(record)


CORRUPTIONS = {
    "garbage": lambda p: p.write_bytes(b"\x00\xff\xfe garbage \x80"),
    "empty": lambda p: p.write_bytes(b""),
    "truncated": lambda p: p.write_bytes(p.read_bytes()[: len(p.read_bytes()) // 2]),
    "not-an-object": lambda p: p.write_text("[1, 2, 3]"),
    "edited-key": _edit_json(lambda r: r.update(key="0123456789abcdef")),
    "edited-key-resigned": _edit_json(lambda r: (r.update(key="0123456789abcdef"), _resign(r))),
    "edited-metric": _edit_json(lambda r: r["metrics"]["float"].update(test_error=0.01)),
    "edited-config-resigned": _edit_json(lambda r: (r["config"].update(train_subset=10), _resign(r))),
    "missing-field": _edit_json(lambda r: (r.pop("provenance"), _resign(r))),
    "wrong-type": _edit_json(lambda r: (r.update(seed="0"), _resign(r))),
}


@pytest.mark.parametrize("kind", sorted(CORRUPTIONS))
def test_corrupt_record_is_reported_by_name_moved_aside_and_recomputable(tmp_path, kind):
    store = Store(tmp_path)
    path = store.put(Config(), 0, metrics())
    store.put(Config(), 1, metrics())
    CORRUPTIONS[kind](path)
    with pytest.warns(CorruptRecordWarning, match=path.name.replace(".", r"\.")) as caught:
        assert store.get(Config(), 0) is None
    assert len(caught) == 1
    assert not path.exists() and (tmp_path / (path.name + ".corrupt")).exists()
    assert store.get(Config(), 1) is not None  # the neighbour is untouched
    assert store.missing_seeds(Config(), [0, 1]) == [0]
    store.put(Config(), 0, metrics(0.3))  # recomputed
    assert store.get(Config(), 0)["metrics"]["float"]["test_error"] == 0.3


def test_repeated_corruption_keeps_every_corpse(tmp_path):
    store = Store(tmp_path)
    for _ in range(3):
        path = store.put(Config(), 0, metrics())
        path.write_text("{")
        with pytest.warns(CorruptRecordWarning):
            assert store.get(Config(), 0) is None
    assert sorted(p.name.split(".json.")[1] for p in tmp_path.glob("*.corrupt*")) == ["corrupt", "corrupt1", "corrupt2"]


def test_a_valid_record_under_another_name_is_not_trusted(tmp_path):
    store = Store(tmp_path)
    other = store.put(Config(size=(32, 1)), 0, metrics())
    target = store.path(Config(), 0)
    other.rename(target)
    with pytest.warns(CorruptRecordWarning, match="does not match its file name"):
        assert store.get(Config(), 0) is None


def test_scan_reports_corrupt_records(tmp_path):
    store = Store(tmp_path)
    store.put(Config(), 0, metrics())
    bad = store.put(Config(), 1, metrics())
    bad.write_text("not json")
    (tmp_path / ".ffdnn-w16-d1-s2-x.json.abc.tmp").write_text("{half")  # leftovers are ignored
    with pytest.warns(CorruptRecordWarning, match=bad.name):
        assert [r["seed"] for r in store.scan()] == [0]


# -- where results live ----------------------------------------------------------------------------

def test_default_results_dir(monkeypatch, tmp_path):
    from quantlab.experiments.spec import load_spec

    monkeypatch.delenv(storemod.ENV_RESULTS, raising=False)
    assert storemod.default_results_dir(load_spec("smoke")) == ROOT / "results"
    path = tmp_path / "mine.toml"
    path.write_text('dataset = "fashion_mnist"\nfamily = "ffdnn"\nwidths = [8]\ndepths = [1]\n')
    assert storemod.default_results_dir(load_spec(path)) == tmp_path / "results"
    monkeypatch.setenv(storemod.ENV_RESULTS, str(tmp_path / "env"))
    assert storemod.default_results_dir(load_spec("smoke")) == tmp_path / "env"
    assert storemod.default_results_dir(load_spec(path)) == tmp_path / "env"


def test_store_module_needs_only_the_standard_library():
    code = textwrap.dedent("""
        import sys
        import quantlab.experiments.store, quantlab.experiments.spec
        heavy = [m for m in ("jax", "flax", "optax", "numpy", "tensorflow") if m in sys.modules]
        assert not heavy, heavy
    """)
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT,
                   env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
