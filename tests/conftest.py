"""Shared pytest fixtures and markers (generic only; modules may add their own below)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config: pytest.Config) -> None:
    # Every program a test compiles goes to JAX's persistent cache (quantlab.training.compilecache), as a
    # trial's do: the next run of the suite, and every xdist worker, reads it instead of compiling again.
    from quantlab.training import compilecache

    compilecache.enable()
    # Also declared in pyproject.toml; repeated here so running pytest from elsewhere keeps them known.
    config.addinivalue_line("markers", "slow: takes more than a few seconds")
    config.addinivalue_line(
        "markers", "browser: needs headless Chromium and the built book (skipped only if chromium is absent)"
    )


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository root (the directory holding pyproject.toml)."""
    return ROOT


@pytest.fixture(scope="session")
def chromium() -> str:
    """Path of the headless Chromium binary; skips the test with a clear reason if it is absent."""
    path = shutil.which("chromium") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
    )
    if path is None:
        pytest.skip("chromium is not installed (`make test` installs the Debian package `chromium`)")
    return path
