"""Synthetic inputs shared by the tests (unit tests only; never results)."""

TINY_SPEC_TOML = """
description = "fake trials"
family = "ffdnn"
widths = [1, 2, 3, 4, 5, 6]
depths = [1]
bits = [2]
seeds = [0, 1]
train_subset = 100
[float_train]
epochs = 1
[retrain]
epochs = 1
"""
"""A sweep spec of six tiny FFDNN trials x 2 seeds (TOML text): for tests that fake or time trials."""

FAKE_METRICS_SOURCE = """
def fake_metrics(config, seeds):
    stage = {"val_error": 0.5, "test_error": 0.5, "steps": [0.1], "zero_fraction": 0.3}
    return [{"params": 1, "weights": 1, "float": {"val_error": 0.1, "test_error": 0.1},
             "direct": {str(b): stage for b in config.bits}, "retrain": {str(b): stage for b in config.bits}}
            for _ in seeds]
"""
"""Python source of ``fake_metrics(config, seeds)``: valid metrics without training, for the wrapper
scripts that stand in for ``run_trial`` in a subprocess."""
