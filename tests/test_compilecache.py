"""quantlab.training.compilecache: a trial's numbers are bit-identical with JAX's persistent compilation
cache cold, warm and off (each run in its own process, as sweeps and book builds are), and a warm cache
is hit however its directory is reached."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from quantlab import data

ROOT = Path(__file__).resolve().parent.parent
TRIAL = """
import json, sys
from quantlab.training.experiment import TrialConfig, run_trial
from quantlab.training.train import TrainConfig
config = TrialConfig(dataset="fashion_mnist", family="ffdnn", size=(16, 1), bits=(2,), train_subset=600,
                     float_train=TrainConfig(epochs=1), retrain=TrainConfig(learning_rate=2e-4, epochs=1))
print(json.dumps(run_trial(config, [0, 1], cache=False), sort_keys=True))
"""

pytestmark = pytest.mark.slow


def run(cache: Path, **env) -> list[dict]:
    out = subprocess.run([sys.executable, "-c", TRIAL], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT), "QUANTLAB_CACHE": str(cache), **env})
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.splitlines()[-1])


def test_records_are_identical_with_the_cache_cold_warm_and_off(tmp_path):
    cache = tmp_path / "cache"
    (cache / "data").mkdir(parents=True)
    for f in (data.cache_dir() / "data").glob("fashion_mnist-*.npz"):  # the data, prepared by `make`
        shutil.copy(f, cache / "data" / f.name)
    cold = run(cache)
    entries = list((cache / "jax").iterdir())
    assert entries, "no compiled program was cached"
    warm = run(cache)
    assert sorted(p.name for p in (cache / "jax").iterdir()) == sorted(p.name for p in entries), (
        "the warm run compiled programs the cold run had cached")
    assert cold == warm
    linked = tmp_path / "linked"  # another $QUANTLAB_CACHE whose jax/ is a symlink to the same cache
    shutil.copytree(cache / "data", linked / "data")
    (linked / "jax").symlink_to(cache / "jax")
    assert run(linked) == cold
    assert sorted(p.name for p in (cache / "jax").iterdir()) == sorted(p.name for p in entries), (
        "a cache reached through a symlink missed the programs cached through its real path")
    shutil.copytree(cache / "data", tmp_path / "off" / "data")
    off = run(tmp_path / "off", QUANTLAB_COMPILE_CACHE="0")
    assert not (tmp_path / "off" / "jax").exists()
    assert off == cold
