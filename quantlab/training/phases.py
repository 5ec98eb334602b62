"""Where a trial's wall time goes, phase by phase, net of JAX compilation.

A trial's provenance splits its wall time into compilation (:mod:`quantlab.training.compiletime`:
tracing, lowering, XLA or a persistent-cache read) and these :data:`PHASES`, each timed around work
whose result is waited for, minus the compilation that happened inside it:

* ``upload``: the data and the initial parameters put on the device;
* ``scans``: the training epochs (one ``lax.scan`` each);
* ``evaluation``: validation, training-probe and test errors (per epoch and per stage);
* ``steps``: the quantizers' step searches and the signal calibration.

What is left of the wall time (Python around the stages, selection, the float-network cache, host
transfers of results) is the trial's overhead. Like :mod:`~quantlab.training.compiletime`, the totals
are running totals for this process; take differences around the work::

    before = phases.seconds()
    ...                                  # a trial
    spent = phases.since(before)         # {"upload": s, "scans": s, "evaluation": s, "steps": s}
"""

from __future__ import annotations

import contextlib
import threading
import time

import jax

from quantlab.training import compiletime

PHASES = ("upload", "scans", "evaluation", "steps")

_lock = threading.Lock()
_total = dict.fromkeys(PHASES, 0.0)


@contextlib.contextmanager
def timed(phase: str):
    """Adds the seconds of the ``with`` body, less the compilation inside it, to ``phase``. The body
    must wait for its results (``np.asarray``, :func:`ready`), or the time goes to whatever waits."""
    if phase not in PHASES:
        raise ValueError(f"phase must be one of {PHASES}; got {phase!r}")
    start, compiling = time.perf_counter(), compiletime.seconds()
    try:
        yield
    finally:
        spent = time.perf_counter() - start - (compiletime.seconds() - compiling)
        with _lock:
            _total[phase] += max(spent, 0.0)


def ready(tree):
    """``tree`` once every array in it is computed (:func:`jax.block_until_ready`)."""
    return jax.block_until_ready(tree)


def seconds() -> dict[str, float]:
    """Running totals per phase for this process (a copy)."""
    with _lock:
        return dict(_total)


def since(before: dict[str, float]) -> dict[str, float]:
    """Seconds per phase since ``before`` (a :func:`seconds` result)."""
    now = seconds()
    return {p: now[p] - before[p] for p in PHASES}


__all__ = ["PHASES", "ready", "seconds", "since", "timed"]
