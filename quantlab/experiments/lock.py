"""Per-trial locks, so that processes sharing a result store never train the same trial twice.

A lock is an advisory ``flock`` on a small file. The kernel releases it when the holder's file
descriptor closes, which happens when the holder exits *or dies* (SIGKILL, crash, power loss of a
remote client aside): a lock never outlives its process, so it needs no expiry and no pid check.
The file names its holder (pid and host) for messages. The holder removes the file before it
releases the lock; a waiter that then wins the lock on the removed file sees that the path now
names another file (or none) and tries again, so at most one process holds a given path.

Local file systems; on NFS, Linux implements ``flock`` with NFS byte-range locks. Standard library
only (POSIX).
"""

from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path


class Lock:
    """An exclusive lock on ``path`` (created on :meth:`acquire`, removed on :meth:`release`)."""

    def __init__(self, path: str | os.PathLike):
        self.path = Path(path)
        self._fd: int | None = None

    def __repr__(self) -> str:
        return f"Lock({str(self.path)!r}, held={self.held})"

    @property
    def held(self) -> bool:
        return self._fd is not None

    def holder(self) -> str:
        """Who holds the lock, as its file says (``pid 123 on host``), or ``"?"``."""
        try:
            return self.path.read_text().strip() or "?"
        except OSError:
            return "?"

    def acquire(self, blocking: bool = True) -> bool:
        """Takes the lock; without ``blocking``, returns False at once when another process holds
        it. Waiting can be interrupted (Ctrl-C raises KeyboardInterrupt as usual)."""
        if self._fd is not None:
            raise RuntimeError(f"{self!r} is already held")
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if blocking else fcntl.LOCK_NB))
                mine = os.fstat(fd)
                current = os.stat(self.path)
            except BlockingIOError:
                os.close(fd)
                return False
            except FileNotFoundError:  # removed by the holder we waited for
                os.close(fd)
                continue
            except BaseException:
                os.close(fd)
                raise
            if (mine.st_dev, mine.st_ino) != (current.st_dev, current.st_ino):
                os.close(fd)  # a newer file took this path: lock that one
                continue
            os.ftruncate(fd, 0)
            os.write(fd, f"pid {os.getpid()} on {socket.gethostname()}\n".encode())
            self._fd = fd
            return True

    def release(self) -> None:
        """Removes the file and releases the lock (nothing when not held)."""
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> Lock:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
