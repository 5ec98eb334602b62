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
