"""quantlab.training.warmup: the later stages' epoch programs compile in the background while the float
network trains, leaving the trial's numbers bit-identical, and the stages then compile nothing of their own
(each run in its own process, so that no program is compiled already)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# One trial per kind of epoch program: uniform steps (traced bit widths, fixed-point signals, the adaptive
# policy), a ternary rule's three levels per layer, and a learned rule whose levels the optimizer trains.
TRIALS = """
import json, sys
from quantlab.training import compiletime
from quantlab.training.experiment import TrialConfig, run_trial
from quantlab.training.train import TrainConfig
budgets = dict(float_train=TrainConfig(epochs=1), retrain=TrainConfig(learning_rate=2e-4, epochs=1))
configs = [
    TrialConfig(dataset="fashion_mnist", family="ffdnn", size=(16, 2), bits=(2, 3), train_subset=600,
                signal_bits=3, signal_calibration=100, step_policy="adaptive", **budgets),
    TrialConfig(dataset="fashion_mnist", family="cnn", size=(2, 2, 4), bits=(2,), train_subset=300,
                quantizer="twn", **budgets),
    TrialConfig(dataset="fashion_mnist", family="ffdnn", size=(8, 1), bits=(2,), train_subset=600,
                quantizer="ttq", **budgets),
]
out = []
for config in configs:
    programs = compiletime.programs()
    metrics = run_trial(config, [0, 1], cache=False)
    out.append({"metrics": metrics, "programs": compiletime.programs() - programs})
print(json.dumps({"trials": out, "background": compiletime.background_seconds()}, sort_keys=True))
"""

pytestmark = pytest.mark.slow


def run(**env) -> dict:
    out = subprocess.run([sys.executable, "-c", TRIALS], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT), **env})
    assert out.returncode == 0, out.stderr[-3000:]
    assert "compiling ahead failed" not in out.stderr, out.stderr[-3000:]
    return json.loads(out.stdout.splitlines()[-1])


def test_compiling_ahead_changes_no_number_and_leaves_the_stages_nothing_to_compile():
    ahead, inline = run(), run(QUANTLAB_COMPILE_AHEAD="0")
    assert inline["background"] == 0 < ahead["background"]
    for with_, without in zip(ahead["trials"], inline["trials"]):
        assert with_["metrics"] == without["metrics"]
        # the float control's program and one per retraining program (the traced bit widths share one)
        assert with_["programs"] <= without["programs"] - 2, (with_["programs"], without["programs"])
