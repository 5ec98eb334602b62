"""What produced a result: the environment of this process, collected once per record.

* :func:`collect` is the provenance of one record (or of one benchmark run): quantlab version and git
  commit (with a dirty flag), jax/jaxlib/flax/optax/numpy versions, Python, platform, host, CPU
  count, model and instruction-set extensions, device, layer implementation, wall time, UTC date.
* :func:`git_state`, :func:`cpu_model`, :func:`cpu_isa`, :func:`device`, :func:`layers`,
  :func:`package_versions`: the pieces, for the benchmark and the tests.

Standard library only: JAX is consulted for the device only when the process has imported it.
Summarising many records' provenance is :func:`quantlab.analysis.rows.provenance_summary`.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import platform
import socket
import subprocess
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import quantlab

REPO_ROOT = Path(__file__).resolve().parents[2]  # quantlab/experiments/environment.py -> the checkout
PACKAGES = ("jax", "jaxlib", "flax", "optax", "numpy")


def package_versions(names: Sequence[str] = PACKAGES) -> dict[str, str | None]:
    """``{name: installed version or None}``."""
    versions = {}
    for name in names:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


@functools.lru_cache(maxsize=None)
def static() -> dict:
    """The part of :func:`collect` that does not change while this process runs (cached)."""
    return {
        "quantlab": quantlab.__version__,
        "git": git_state(REPO_ROOT),
        "packages": package_versions(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "hostname": socket.gethostname(),
        "cpu_count": os.cpu_count(),
        "cpu_model": cpu_model(),
        "cpu_isa": cpu_isa(),
    }


def cpu_model() -> str | None:
    """The processor's name from /proc/cpuinfo (Linux), else ``platform.processor()`` or None."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512_bf16", "amx_tile")  # what XLA's CPU code generation uses


def cpu_isa() -> str | None:
    """The processor generation and vector extensions (Linux /proc/cpuinfo), e.g. ``"family 26
    model 2: avx2 fma avx512f"``: XLA compiles for them, so equal bits need an equal value here
    (a model name such as "AMD EPYC" spans generations)."""
    try:
        fields = {}
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())
    except OSError:
        return None
    if "flags" not in fields:
        return None
    flags = set(fields["flags"].split())
    return (f"family {fields.get('cpu family', '?')} model {fields.get('model', '?')}: "
            + " ".join(f for f in ISA_FLAGS if f in flags))


def git_state(root: Path) -> dict | None:
    """``{"commit", "dirty"}`` of the repository quantlab runs from, or None outside a checkout.

    A copy of a clean checkout without ``.git`` (e.g. shipped to a GPU machine) names its commit
    in ``$QUANTLAB_GIT_COMMIT``.
    """
    if os.environ.get("QUANTLAB_GIT_COMMIT"):
        return {"commit": os.environ["QUANTLAB_GIT_COMMIT"], "dirty": False, "from": "QUANTLAB_GIT_COMMIT"}
    if not (root / ".git").exists():
        return None

    def git(*args):
        return subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=10)

    try:
        head = git("rev-parse", "--verify", "-q", "HEAD")
        status = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    commit = head.stdout.strip() if head.returncode == 0 else None
    dirty = bool(status.stdout.strip()) if status.returncode == 0 else None
    return {"commit": commit, "dirty": dirty}


def device() -> dict | None:
    jax = sys.modules.get("jax")  # only when the trial used JAX: never import it just for this
    if jax is None:
        return None
    try:
        devices = jax.devices()
        return {"platform": devices[0].platform, "kind": devices[0].device_kind, "count": len(devices)}
    except Exception:  # noqa: BLE001 - provenance must never fail a finished run
        return None


def layers() -> str | None:
    """The layer implementation models are built with here (``quantlab.nn.models.layer_impl``:
    ``fused`` on CPU, ``lax`` elsewhere), once the trial has imported the models."""
    models = sys.modules.get("quantlab.nn.models")
    if models is None:
        return None
    try:
        return models.layer_impl()
    except Exception:  # noqa: BLE001 - provenance must never fail a finished run
        return None


def collect(wall_seconds: float, seeds: Sequence[int] = (), compile_seconds: float | None = None,
            compiled_programs: int | None = None, phase_seconds: dict | None = None,
            compile_ahead_seconds: float | None = None) -> dict:
    """What produced a record. ``wall_seconds`` is the trial's wall time, for all of ``seeds``
    together (they were trained at once); ``compile_seconds`` the part of it JAX spent tracing and
    compiling ``compiled_programs`` executables (or reading them from the persistent cache), when
    measured; ``compile_ahead_seconds`` the compilation done meanwhile in a background thread
    (:mod:`quantlab.training.warmup`; not part of the wall time's split); ``phase_seconds`` the parts
    spent in each phase of :data:`quantlab.training.phases.PHASES` (net of compilation; the rest of
    the wall time is overhead). Computed where the trial ran (a Ray worker's host and device for the
    ray executor, which adds ``executor``)."""
    timing = {"wall_seconds": round(float(wall_seconds), 3)}
    if compile_seconds is not None:
        timing |= {"compile_seconds": round(float(compile_seconds), 3),
                   "compiled_programs": int(compiled_programs or 0)}
    if compile_ahead_seconds is not None:
        timing["compile_ahead_seconds"] = round(float(compile_ahead_seconds), 3)
    if phase_seconds is not None:
        timing["phase_seconds"] = {k: round(float(v), 3) for k, v in phase_seconds.items()}
    return {
        **static(),
        "device": device(),
        "layers": layers(),
        **timing,
        "trial_seeds": [int(s) for s in seeds],
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


__all__ = ["PACKAGES", "REPO_ROOT", "collect", "cpu_isa", "cpu_model", "device", "git_state", "layers",
           "package_versions", "static"]
