"""Atomic file writes: the one way quantlab replaces a file (records, data and network caches, CSV
exports). The content goes to a temporary file in the target's folder (named ``.<name>.*.tmp``, which
readers ignore), is flushed to disk, then renamed over the target: a reader sees the old file or the
new one, never a part. :func:`unwritable` checks first that a folder takes a file. Standard library only."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any


def write_atomic(path: str | os.PathLike, content: str | bytes | Callable[[IO[Any]], None], *,
                 newline: str | None = None, mode: int = 0o644) -> Path:
    """Replaces ``path`` with ``content`` atomically and returns the path. ``content``: text, bytes,
    or a function that writes to the open file (binary unless ``newline`` is given, which opens it
    as UTF-8 text with that newline translation; text content is always written as UTF-8).
    The parent folder is created; the file gets permissions ``mode`` (a shared store is read by
    others; ``mkstemp`` alone gives 0600). Raises OSError when the folder or file cannot be written
    (nothing is left behind but the old file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = isinstance(content, str) or newline is not None
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with (os.fdopen(fd, "w", encoding="utf-8", newline=newline) if text else os.fdopen(fd, "wb")) as f:
            if callable(content):
                content(f)
            else:
                f.write(content)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass
    return path


def unwritable(folder: str | os.PathLike, size: int = 4096) -> OSError | None:
    """Why ``folder`` cannot take files, or None when it can: the OSError of creating it (if missing)
    and of writing, syncing and removing a ``size``-byte file in it, so a full disk fails too (an
    empty file would still fit)."""
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check.", suffix=".tmp") as f:
            f.write(b"\0" * size)
            f.flush()
            os.fsync(f.fileno())
    except OSError as e:
        return e
    return None


__all__ = ["unwritable", "write_atomic"]
