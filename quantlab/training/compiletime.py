"""Seconds JAX spends turning Python into executables: tracing to a jaxpr, lowering to MLIR and XLA's
compilation (or reading the executable back from the persistent cache), summed from JAX's own
``jax.monitoring`` duration events. A trial's provenance splits this from the rest of its wall time
(training scans, evaluation, step searches, transfers). Compilation in a thread marked with
:func:`background` (:mod:`quantlab.training.warmup`) overlaps other work and costs no wall time of its
own: it is counted apart, in :func:`background_seconds`.

:func:`seconds` is a running total for this process; take differences around the work to measure::

    before = compiletime.seconds()
    ...                                  # a trial
    compile_seconds = compiletime.seconds() - before
"""

from __future__ import annotations

import contextlib
import threading

import jax

EVENTS = ("/jax/core/compile/jaxpr_trace_duration", "/jax/core/compile/jaxpr_to_mlir_module_duration",
          "/jax/core/compile/backend_compile_duration")
"""The duration events summed: tracing, lowering, XLA compilation (or a persistent-cache read)."""

_lock = threading.Lock()
_total = {"seconds": 0.0, "programs": 0, "background_seconds": 0.0}
_thread = threading.local()
_installed = False


def _listener(event: str, duration: float, **_: object) -> None:
    if event in EVENTS:
        with _lock:
            if getattr(_thread, "background", False):
                _total["background_seconds"] += float(duration)
            else:
                _total["seconds"] += float(duration)
                _total["programs"] += event == EVENTS[-1]


@contextlib.contextmanager
def background():
    """Counts the compilation of the ``with`` body, in this thread, in :func:`background_seconds` instead
    of :func:`seconds` and :func:`programs` (JAX reports it in the compiling thread)."""
    install()
    _thread.background = True
    try:
        yield
    finally:
        _thread.background = False


def install() -> None:
    """Starts counting (idempotent; the listener stays for the process's life)."""
    global _installed
    with _lock:
        if not _installed:
            jax.monitoring.register_event_duration_secs_listener(_listener)
            _installed = True


def seconds() -> float:
    """Seconds spent compiling in this process since :func:`install`, outside :func:`background` threads."""
    install()
    return _total["seconds"]


def programs() -> int:
    """Executables compiled (or read from the persistent cache) in this process since :func:`install`,
    outside :func:`background` threads."""
    install()
    return _total["programs"]


def background_seconds() -> float:
    """Seconds spent compiling in :func:`background` threads of this process since :func:`install`."""
    install()
    return _total["background_seconds"]


__all__ = ["EVENTS", "background", "background_seconds", "install", "programs", "seconds"]
