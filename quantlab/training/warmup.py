"""Compiling ahead: a trial's later epoch programs, built in a background thread while its float network trains.

A trial's stages run one after another (float training, the float control, one retraining per bit width), and
each stage's epoch is one program (:func:`quantlab.training.train.make_epoch`), compiled at its first call. For a
small network that compilation is a large share of the trial (bench/RESULTS.md, "Trials"), while during the float
training the main thread mostly waits for XLA. :func:`start` runs a function that compiles the later programs from
their argument shapes (:func:`quantlab.training.train.compile_fit`) in a thread meanwhile, and :func:`finish`
waits for it before they are needed. ``jit(...).lower(shapes).compile()`` fills the caches the later call reads, so
that call finds the executable it would have built: every number stays the same, and a shape that differs from the
real call's costs only the saving. Its compilation is counted apart from the trial's
(:func:`quantlab.training.compiletime.background`). ``QUANTLAB_COMPILE_AHEAD=0`` turns it off.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Callable

from quantlab.training import compiletime

ENV = "QUANTLAB_COMPILE_AHEAD"


def enabled() -> bool:
    """False when ``$QUANTLAB_COMPILE_AHEAD`` is 0 / false / no."""
    return os.environ.get(ENV, "1").strip().lower() not in ("0", "false", "no")


def start(work: Callable[[], None]) -> threading.Thread | None:
    """Runs ``work`` in a daemon thread whose compilation counts as background (None, and nothing run,
    when not :func:`enabled`); a failure there is a warning (the programs are then compiled when first
    called, as without it)."""
    if not enabled():
        return None

    def run() -> None:
        with compiletime.background():
            try:
                work()
            except Exception as error:  # noqa: BLE001  the stage itself will compile, and raise if it must
                warnings.warn(f"compiling ahead failed, the stages compile when they start: {error!r}",
                              RuntimeWarning, stacklevel=1)

    thread = threading.Thread(target=run, name="quantlab-compile-ahead", daemon=True)
    thread.start()
    return thread


def finish(thread: threading.Thread | None) -> None:
    """Waits for a thread of :func:`start` (None: nothing to wait for)."""
    if thread is not None:
        thread.join()


__all__ = ["ENV", "enabled", "finish", "start"]
