"""Compile time is measured from JAX's own events (quantlab.training.compiletime), the phases of a trial
net of it (quantlab.training.phases), and both are recorded in a trial's provenance beside its wall time."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from quantlab.experiments import environment
import threading
import time

import pytest

from quantlab.training import compiletime, phases


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
    assert "compile_ahead_seconds" not in prov
    assert environment.collect(2.0, [0], compile_ahead_seconds=0.31234)["compile_ahead_seconds"] == 0.312


def test_a_phase_counts_its_work_but_not_the_compilation_inside_it():
    f = jax.jit(lambda x: jax.lax.fori_loop(0, 40, lambda i, y: jnp.tanh(y @ x), x))
    x = jax.device_put(np.full((256, 256), 0.01, np.float32))
    before, compiling, start = phases.seconds(), compiletime.seconds(), time.perf_counter()
    with phases.timed("scans"):
        phases.ready(f(x))  # compiled here, then run
    wall, compiled = time.perf_counter() - start, compiletime.seconds() - compiling
    spent = phases.since(before)
    assert compiled > 0 and 0 < spent["scans"] <= wall - compiled + 1e-3
    assert spent["upload"] == spent["evaluation"] == spent["steps"] == 0
    before = phases.seconds()
    with phases.timed("scans"):
        phases.ready(f(x))  # cached: all of it is work
    assert phases.since(before)["scans"] > 0


def test_an_unknown_phase_names_the_valid_ones():
    with pytest.raises(ValueError, match="upload"):
        with phases.timed("training"):
            pass


def test_provenance_rounds_the_phase_split():
    prov = environment.collect(2.0, [0], compile_seconds=0.5, compiled_programs=3,
                               phase_seconds={"scans": 1.23456, "upload": 0.0})
    assert prov["phase_seconds"] == {"scans": 1.235, "upload": 0.0}


def test_background_compilation_is_counted_apart():
    f = jax.jit(lambda x: jnp.cos(x) * 5.0 - 2.0)
    x = jax.device_put(np.ones((5, 13), np.float32))
    seconds, programs, background = compiletime.seconds(), compiletime.programs(), compiletime.background_seconds()

    def compile_ahead():
        with compiletime.background():
            f.lower(x).compile()

    thread = threading.Thread(target=compile_ahead)
    thread.start()
    thread.join()
    assert compiletime.background_seconds() > background
    assert (compiletime.seconds(), compiletime.programs()) == (seconds, programs)
    f(x).block_until_ready()  # compiled ahead: the call compiles nothing
    assert (compiletime.seconds(), compiletime.programs()) == (seconds, programs)
