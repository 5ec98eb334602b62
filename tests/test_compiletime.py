"""Compile time is measured from JAX's own events (quantlab.training.compiletime) and recorded in a
trial's provenance beside its wall time."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from quantlab.experiments import environment
from quantlab.training import compiletime


def test_a_new_program_counts_and_a_cached_call_does_not():
    f = jax.jit(lambda x: jnp.tanh(x) * 3.0 + 1.0)
    x = jax.device_put(np.ones((7, 11), np.float32))
    seconds, programs = compiletime.seconds(), compiletime.programs()
    f(x).block_until_ready()
    assert compiletime.programs() == programs + 1 and compiletime.seconds() > seconds
    y = x + 1
    seconds, programs = compiletime.seconds(), compiletime.programs()
    f(y).block_until_ready()  # same shapes: the executable is reused
    assert (compiletime.seconds(), compiletime.programs()) == (seconds, programs)


def test_provenance_carries_the_split_only_when_measured():
    assert "compile_seconds" not in environment.collect(2.0, [0])
    prov = environment.collect(2.0, [0, 1], compile_seconds=0.51234, compiled_programs=12)
    assert prov["wall_seconds"] == 2.0 and prov["compile_seconds"] == 0.512 and prov["compiled_programs"] == 12
