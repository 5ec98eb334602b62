"""JAX's persistent compilation cache, under ``$QUANTLAB_CACHE/jax``: a program (an epoch's scan, an
evaluation, a step search) is compiled once per machine and shape, then read back by every later trial,
sweep and book build, instead of being compiled again in each process.

The cache holds XLA executables keyed by the program, its shapes, the compile options, the JAX and
XLA versions and the device, so a hit runs exactly the code a fresh compilation would produce: records
are bit-identical with the cache cold or warm (tests/test_reference.py). ``QUANTLAB_COMPILE_CACHE=0``
turns it off; a directory the user configured for JAX (``JAX_COMPILATION_CACHE_DIR``) is kept.
"""

from __future__ import annotations

import os
from pathlib import Path

import jax

from quantlab import data

ENV = "QUANTLAB_COMPILE_CACHE"


def directory() -> Path:
    """Where the executables live: ``<QUANTLAB_CACHE>/jax``."""
    return data.cache_dir() / "jax"


def enable() -> Path | None:
    """Turns the cache on for this process (idempotent) and returns its directory; None when
    ``$QUANTLAB_COMPILE_CACHE`` is 0 / false / no. Every program is cached, however quick to compile
    (the small networks' many programs are each quick, and together most of a small trial's time)."""
    if os.environ.get(ENV, "1").strip().lower() in ("0", "false", "no"):
        return None
    configured = jax.config.jax_compilation_cache_dir
    if configured:
        return Path(configured)
    path = directory().resolve()  # the real path: JAX's keys include paths derived from it, so a
    # cache reached through a symlink (a bench's or CI's fresh $QUANTLAB_CACHE) must hit the same entries
    jax.config.update("jax_compilation_cache_dir", str(path))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    return path


__all__ = ["ENV", "directory", "enable"]
