"""The result store: a directory of JSON records, one per (trial config, seed).

* **Keys.** A record's key is the sha256 (first 16 hex digits) of the canonical JSON of
  ``(dataclasses.asdict(config), seed, quantlab.NUMERICS_VERSION)``: a changed config, seed or
  numerics version is a different key, so a stale record is never served. The file name is readable
  and ends with the key: ``ffdnn-w256-d3-s0-<key>.json``.
* **Atomic writes.** A record is written to a temporary file in the same directory, flushed,
  fsync-ed and renamed over its final name (``os.replace``): a killed run leaves either the whole
  record or none (at worst an ignored ``.*.tmp`` file). Records are readable by all (mode 0644).
* **Its own files only.** A record is a file named like a record (``RECORD_NAME``); the store
  reads, moves aside and writes nothing else (besides its ``.*.tmp`` and ``.*.lock`` files), so
  other files in the directory, JSON or not, are left alone (:meth:`Store.foreign_files`).
* **Corruption.** Reading checks the JSON, the record schema, that the stored key equals the key
  recomputed from the stored config, seed and numerics version, and a sha256 of the record's
  content. A record failing any check is reported by name (:class:`CorruptRecordWarning`), moved
  aside to ``<name>.corrupt`` and treated as missing, so the sweep recomputes it.
* **Locks.** :meth:`Store.lock` is a per-trial lock (:mod:`quantlab.experiments.lock`), released even when its
  holder dies: processes sharing a store split its trials instead of training them twice.
* **Provenance.** Every record says what produced it: quantlab version and git commit (with a
  dirty flag), jax/jaxlib/flax/optax/numpy versions, Python, platform, device, layer
  implementation, host, CPU count, wall time and UTC date (:func:`quantlab.experiments.environment.collect`).

Standard library only.
"""

from __future__ import annotations

import dataclasses
import errno
import hashlib
import json
import os
import re
import warnings
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import quantlab
from quantlab.experiments.environment import REPO_ROOT
from quantlab.experiments.lock import Lock
from quantlab.fileio import unwritable, write_atomic

RECORD_FORMAT = 1
RECORD_NAME = re.compile(r"(?P<label>[^.].*)-s(?P<seed>\d+)-(?P<key>[0-9a-f]{16})\.json")
ENV_RESULTS = "QUANTLAB_RESULTS"
_REQUIRED = {
    "format": int, "key": str, "label": str, "config": dict, "seed": int, "numerics_version": int,
    "metrics": dict, "provenance": dict, "sha256": str,
}


class MissingRecordsError(LookupError):
    """A spec's records are not all in the store; the message names the command that computes them."""


def sweep_command(spec: Any, store: "Store") -> str:
    """The command line that computes the missing records of ``spec`` into ``store``."""
    where = "" if store.root == default_results_dir(spec) else f" --results {store.root}"
    return f"python -m quantlab sweep {spec.source if spec.source and not spec.shipped else spec.name}{where}"


class StoreError(RuntimeError):
    """The store cannot be used (e.g. its directory is not writable)."""


class CorruptRecordWarning(UserWarning):
    """A record file failed validation; it was moved aside and will be recomputed."""


def config_dict(config: Any) -> dict:
    """A trial config as a plain JSON-ready dict (tuples become lists), without the fields its class
    names in ``KEY_OMITS_NONE`` while they are None (fields added later, keys of older records kept)."""
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        omit = getattr(type(config), "KEY_OMITS_NONE", ())
        config = {k: v for k, v in dataclasses.asdict(config).items() if not (k in omit and v is None)}
    if not isinstance(config, Mapping):
        raise TypeError(f"a trial config must be a dataclass or a mapping; got {type(config).__name__}")
    return json.loads(json.dumps(config, allow_nan=False))


def canonical_json(obj: Any) -> str:
    """Deterministic JSON: sorted keys, no whitespace."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def record_key(config: Any, seed: int, numerics_version: int | None = None) -> str:
    """The content-hash key of ``(config, seed, numerics_version)`` (default: the current
    ``quantlab.NUMERICS_VERSION``)."""
    if numerics_version is None:
        numerics_version = quantlab.NUMERICS_VERSION
    payload = canonical_json([config_dict(config), int(seed), int(numerics_version)])
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def trial_key(config: Any) -> str:
    """The content-hash key of a trial, all seeds together: ``(config, NUMERICS_VERSION)``."""
    payload = canonical_json([config_dict(config), int(quantlab.NUMERICS_VERSION)])
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def trial_label(config: Any) -> str:
    """A short readable name of a trial: ``ffdnn-w256-d3`` or ``cnn-4-4-8``."""
    cfg = config_dict(config)
    family, size = cfg.get("family", "trial"), [int(s) for s in cfg.get("size", ())]
    if family == "ffdnn" and len(size) == 2:
        return f"ffdnn-w{size[0]}-d{size[1]}"
    return "-".join([str(family), *map(str, size)])


def trial_name(spec: Any, config: Any) -> str:
    """How listings, progress bars, messages and ``--only`` name a trial of ``spec``: its
    :func:`trial_label`, then what tells it apart from the spec's other trials of that network
    (:meth:`quantlab.experiments.spec.SweepSpec.variant`): ``ffdnn-w16-d3 signal_bits=4``. Record
    files and their ``label`` keep the network's label alone."""
    return " ".join(filter(None, (trial_label(config), spec.variant(config))))


def _content_hash(record: Mapping[str, Any]) -> str:
    body = {k: v for k, v in record.items() if k != "sha256"}
    return hashlib.sha256(canonical_json(body).encode()).hexdigest()


def check_record(record: Any) -> str | None:
    """Why ``record`` (parsed JSON) is not a valid record, or None when it is."""
    if not isinstance(record, dict):
        return f"not a JSON object but {type(record).__name__}"
    for field, kind in _REQUIRED.items():
        if field not in record:
            return f"field {field!r} is missing"
        value = record[field]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            return f"field {field!r} is {type(value).__name__}, not {kind.__name__}"
    if record["format"] != RECORD_FORMAT:
        return f"record format {record['format']} is not {RECORD_FORMAT}"
    if record["sha256"] != _content_hash(record):
        return "content checksum mismatch (the file was edited or damaged)"
    try:
        key = record_key(record["config"], record["seed"], record["numerics_version"])
    except (TypeError, ValueError) as e:
        return f"config cannot be hashed: {e}"
    if key != record["key"]:
        return f"stored key {record['key']} differs from the key {key} of its config, seed and numerics version"
    return None


def default_results_dir(spec: Any = None) -> Path:
    """Where results go: ``$QUANTLAB_RESULTS`` if set; else ``results/`` at the repository root for
    shipped specs (the book reads them there) and next to the spec file for other specs."""
    env = os.environ.get(ENV_RESULTS)
    if env:
        return Path(env).expanduser()
    source = getattr(spec, "source", None)
    if source and not getattr(spec, "shipped", False):
        return Path(source).resolve().parent / "results"
    if (REPO_ROOT / "pyproject.toml").is_file():
        return REPO_ROOT / "results"
    return Path.cwd() / "results"


class Store:
    """A directory of records (created on the first write; ``~`` is expanded)."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root).expanduser()

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    def path(self, config: Any, seed: int) -> Path:
        """The file of ``(config, seed)``, whether or not it exists."""
        return self.root / f"{trial_label(config)}-s{int(seed)}-{record_key(config, seed)}.json"

    def get(self, config: Any, seed: int) -> dict | None:
        """The valid record of ``(config, seed)``, or None (missing, or corrupt: then it is
        reported, moved aside and None is returned so that it is recomputed)."""
        path = self.path(config, seed)
        record = self._read(path)
        if record is not None and record["key"] != record_key(config, seed):
            self._quarantine(path, "its key does not match its file name")
            return None
        return record

    def has(self, config: Any, seed: int) -> bool:
        return self.get(config, seed) is not None

    def missing_seeds(self, config: Any, seeds: Sequence[int]) -> list[int]:
        """The seeds of ``seeds`` without a valid record, in order."""
        return [s for s in seeds if not self.has(config, s)]

    def put(self, config: Any, seed: int, metrics: Mapping[str, Any], provenance: Mapping | None = None) -> Path:
        """Writes the record of ``(config, seed)`` atomically; returns its path."""
        if not isinstance(metrics, Mapping) or not metrics:
            raise TypeError(f"metrics must be a non-empty dict; got {metrics!r}")
        record = {
            "format": RECORD_FORMAT,
            "key": record_key(config, seed),
            "label": trial_label(config),
            "config": config_dict(config),
            "seed": int(seed),
            "numerics_version": int(quantlab.NUMERICS_VERSION),
            "metrics": json.loads(json.dumps(metrics)),
            "provenance": dict(provenance or {}),
        }
        record["sha256"] = _content_hash(record)
        path = self.path(config, seed)
        self._write_atomic(path, json.dumps(record, indent=1, sort_keys=True) + "\n")
        return path

    def check_writable(self) -> None:
        """Raises :class:`StoreError` unless records can be written here (creates the directory)."""
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(f"the results directory {self.root} is a file; give a directory with --results DIR "
                             f"or ${ENV_RESULTS}")
        if (error := unwritable(self.root)) is not None:
            raise self._unwritable(error)

    def lock(self, config: Any) -> Lock:
        """The lock of trial ``config`` (all its seeds), not yet acquired."""
        return Lock(self.root / f".{trial_label(config)}-{trial_key(config)}.lock")

    def foreign_files(self) -> list[str]:
        """Names of the ``*.json`` files in the directory that are not records (left alone)."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.glob("*.json") if not RECORD_NAME.fullmatch(p.name))

    def records(self, spec: Any, trials: Sequence[Any] | None = None) -> list[dict]:
        """The valid records of every trial (default: all of ``spec``'s; else ``trials``, a subset of
        its trial configs) and seed of ``spec`` that exist, in trial order."""
        configs = spec.trials() if trials is None else trials
        return [r for config in configs for s in spec.seeds if (r := self.get(config, s)) is not None]

    def scan(self) -> Iterator[dict]:
        """Every valid record in the directory (corrupt ones are reported and moved aside; files
        not named like records are left alone)."""
        if not self.root.is_dir():
            return
        for path in sorted(self.root.glob("*.json")):
            if not RECORD_NAME.fullmatch(path.name):
                continue
            record = self._read(path)
            if record is not None:
                yield record

    # -- internals ---------------------------------------------------------------------------

    def _read(self, path: Path) -> dict | None:
        try:
            raw = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):  # no record (or no store) there
            return None
        except OSError as e:
            raise StoreError(f"cannot read record {path}: {e.strerror}") from None
        try:
            record = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            self._quarantine(path, f"not valid JSON ({e})")
            return None
        reason = check_record(record)
        if reason:
            self._quarantine(path, reason)
            return None
        return record

    def _quarantine(self, path: Path, reason: str) -> None:
        target = path.with_name(path.name + ".corrupt")
        n = 1
        while target.exists():
            target = path.with_name(f"{path.name}.corrupt{n}")
            n += 1
        try:
            os.replace(path, target)
            moved = f"moved to {target.name}"
        except FileNotFoundError:  # another process got there first
            moved = "already moved"
        except OSError as e:
            moved = f"could not be moved aside ({e.strerror})"
        warnings.warn(
            CorruptRecordWarning(f"corrupt record {path.name} in {path.parent}: {reason}; {moved}, "
                                 "it will be recomputed"),
            stacklevel=3,
        )

    def _unwritable(self, error: OSError) -> StoreError:
        return StoreError(f"cannot write to the results directory {self.root}: {error.strerror}; "
                          f"give a writable one with --results DIR or ${ENV_RESULTS}")

    def _write_atomic(self, path: Path, text: str) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise self._unwritable(e) from None
        try:
            write_atomic(path, text)
        except OSError as e:
            if e.errno == errno.ENOSPC:
                raise StoreError(f"no space left on the device of {self.root} to write {path.name} "
                                 f"({len(text.encode()):,} bytes); free some space and rerun (the records "
                                 f"written before are kept), or give another directory with --results DIR") from None
            if not os.access(self.root, os.W_OK):
                raise self._unwritable(e) from None
            raise
