"""A disk cache of trained float networks, so that every bit width, step policy and retraining budget
of a network starts from the same float network, trained once.

An entry is one ``.npz`` file in ``<QUANTLAB_CACHE>/float/``: the parameter leaves (leading seed axis)
in tree order, plus a JSON ``meta`` (the float stage's per-seed metrics) and a sha256 of both. The
key is a hash of everything that determines the trained network (the caller's ``identity``: config,
seeds, numerics version, packages, device). Writes are atomic; an entry that cannot be read (truncated,
a flipped bit, empty) or fails its checksum is named in a :class:`DamagedEntryWarning`, moved aside as
``<entry>.npz.corrupt`` and retrained; one that does not match the expected tree is ignored and
overwritten. Deleting the directory is always safe.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Any

import jax
import numpy as np

from quantlab import data
from quantlab.fileio import write_atomic


class DamagedEntryWarning(UserWarning):
    """A float-network cache entry was unreadable or failed its checksum; it was moved aside and is retrained."""


def directory() -> Path:
    """Where entries live: ``<QUANTLAB_CACHE>/float``."""
    return data.cache_dir() / "float"


def key(identity: Any) -> str:
    """The entry key of a JSON-ready ``identity`` (first 24 hex digits of its canonical sha256)."""
    text = json.dumps(identity, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _digest(leaves: list[np.ndarray], meta: str) -> str:
    h = hashlib.sha256(meta.encode())
    for leaf in leaves:
        h.update(str((leaf.shape, leaf.dtype.str)).encode())
        h.update(np.ascontiguousarray(leaf).tobytes())
    return h.hexdigest()


def has(entry: str) -> bool:
    """Whether an entry of that key is on disk (read or checked only by :func:`load`)."""
    return (directory() / f"{entry}.npz").exists()


def load(entry: str, like: Any) -> tuple[Any, dict] | None:
    """``(params, meta)`` of entry ``entry`` with the tree structure, shapes and dtypes of ``like``,
    or None when it is missing or does not match."""
    path = directory() / f"{entry}.npz"
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = str(z["meta"])
            leaves = [z[f"leaf_{i}"] for i in range(len(z.files) - 2)]
            digest = str(z["sha256"])
    except Exception as e:  # noqa: BLE001 - truncated (BadZipFile), empty (EOFError), bad CRC, foreign file...
        return _damaged(path, f"unreadable ({type(e).__name__}: {e})")
    if digest != _digest(leaves, meta):
        return _damaged(path, "its sha256 does not match its contents")
    expected = jax.tree.leaves(like)
    if len(leaves) != len(expected) or any(a.shape != b.shape or a.dtype != b.dtype for a, b in zip(leaves, expected)):
        return None
    return jax.tree.unflatten(jax.tree.structure(like), leaves), json.loads(meta)


def _damaged(path: Path, why: str) -> None:
    """Moves a damaged entry aside (``.corrupt``) with a warning naming it; the caller retrains."""
    aside = path.with_name(path.name + ".corrupt")
    try:
        os.replace(path, aside)
        where = f"moved to {aside}"
    except OSError as e:
        where = f"could not be moved aside ({e.strerror})"
    warnings.warn(f"float-network cache entry {path} is damaged: {why}; {where}; retraining it",
                  DamagedEntryWarning, stacklevel=3)
    return None


def save(entry: str, params: Any, meta: dict) -> None:
    """Writes entry ``entry`` atomically; a cache that cannot be written is skipped silently (it only
    saves time)."""
    leaves = [np.asarray(x) for x in jax.tree.leaves(jax.device_get(params))]
    text = json.dumps(meta, sort_keys=True)
    arrays = {f"leaf_{i}": leaf for i, leaf in enumerate(leaves)}
    try:
        write_atomic(directory() / f"{entry}.npz",
                     lambda f: np.savez(f, meta=np.array(text), sha256=np.array(_digest(leaves, text)), **arrays))
    except OSError:
        pass
