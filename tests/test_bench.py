"""The benchmarks run: their quantlab side (bench/run.py's QuantlabRun, one jitted epoch) is built and called
on a tiny network, so a change to the training functions' signatures cannot leave `make bench` broken (it
was, unnoticed, after the epoch gained its signals argument). No timing is asserted."""

import sys
from pathlib import Path

import jax
import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench import run as bench_run  # noqa: E402

from quantlab.nn import models  # noqa: E402

pytestmark = pytest.mark.slow  # compiles a CNN epoch: make test, not make check


@pytest.mark.parametrize("family, size, quantized", [("ffdnn", (8, 2), False), ("ffdnn", (8, 2), True),
                                                     ("cnn", (2, 2, 4), True)])
def test_quantlab_run_trains_an_epoch(family, size, quantized):
    run = bench_run.QuantlabRun(family, size, seeds=2, quantized=quantized, n=200, impl="fused")  # runs one epoch
    assert run() > 0 and run.compile_s > 0
    keys = jax.random.split(jax.random.key(0), 2)  # the run's initialisation
    init = jax.vmap(lambda k: models.init_params(run.model, k, bench_run.SHAPE))(keys)
    layer = next(iter(init))
    trained, start = np.asarray(run.params[layer]["kernel"]), np.asarray(init[layer]["kernel"])
    assert trained.shape == start.shape and np.all(np.isfinite(trained)) and not np.array_equal(trained, start)
