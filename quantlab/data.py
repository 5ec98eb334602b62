"""The data front door: ``load(name, split)`` -> ``(images, labels)`` as numpy arrays.

Every dataset goes through tensorflow-datasets (TFDS), with the builder pinned to an explicit
version (see :data:`TFDS_VERSIONS`). The decoded arrays are cached as uint8 ``.npz`` files, so a
second load takes well under a second and does not import TensorFlow or TFDS at all.

Returned arrays
    ``images``: ``numpy.uint8``, shape ``[N, H, W, C]`` (NHWC), raw pixel intensities 0..255
    (no scaling, no centring). ``labels``: ``numpy.int32``, shape ``[N]``, class indices
    ``0 .. num_classes - 1``. Both are C-contiguous and freshly allocated (the caller may modify them).

Splits
    ``"train"``: the TFDS ``train`` split minus the validation carve.
    ``"validation"``: a held-out 10 % of the TFDS ``train`` split (:func:`carve_indices`).
    ``"test"``: the TFDS ``test`` split; meant only for the final errors.
    Within each split the examples keep the TFDS order (TFDS's own deterministic order), so
    shuffle for training yourself.

The validation carve
    ``n_val = round(VALIDATION_FRACTION * n)`` examples of the ``n``-example TFDS train split, namely
    the first ``n_val`` entries of a fixed permutation: the stable argsort of ``n`` raw 64-bit outputs
    of ``numpy.random.PCG64(VALIDATION_SEED)``. It depends on nothing but ``n`` (not on any training
    seed, the global numpy state or the numpy version: NumPy keeps BitGenerator streams stable). Both
    index sets are returned sorted, so train and validation keep the TFDS order. For the 60,000
    Fashion-MNIST / MNIST training images that is 54,000 train + 6,000 validation; CIFAR-10:
    45,000 + 5,000.

Where things live (environment variables, read at call time)
    ``QUANTLAB_CACHE``: the npz cache root (default ``~/.cache/quantlab``); arrays in ``<cache>/data``.
    ``QUANTLAB_TFDS_DIR``: the TFDS ``data_dir`` (default ``<cache>/tfds``). Manually downloaded
    source files go to ``<tfds_dir>/downloads/manual/<name>/`` (one folder per dataset, because
    MNIST and Fashion-MNIST use the same file names).
    ``QUANTLAB_FASHION_MNIST_DIR``: where the Debian package ``dataset-fashion-mnist`` put the
    official IDX ``.gz`` files (default ``/usr/share/datasets/fashion-mnist``).
    ``QUANTLAB_OFFLINE=1``: never try the network (treat it as absent).

Offline preparation
    ``fashion_mnist`` is prepared without any download: the Debian files differ from the upstream
    ones only in their gzip header (Debian's build dropped the stored file name and mtime), so the
    byte-exact upstream files are rebuilt, their sha256 checked against TFDS's registered checksums,
    and handed to TFDS's manual-download route (``DownloadConfig(manual_dir=...)``), which checks the
    checksums again. ``mnist`` and ``cifar10`` are downloaded by TFDS where a network exists; where
    it does not, :class:`DataUnavailableError` says which files to put where and how to verify them.

Cache integrity
    Each ``.npz`` holds the arrays, their key and a sha256 over key, dtypes, shapes and bytes. A file
    that cannot be read (truncated, zip CRC error), has the wrong key, dtype or shape, or whose
    digest does not match is never trusted: a :class:`CacheCorruptionWarning` is issued and the file
    is rebuilt from TFDS. Writes are atomic (temporary file + ``os.replace``).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import socket
import struct
import sys
import tempfile
import threading
import urllib.parse
import warnings
from pathlib import Path

import numpy as np

from quantlab.fileio import unwritable, write_atomic

__all__ = [
    "DATASETS",
    "SPLITS",
    "TFDS_VERSIONS",
    "VALIDATION_FRACTION",
    "VALIDATION_SEED",
    "ENV_CACHE",
    "CacheCorruptionWarning",
    "CacheError",
    "DataUnavailableError",
    "cache_dir",
    "check_cache",
    "carve_indices",
    "info",
    "is_cached",
    "load",
    "manual_dir",
    "tfds_dir",
]

DATASETS: tuple[str, ...] = ("fashion_mnist", "mnist", "cifar10")
SPLITS: tuple[str, ...] = ("train", "validation", "test")

#: TFDS builder version pinned per dataset (the code versions of tensorflow-datasets 4.9.10).
TFDS_VERSIONS: dict[str, str] = {"fashion_mnist": "3.0.1", "mnist": "3.0.1", "cifar10": "3.0.2"}

VALIDATION_FRACTION = 0.1
VALIDATION_SEED = 20151120  # arXiv 1511.06488 was submitted in November 2015
#: Names the carve in cache file names; change it whenever the carve changes.
_CARVE_TAG = f"val{round(VALIDATION_FRACTION * 100)}pct-pcg64s{VALIDATION_SEED}"

_FORMAT = "quantlab.data.npz/1"
_READ_BATCH = 10_000  # examples per batch when reading a TFDS split
_DEFAULT_FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist"

# Static facts, so that `info` and cache checks need no TFDS.
_STATIC: dict[str, dict] = {
    "fashion_mnist": {
        "display_name": "Fashion-MNIST",
        "image_shape": (28, 28, 1),
        "tfds_splits": {"train": 60000, "test": 10000},
        "class_names": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                        "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"),
    },
    "mnist": {
        "display_name": "MNIST",
        "image_shape": (28, 28, 1),
        "tfds_splits": {"train": 60000, "test": 10000},
        "class_names": tuple(str(d) for d in range(10)),
    },
    "cifar10": {
        "display_name": "CIFAR-10",
        "image_shape": (32, 32, 3),
        "tfds_splits": {"train": 50000, "test": 10000},
        "class_names": ("airplane", "automobile", "bird", "cat", "deer",
                        "dog", "frog", "horse", "ship", "truck"),
    },
}

# Gzip mtimes of the upstream Fashion-MNIST files (the Debian package's build zeroed them).
_FASHION_MNIST_MTIMES = {
    "train-images-idx3-ubyte.gz": 1504176606,
    "train-labels-idx1-ubyte.gz": 1504176606,
    "t10k-images-idx3-ubyte.gz": 1504176627,
    "t10k-labels-idx1-ubyte.gz": 1504176627,
}


class DataUnavailableError(RuntimeError):
    """The dataset is not prepared and its source files can be neither found nor downloaded."""


class CacheError(RuntimeError):
    """The cache directory (``$QUANTLAB_CACHE``) is not a writable directory."""


class CacheCorruptionWarning(UserWarning):
    """A cache file was unreadable or failed its checks; it is being rebuilt."""


# --------------------------------------------------------------------------------------------
# Public API


def info(name: str) -> dict:
    """Static facts about a dataset, without TensorFlow or TFDS.

    Returns a new dict: ``name``; ``display_name`` (as the book writes it, e.g. ``Fashion-MNIST``);
    ``tfds_version`` (the pinned TFDS builder version);
    ``num_classes``; ``image_shape`` ``(H, W, C)`` in pixels; ``dtype`` of images (``"uint8"``,
    values 0..255) and labels (``"int32"``); ``splits``: examples per quantlab split (train /
    validation / test); ``tfds_splits``: examples per TFDS split; ``class_names`` in label order.
    """
    _check_name(name)
    s = _STATIC[name]
    n_train = s["tfds_splits"]["train"]
    n_val = _n_validation(n_train)
    return {
        "name": name,
        "display_name": s["display_name"],
        "tfds_version": TFDS_VERSIONS[name],
        "num_classes": len(s["class_names"]),
        "image_shape": tuple(s["image_shape"]),
        "image_dtype": "uint8",
        "label_dtype": "int32",
        "splits": {"train": n_train - n_val, "validation": n_val, "test": s["tfds_splits"]["test"]},
        "tfds_splits": dict(s["tfds_splits"]),
        "class_names": tuple(s["class_names"]),
    }


def load(name: str, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Load one split of a dataset as numpy arrays.

    Args:
      name: one of :data:`DATASETS` (``"fashion_mnist"``, ``"mnist"``, ``"cifar10"``).
      split: one of :data:`SPLITS` (``"train"``, ``"validation"``, ``"test"``); see the module
        docstring for how validation is carved from the TFDS train split.

    Returns:
      ``(images, labels)``: images ``uint8 [N, H, W, C]`` with pixel intensities 0..255, labels
      ``int32 [N]`` with class indices ``0 .. num_classes - 1``. Fashion-MNIST and MNIST:
      ``H = W = 28, C = 1``; CIFAR-10: ``H = W = 32, C = 3``.

    Raises:
      ValueError: unknown ``name`` or ``split`` (the message lists the valid values).
      DataUnavailableError: the data is not prepared and cannot be obtained here (the message says
        exactly what to do).

    With a valid cache this reads one ``.npz`` file and imports neither TensorFlow nor TFDS.
    """
    _check_name(name)
    _check_split(split)
    path = _cache_path(name, split)
    cached = _read_cache(path, _cache_key(name, split), name)
    if cached is not None:
        return cached

    if split == "test":
        images, labels = _tfds_arrays(name, "test")
        _write_cache_if_complete(name, "test", images, labels, len(images))
        return images, labels

    # Train and validation come from one TFDS read; cache both.
    images, labels = _tfds_arrays(name, "train")
    train_idx, val_idx = carve_indices(len(images))
    parts = {
        "train": (images[train_idx], labels[train_idx]),
        "validation": (images[val_idx], labels[val_idx]),
    }
    for s, (x, y) in parts.items():
        _write_cache_if_complete(name, s, x, y, len(images))
    return parts[split]


def is_cached(name: str) -> bool:
    """Whether every split of ``name`` is in the cache and passes its checks (reads no TFDS)."""
    _check_name(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CacheCorruptionWarning)
        return all(_read_cache(_cache_path(name, s), _cache_key(name, s), name) is not None for s in SPLITS)


def carve_indices(n: int) -> tuple[np.ndarray, np.ndarray]:
    """The deterministic validation carve of an ``n``-example training split.

    Returns ``(train_idx, val_idx)``: sorted ``int64`` index arrays partitioning ``range(n)``, with
    ``len(val_idx) == round(VALIDATION_FRACTION * n)``. ``val_idx`` are the first entries of the
    stable argsort of ``numpy.random.PCG64(VALIDATION_SEED).random_raw(n)``; the result depends
    only on ``n``.
    """
    n = int(n)
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    raw = np.random.PCG64(VALIDATION_SEED).random_raw(n)
    perm = np.argsort(raw, kind="stable")
    n_val = _n_validation(n)
    return np.sort(perm[n_val:]).astype(np.int64), np.sort(perm[:n_val]).astype(np.int64)


ENV_CACHE = "QUANTLAB_CACHE"
"""The environment variable that moves quantlab's cache (data, float networks, compiled programs)."""


def cache_dir() -> Path:
    """The cache root: ``$QUANTLAB_CACHE`` or ``~/.cache/quantlab``."""
    return Path(os.environ.get(ENV_CACHE) or "~/.cache/quantlab").expanduser()


def check_cache() -> Path:
    """The cache root (:func:`cache_dir`), created if missing; raises :class:`CacheError`, naming it
    and what to do, when it is a file or cannot be written."""
    root = cache_dir()
    hint = f"point {ENV_CACHE} at a writable directory (default ~/.cache/quantlab)"
    if root.exists() and not root.is_dir():
        raise CacheError(f"the cache {root} is a file, not a directory; {hint}")
    if error := unwritable(root):
        raise CacheError(f"the cache {root} cannot be written ({error.strerror or error}); {hint}")
    return root


def tfds_dir() -> Path:
    """The TFDS ``data_dir``: ``$QUANTLAB_TFDS_DIR`` or ``<cache_dir()>/tfds``."""
    env = os.environ.get("QUANTLAB_TFDS_DIR")
    return Path(env).expanduser() if env else cache_dir() / "tfds"


def manual_dir(name: str) -> Path:
    """Where TFDS looks for manually downloaded source files of ``name``."""
    _check_name(name)
    return tfds_dir() / "downloads" / "manual" / name


# --------------------------------------------------------------------------------------------
# Validation of arguments


def _check_name(name: str) -> None:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset name {name!r}; valid names: {', '.join(DATASETS)}")


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; valid splits: {', '.join(SPLITS)}")


def _n_validation(n: int) -> int:
    return int(round(VALIDATION_FRACTION * n))


# --------------------------------------------------------------------------------------------
# The npz cache


def _cache_key(name: str, split: str) -> str:
    key = f"{name}-tfds{TFDS_VERSIONS[name]}-{split}"
    return key if split == "test" else f"{key}-{_CARVE_TAG}"


def _cache_path(name: str, split: str) -> Path:
    return cache_dir() / "data" / f"{_cache_key(name, split)}.npz"


def _digest(key: str, images: np.ndarray, labels: np.ndarray) -> str:
    h = hashlib.sha256()
    header = f"{_FORMAT}|{key}|{images.dtype.str}{images.shape}|{labels.dtype.str}{labels.shape}|"
    h.update(header.encode())
    h.update(memoryview(np.ascontiguousarray(images)).cast("B"))
    h.update(memoryview(np.ascontiguousarray(labels)).cast("B"))
    return h.hexdigest()


def _check_arrays(name: str, images: np.ndarray, labels: np.ndarray) -> str | None:
    """Why these arrays are not a valid split of ``name`` (None if they are)."""
    shape = _STATIC[name]["image_shape"]
    if images.dtype != np.uint8 or labels.dtype != np.int32:
        return f"dtypes {images.dtype}/{labels.dtype}, expected uint8/int32"
    if images.ndim != 4 or images.shape[1:] != shape:
        return f"images shape {images.shape}, expected [N, {', '.join(map(str, shape))}]"
    if labels.shape != (images.shape[0],):
        return f"labels shape {labels.shape} for {images.shape[0]} images"
    k = len(_STATIC[name]["class_names"])
    if labels.size and (labels.min() < 0 or labels.max() >= k):
        return f"labels outside 0..{k - 1}"
    return None


def _read_cache(path: Path, key: str, name: str) -> tuple[np.ndarray, np.ndarray] | None:
    """The cached arrays, or None (missing, or corrupt: then warn)."""
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            fmt, stored_key, digest = str(z["format"]), str(z["key"]), str(z["sha256"])
            images, labels = z["images"], z["labels"]
    except Exception as e:  # truncated file, zip CRC error, missing member, bad header...
        reason = f"unreadable ({type(e).__name__}: {e})"
    else:
        if fmt != _FORMAT or stored_key != key:
            reason = f"format/key {fmt!r}/{stored_key!r}, expected {_FORMAT!r}/{key!r}"
        elif (bad := _check_arrays(name, images, labels)) is not None:
            reason = bad
        elif _digest(key, images, labels) != digest:
            reason = "sha256 of the arrays does not match the stored one"
        else:
            return images, labels
    warnings.warn(
        f"quantlab.data: cache file {path} is corrupt: {reason}; rebuilding it",
        CacheCorruptionWarning,
        stacklevel=3,
    )
    return None


def _write_cache(path: Path, key: str, images: np.ndarray, labels: np.ndarray) -> None:
    """Atomically write ``path`` (:func:`quantlab.fileio.write_atomic`)."""
    write_atomic(path, lambda f: np.savez(f, format=np.array(_FORMAT), key=np.array(key),
                                          sha256=np.array(_digest(key, images, labels)),
                                          images=images, labels=labels))


def _write_cache_if_complete(name, split, images, labels, n_tfds_split) -> None:
    tfds_split = "test" if split == "test" else "train"
    expected = _STATIC[name]["tfds_splits"][tfds_split]
    if n_tfds_split != expected:
        # E.g. under tfds.testing.mock_data: never let such data into the cache.
        warnings.warn(
            f"quantlab.data: TFDS {name} {tfds_split} split has {n_tfds_split} examples, "
            f"expected {expected}; not caching it",
            stacklevel=3,
        )
        return
    _write_cache(_cache_path(name, split), _cache_key(name, split), images, labels)


# --------------------------------------------------------------------------------------------
# TFDS (imported lazily: only when the cache is missing)


#: Set before TensorFlow is first imported: its C++ logging (oneDNN notice, absl's InitializeLog line)
#: reads them once, at import.
_TF_QUIET_ENV = {"TF_CPP_MIN_LOG_LEVEL": "3", "TF_ENABLE_ONEDNN_OPTS": "0", "ABSL_MIN_LOG_LEVEL": "3"}


@contextlib.contextmanager
def _quiet():
    """Nothing TensorFlow, absl, TFDS or tqdm print reaches the caller's streams while inside.

    Their output (C++ logs on file descriptor 2, Python progress bars and warnings on ``sys.stderr``)
    goes to a temporary file instead; if the block raises, that file is replayed on stderr, so a
    failure still shows its cause. Data preparation is then silent in a notebook cell as in a
    terminal; ``python -m quantlab data`` prints its own progress line.
    """
    for key, value in _TF_QUIET_ENV.items():
        os.environ.setdefault(key, value)
    with tempfile.TemporaryFile(mode="w+") as log:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        saved = [os.dup(1), os.dup(2)]
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            with contextlib.redirect_stdout(log), contextlib.redirect_stderr(log), \
                    warnings.catch_warnings():
                warnings.simplefilter("ignore")
                yield
        except BaseException:
            _restore(saved)
            log.seek(0)
            sys.stderr.write(log.read())
            raise
        else:
            _restore(saved)


def _restore(saved: list[int]) -> None:
    for fd, dup in zip((1, 2), saved):
        os.dup2(dup, fd)
        os.close(dup)
    saved.clear()


def _tfds():
    import tensorflow_datasets as tfds  # noqa: PLC0415

    tfds.display_progress_bar(False)
    return tfds


def _tfds_arrays(name: str, tfds_split: str) -> tuple[np.ndarray, np.ndarray]:
    """Read a whole TFDS split (preparing the dataset first if needed) as uint8/int32 arrays."""
    with _quiet():
        return _tfds_read(name, tfds_split)


def _tfds_read(name: str, tfds_split: str) -> tuple[np.ndarray, np.ndarray]:
    tfds = _tfds()
    builder = tfds.builder(name, version=TFDS_VERSIONS[name], data_dir=os.fspath(tfds_dir()))
    if not builder.is_prepared():
        _prepare(tfds, builder, name)
    # Fixed-size batches rather than batch_size=-1: the latter sizes its single batch from the
    # split metadata, which TFDS's mock_data lacks (TF then aborts the process).
    ds = builder.as_dataset(split=tfds_split, batch_size=_READ_BATCH, shuffle_files=False)
    batches = list(tfds.as_numpy(ds))
    shape = _STATIC[name]["image_shape"]
    images = np.concatenate([b["image"] for b in batches] or [np.zeros((0, *shape), np.uint8)])
    labels = np.concatenate([b["label"] for b in batches] or [np.zeros(0, np.int64)])
    images = np.ascontiguousarray(images, dtype=np.uint8)
    labels = np.ascontiguousarray(labels).astype(np.int32)
    if (bad := _check_arrays(name, images, labels)) is not None:
        raise RuntimeError(f"TFDS {name} {tfds_split} split is not as expected: {bad}")
    return images, labels


def _expected_files(builder) -> list[tuple[str, str, int, str]]:
    """``(filename, url, size, sha256)`` per source file, from TFDS's registered checksums."""
    return sorted(
        (ui.filename or Path(urllib.parse.urlparse(url).path).name, url, int(ui.size), ui.checksum)
        for url, ui in (builder.url_infos or {}).items()
    )


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _prepare(tfds, builder, name: str) -> None:
    """Prepare ``name`` in ``tfds_dir()``: from local files when possible, else by TFDS download."""
    expected = _expected_files(builder)
    if not expected:
        raise RuntimeError(f"TFDS {builder.version} of {name} has no registered checksums")
    user_dir = manual_dir(name)
    work = tfds_dir() / "downloads" / "quantlab-tmp"
    work.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"{name}-", dir=work))
    try:
        present = [f for f, *_ in expected if (user_dir / f).exists()]
        if len(present) == len(expected):
            src = user_dir  # the user's own manually downloaded files
        elif name == "fashion_mnist" and _debian_fashion_mnist_present():
            src = tmp / "manual"
            _rebuild_fashion_mnist(src, expected)
        else:
            src = None
        if src is not None:
            _verify_files(src, expected, name)
        else:
            urls = [url for _, url, *_ in expected]
            if not all(_network_available(u) for u in {_origin(u) for u in urls}):
                raise DataUnavailableError(_missing_message(name, expected, present))
        # Without local files, still hand TFDS the user's manual_dir: it uses what is there.
        config = tfds.download.DownloadConfig(manual_dir=os.fspath(src or user_dir))
        try:
            # A private download_dir: the extracted intermediates are removed afterwards.
            builder.download_and_prepare(download_dir=os.fspath(tmp / "downloads"),
                                         download_config=config)
        except Exception as e:
            if src is not None:
                raise
            why = f"TFDS's download failed: {type(e).__name__}: {e}"
            raise DataUnavailableError(_missing_message(name, expected, present, why)) from e
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _verify_files(src: Path, expected, name: str) -> None:
    bad = []
    for fname, url, size, sha in expected:
        got = _sha256_file(src / fname)
        if got != sha:
            bad.append(f"  {src / fname}: sha256 {got}, expected {sha} (from {url})")
    if bad:
        raise DataUnavailableError(
            f"source files for {name} do not match TFDS's registered checksums:\n" + "\n".join(bad)
            + "\nReplace them with the original files (check with: "
            + f"cd {src} && sha256sum <file>), or remove them to let TFDS download them."
        )


def _missing_message(name: str, expected, present, why: str | None = None) -> str:
    mdir = manual_dir(name)
    width = max(len(f) for f, *_ in expected)
    if why is None:
        why = "QUANTLAB_OFFLINE is set" if _offline_forced() else "no network access"
    lines = [
        f"{name} (TFDS {TFDS_VERSIONS[name]}) is not prepared in {tfds_dir()} and its source files "
        f"cannot be downloaded here ({why}).",
    ]
    if name == "fashion_mnist":
        lines.append(
            f"The offline route needs the Debian package: apt-get install dataset-fashion-mnist "
            f"(it installs the files in {_fashion_mnist_dir()}). Alternatively:"
        )
    lines += [
        f"Put these files (names exactly as shown) in the TFDS manual_dir\n  {mdir}/",
        *[f"    {f:<{width}}  from {url}  ({size} bytes)" for f, url, size, _ in expected],
        "and verify them with sha256sum:",
        f"  cd {mdir} && sha256sum -c <<'EOF'",
        *[f"  {sha}  {f}" for f, _, _, sha in expected],
        "  EOF",
        "then call quantlab.data.load again: TFDS prepares the dataset from them, checking the same "
        "sha256 sums. (QUANTLAB_TFDS_DIR selects another TFDS data_dir.)",
    ]
    if present:
        lines.append(f"Already present: {', '.join(present)}.")
    return "\n".join(lines)


def _fashion_mnist_dir() -> Path:
    return Path(os.environ.get("QUANTLAB_FASHION_MNIST_DIR") or _DEFAULT_FASHION_MNIST_DIR)


def _debian_fashion_mnist_present() -> bool:
    d = _fashion_mnist_dir()
    return all((d / f).is_file() for f in _FASHION_MNIST_MTIMES)


def _rebuild_fashion_mnist(dst: Path, expected) -> None:
    """Write byte-exact upstream Fashion-MNIST .gz files into ``dst`` from the Debian ones.

    The Debian files carry the same deflate stream; only the gzip header lacks the FNAME field and
    the mtime. Header written: 1f 8b 08 08, mtime (uint32 little-endian), 00 03, name + NUL.
    """
    dst.mkdir(parents=True, exist_ok=True)
    want = {f: sha for f, _, _, sha in expected}
    for fname, mtime in _FASHION_MNIST_MTIMES.items():
        data = (_fashion_mnist_dir() / fname).read_bytes()
        if len(data) < 18 or data[:3] != b"\x1f\x8b\x08":
            raise DataUnavailableError(f"{_fashion_mnist_dir() / fname} is not a gzip file")
        if hashlib.sha256(data).hexdigest() == want.get(fname):
            out = data  # already the upstream bytes
        elif data[3] == 0:  # no optional header fields: header is exactly 10 bytes
            base = fname[: -len(".gz")].encode()
            out = b"\x1f\x8b\x08\x08" + struct.pack("<I", mtime) + b"\x00\x03" + base + b"\x00"
            out += data[10:]
        else:
            out = data  # unknown layout: let the checksum check below report it
        (dst / fname).write_bytes(out)


def _offline_forced() -> bool:
    return os.environ.get("QUANTLAB_OFFLINE", "").strip().lower() not in ("", "0", "false", "no")


def _origin(url: str) -> str:
    p = urllib.parse.urlparse(url)
    return f"{p.scheme}://{p.netloc}/"


def _network_available(url: str, timeout: float = 3.0) -> bool:
    """Whether a TCP connection to ``url``'s host can be opened within ``timeout`` seconds.

    Returns True without probing when an HTTP(S) proxy is configured (TFDS's downloader uses it;
    a failed download is still turned into the instructions). Never blocks much longer than
    ``timeout`` (name resolution runs in a daemon thread).
    """
    if _offline_forced():
        return False
    if any(os.environ.get(v) for v in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY")):
        return True
    p = urllib.parse.urlparse(url)
    port = p.port or (443 if p.scheme == "https" else 80)
    result: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((p.hostname, port), timeout=timeout):
                result.append(True)
        except OSError:
            result.append(False)

    t = threading.Thread(target=probe, daemon=True)
    t.start()
    t.join(timeout + 0.5)
    return bool(result and result[0])
