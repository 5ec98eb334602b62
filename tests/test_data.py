"""Tests of quantlab.data: the real Fashion-MNIST files, the validation carve, the npz cache, the
offline error messages, and the mnist / cifar10 code paths on TFDS mock data.

The real data is prepared once (about 15 s) in the ambient cache (``$QUANTLAB_CACHE`` or
``~/.cache/quantlab``), which later runs reuse. Tests that need isolation use a temporary
``QUANTLAB_CACHE`` while pointing ``QUANTLAB_TFDS_DIR`` at the already prepared TFDS data_dir.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
import warnings
import zipfile
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from quantlab import data

ROOT = Path(__file__).resolve().parent.parent
DEBIAN_DIR = Path(os.environ.get("QUANTLAB_FASHION_MNIST_DIR") or "/usr/share/datasets/fashion-mnist")
FMNIST_SHA256 = {  # TFDS 4.9.10's registered checksums of the upstream files
    "train-images-idx3-ubyte.gz": "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
    "train-labels-idx1-ubyte.gz": "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
    "t10k-images-idx3-ubyte.gz": "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
    "t10k-labels-idx1-ubyte.gz": "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
}
MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
    "train-labels-idx1-ubyte.gz": "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
    "t10k-images-idx3-ubyte.gz": "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
    "t10k-labels-idx1-ubyte.gz": "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
}

needs_debian = pytest.mark.skipif(
    not all((DEBIAN_DIR / f).is_file() for f in FMNIST_SHA256),
    reason="Debian package dataset-fashion-mnist is not installed (apt-get install dataset-fashion-mnist)",
)


# ----------------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture(scope="session")
def fmnist_dirs() -> dict[str, Path]:
    """Prepare Fashion-MNIST once in the ambient cache; return its cache and TFDS dirs."""
    if not all((DEBIAN_DIR / f).is_file() for f in FMNIST_SHA256):
        pytest.skip("Debian package dataset-fashion-mnist is not installed")
    for split in data.SPLITS:
        data.load("fashion_mnist", split)
    return {"cache": data.cache_dir(), "tfds": data.tfds_dir()}


@pytest.fixture(scope="session")
def fmnist(fmnist_dirs) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """The three real Fashion-MNIST splits, loaded from the ambient cache."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", data.CacheCorruptionWarning)
        return {s: data.load("fashion_mnist", s) for s in data.SPLITS}


@pytest.fixture
def isolated(tmp_path, monkeypatch, fmnist_dirs) -> Path:
    """A private, empty QUANTLAB_CACHE that still uses the session's prepared TFDS data_dir."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("QUANTLAB_CACHE", str(cache))
    monkeypatch.setenv("QUANTLAB_TFDS_DIR", str(fmnist_dirs["tfds"]))
    return cache


@pytest.fixture
def empty_tfds(tmp_path, monkeypatch) -> Path:
    """A private cache and an empty TFDS data_dir: nothing is prepared."""
    monkeypatch.setenv("QUANTLAB_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("QUANTLAB_TFDS_DIR", str(tmp_path / "tfds"))
    return tmp_path / "tfds"


def _raw_idx(stem: str) -> tuple[np.ndarray, np.ndarray]:
    """The official IDX files, parsed with plain numpy: images [N,28,28,1] uint8, labels [N]."""
    with gzip.open(DEBIAN_DIR / f"{stem}-images-idx3-ubyte.gz") as f:
        images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28, 1)
    with gzip.open(DEBIAN_DIR / f"{stem}-labels-idx1-ubyte.gz") as f:
        labels = np.frombuffer(f.read(), np.uint8, offset=8).astype(np.int32)
    return images, labels


def _row_hashes(images: np.ndarray, labels: np.ndarray) -> Counter:
    flat = images.reshape(len(images), -1)
    return Counter(
        hashlib.blake2b(flat[i].tobytes() + bytes([labels[i]]), digest_size=16).digest()
        for i in range(len(images))
    )


# ----------------------------------------------------------------------------------------------
# API surface, argument errors


def test_datasets_and_info_need_no_tensorflow():
    code = (
        "import sys; from quantlab import data; "
        "i = [data.info(n) for n in data.DATASETS]; "
        "assert 'tensorflow' not in sys.modules and 'tensorflow_datasets' not in sys.modules; "
        "print(i[0]['splits'])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True)
    assert "54000" in out.stdout


def test_info_table():
    assert data.DATASETS == ("fashion_mnist", "mnist", "cifar10")
    fm = data.info("fashion_mnist")
    assert fm["splits"] == {"train": 54000, "validation": 6000, "test": 10000}
    assert fm["image_shape"] == (28, 28, 1) and fm["num_classes"] == 10
    assert fm["tfds_version"] == "3.0.1" and fm["class_names"][0] == "T-shirt/top"
    assert data.info("mnist")["image_shape"] == (28, 28, 1)
    c10 = data.info("cifar10")
    assert c10["image_shape"] == (32, 32, 3) and c10["tfds_version"] == "3.0.2"
    assert c10["splits"] == {"train": 45000, "validation": 5000, "test": 10000}
    assert json.dumps(fm)  # plain, JSON-ready values


def test_pinned_versions_are_tfds_code_versions():
    import tensorflow_datasets as tfds

    for name, version in data.TFDS_VERSIONS.items():
        assert str(tfds.builder_cls(name).VERSION) == version


@pytest.mark.parametrize("call", [lambda: data.load("fashion-mnist", "train"),
                                  lambda: data.info("imagenet")])
def test_unknown_dataset_lists_valid_names(call):
    with pytest.raises(ValueError) as e:
        call()
    msg = str(e.value)
    assert "dataset name" in msg
    assert all(n in msg for n in data.DATASETS)


def test_unknown_split_lists_valid_splits():
    with pytest.raises(ValueError) as e:
        data.load("fashion_mnist", "valid")
    msg = str(e.value)
    assert "split" in msg and "'valid'" in msg
    assert all(s in msg for s in ("train", "validation", "test"))


# ----------------------------------------------------------------------------------------------
# The real Fashion-MNIST


@pytest.mark.parametrize("split,n", [("train", 54000), ("validation", 6000), ("test", 10000)])
def test_real_shapes_dtypes_ranges(fmnist, split, n):
    images, labels = fmnist[split]
    assert images.shape == (n, 28, 28, 1) and images.dtype == np.uint8
    assert labels.shape == (n,) and labels.dtype == np.int32
    assert images.flags.c_contiguous and labels.flags.c_contiguous
    assert images.min() == 0 and images.max() == 255
    assert set(np.unique(labels).tolist()) == set(range(10))


def test_real_class_balance(fmnist):
    assert np.bincount(fmnist["test"][1], minlength=10).tolist() == [1000] * 10
    full = np.concatenate([fmnist["train"][1], fmnist["validation"][1]])
    assert np.bincount(full, minlength=10).tolist() == [6000] * 10


@needs_debian
def test_splits_are_the_official_files(fmnist):
    """train + validation is exactly the official training file (as a multiset of rows); test is t10k."""
    train, val = fmnist["train"], fmnist["validation"]
    joined = _row_hashes(np.concatenate([train[0], val[0]]), np.concatenate([train[1], val[1]]))
    assert joined == _row_hashes(*_raw_idx("train"))
    assert _row_hashes(*fmnist["test"]) == _row_hashes(*_raw_idx("t10k"))


@pytest.mark.slow
def test_carve_partitions_the_tfds_train_split_in_order(fmnist, isolated):
    """Putting train and validation back at their carve indices gives the TFDS train split exactly."""
    tfds_images, tfds_labels = data._tfds_arrays("fashion_mnist", "train")
    train_idx, val_idx = data.carve_indices(len(tfds_images))
    assert not np.intersect1d(train_idx, val_idx).size
    for split, idx in (("train", train_idx), ("validation", val_idx)):
        np.testing.assert_array_equal(fmnist[split][0], tfds_images[idx])
        np.testing.assert_array_equal(fmnist[split][1], tfds_labels[idx])
    tfds_test = data._tfds_arrays("fashion_mnist", "test")
    np.testing.assert_array_equal(fmnist["test"][0], tfds_test[0])
    np.testing.assert_array_equal(fmnist["test"][1], tfds_test[1])


# ----------------------------------------------------------------------------------------------
# The validation carve


def test_carve_is_deterministic_and_pinned():
    a_train, a_val = data.carve_indices(60000)
    np.random.seed(1234)  # the global numpy state must not matter
    np.random.default_rng(99).random(10)
    b_train, b_val = data.carve_indices(60000)
    np.testing.assert_array_equal(a_train, b_train)
    np.testing.assert_array_equal(a_val, b_val)
    assert len(a_val) == 6000 and len(a_train) == 54000
    # Pinned: changing the carve changes every validation result (and must change _CARVE_TAG).
    assert a_val[:8].tolist() == [9, 14, 39, 41, 42, 43, 59, 78]
    assert hashlib.sha256(a_val.tobytes()).hexdigest() == (
        "81bfa1e0ed5e104de45a6f22109e39e72973ed7ca1af82d3f12d64486d9dbdc0")


@settings(max_examples=60, deadline=None)
@given(st.integers(min_value=0, max_value=5000))
def test_carve_partitions_range(n):
    train, val = data.carve_indices(n)
    assert len(val) == round(0.1 * n) and len(train) + len(val) == n
    assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(n))
    assert np.all(np.diff(train) > 0) and np.all(np.diff(val) > 0)


def test_validation_identical_across_fresh_caches(fmnist, isolated):
    """A rebuild from TFDS into an empty cache gives the same validation split."""
    images, labels = data.load("fashion_mnist", "validation")
    np.testing.assert_array_equal(images, fmnist["validation"][0])
    np.testing.assert_array_equal(labels, fmnist["validation"][1])
    assert sorted(p.name for p in (isolated / "data").iterdir()) == sorted(
        data._cache_path("fashion_mnist", s).name for s in ("train", "validation"))


# ----------------------------------------------------------------------------------------------
# The cache


def test_cached_load_does_not_import_tensorflow(fmnist_dirs):
    code = (
        "import sys, time\n"
        "t = time.perf_counter()\n"
        "from quantlab import data\n"
        "for s in data.SPLITS: x, y = data.load('fashion_mnist', s)\n"
        "dt = time.perf_counter() - t\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'tensorflow_datasets')]\n"
        "assert not bad, bad[:5]\n"
        "print(f'cached load of three splits: {dt:.3f} s')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "QUANTLAB_CACHE": str(fmnist_dirs["cache"]),
           "QUANTLAB_TFDS_DIR": str(fmnist_dirs["tfds"]), "PYTHONWARNINGS": "error"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    print(out.stdout)


def _copy_cache(src: Path, dst: Path) -> None:
    (dst / "data").mkdir(parents=True, exist_ok=True)
    for f in (src / "data").glob("fashion_mnist-*.npz"):
        shutil.copy(f, dst / "data" / f.name)


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _flip_bytes(path: Path) -> None:
    raw = bytearray(path.read_bytes())
    for i in range(len(raw) // 2, len(raw) // 2 + 64):  # inside the images member
        raw[i] ^= 0xFF
    path.write_bytes(bytes(raw))


def _tamper_consistent_zip(path: Path) -> None:
    """A well-formed npz (valid zip CRCs) whose images differ in one pixel: only the digest catches it."""
    with np.load(path) as z:
        members = {k: z[k] for k in z.files}
    members["images"] = members["images"].copy()
    members["images"][0, 0, 0, 0] ^= 1
    np.savez(path, **members)


def _foreign_npz(path: Path) -> None:
    """Right member names are missing: an npz written by something else."""
    np.savez(path, x=np.zeros(3))


def _garbage(path: Path) -> None:
    path.write_bytes(b"not a zip file at all")


@pytest.mark.parametrize("corrupt", [_truncate, _flip_bytes, _tamper_consistent_zip, _foreign_npz,
                                     _garbage, lambda p: p.write_bytes(b"")],
                         ids=["truncate", "flip-bytes", "tampered-valid-zip", "foreign-npz",
                              "garbage", "empty"])
def test_corrupt_cache_is_detected_and_rebuilt(fmnist, fmnist_dirs, isolated, corrupt):
    _copy_cache(fmnist_dirs["cache"], isolated)
    path = data._cache_path("fashion_mnist", "test")
    corrupt(path)
    with pytest.warns(data.CacheCorruptionWarning, match="corrupt"):
        images, labels = data.load("fashion_mnist", "test")
    np.testing.assert_array_equal(images, fmnist["test"][0])
    np.testing.assert_array_equal(labels, fmnist["test"][1])
    # The rebuilt file is valid again: loading it warns about nothing.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        again = data.load("fashion_mnist", "test")
    np.testing.assert_array_equal(again[0], fmnist["test"][0])
    with zipfile.ZipFile(path) as z:
        assert z.testzip() is None


def test_zip_crc_error_is_caught(fmnist, fmnist_dirs, isolated):
    """Flipping bytes in a stored member trips zipfile's CRC check; that is caught, not raised."""
    _copy_cache(fmnist_dirs["cache"], isolated)
    path = data._cache_path("fashion_mnist", "validation")
    _flip_bytes(path)
    with pytest.raises(zipfile.BadZipFile):
        with zipfile.ZipFile(path) as z:
            z.read("images.npy")
    with pytest.warns(data.CacheCorruptionWarning):
        images, _ = data.load("fashion_mnist", "validation")
    np.testing.assert_array_equal(images, fmnist["validation"][0])


def test_failed_write_leaves_no_partial_file(isolated, monkeypatch):
    path = isolated / "data" / "x.npz"
    x = np.zeros((2, 28, 28, 1), np.uint8)
    y = np.zeros(2, np.int32)
    data._write_cache(path, "k", x, y)
    before = path.read_bytes()

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(OSError, match="disk full"):
        data._write_cache(path, "k", x + 1, y)
    assert path.read_bytes() == before
    assert [p.name for p in path.parent.iterdir()] == ["x.npz"]  # no temp file left behind


# ----------------------------------------------------------------------------------------------
# Offline preparation and its error messages


def test_rebuilt_upstream_files_match_tfds_checksums(tmp_path):
    import tensorflow_datasets as tfds

    if not all((DEBIAN_DIR / f).is_file() for f in FMNIST_SHA256):
        pytest.skip("Debian package dataset-fashion-mnist is not installed")
    builder = tfds.builder("fashion_mnist", version="3.0.1", data_dir=str(tmp_path / "tfds"))
    expected = data._expected_files(builder)
    assert {f: sha for f, _, _, sha in expected} == FMNIST_SHA256
    data._rebuild_fashion_mnist(tmp_path / "manual", expected)
    for f, sha in FMNIST_SHA256.items():
        assert data._sha256_file(tmp_path / "manual" / f) == sha
        # Same payload as Debian's file: only the gzip header differs.
        assert gzip.open(tmp_path / "manual" / f).read() == gzip.open(DEBIAN_DIR / f).read()


@pytest.mark.slow
@needs_debian
def test_tfds_itself_rejects_the_debian_files_as_is(tmp_path):
    """Why the rebuild is needed: TFDS's manual-download route checks sha256 and refuses them."""
    import tensorflow_datasets as tfds
    from tensorflow_datasets.core.download.download_manager import NonMatchingChecksumError

    manual = tmp_path / "manual"
    manual.mkdir()
    for f in FMNIST_SHA256:
        shutil.copy(DEBIAN_DIR / f, manual / f)
    builder = tfds.builder("fashion_mnist", version="3.0.1", data_dir=str(tmp_path / "tfds"))
    with pytest.raises(NonMatchingChecksumError, match="wrong checksum"):
        builder.download_and_prepare(
            download_dir=str(tmp_path / "dl"),
            download_config=tfds.download.DownloadConfig(manual_dir=str(manual)))


@pytest.mark.parametrize("name", ["mnist", "cifar10"])
def test_offline_missing_message(empty_tfds, monkeypatch, name):
    monkeypatch.setenv("QUANTLAB_OFFLINE", "1")  # reliable offline, no waiting on the network
    t = time.perf_counter()
    with pytest.raises(data.DataUnavailableError) as e:
        data.load(name, "train")
    assert time.perf_counter() - t < 10
    msg = str(e.value)
    mdir = empty_tfds / "downloads" / "manual" / name
    assert str(mdir) in msg and "manual_dir" in msg and "sha256sum" in msg
    if name == "mnist":
        for f, sha in MNIST_FILES.items():
            assert f in msg and sha in msg
            assert f"https://storage.googleapis.com/cvdf-datasets/mnist/{f}" in msg
    else:
        assert "cifar-10-binary.tar.gz" in msg
        assert "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz" in msg
        assert "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd" in msg
    assert not (empty_tfds / name).exists()  # nothing half-prepared


def test_offline_detected_without_the_env_var(empty_tfds, monkeypatch):
    monkeypatch.delenv("QUANTLAB_OFFLINE", raising=False)
    monkeypatch.setattr(data, "_network_available", lambda url, timeout=3.0: False)
    with pytest.raises(data.DataUnavailableError, match="train-labels-idx1-ubyte.gz"):
        data.load("mnist", "test")


def test_network_probe_is_quick(monkeypatch):
    for v in ("https_proxy", "HTTPS_PROXY", "http_proxy", "HTTP_PROXY", "QUANTLAB_OFFLINE"):
        monkeypatch.delenv(v, raising=False)
    t = time.perf_counter()
    assert data._network_available("http://127.0.0.1:9/", timeout=2.0) is False  # discard port
    assert time.perf_counter() - t < 3
    monkeypatch.setenv("QUANTLAB_OFFLINE", "1")
    assert data._network_available("https://storage.googleapis.com/") is False


def test_wrong_manual_files_are_rejected_before_tfds(empty_tfds, monkeypatch):
    monkeypatch.setenv("QUANTLAB_OFFLINE", "1")
    mdir = data.manual_dir("mnist")
    mdir.mkdir(parents=True)
    for f in MNIST_FILES:
        (mdir / f).write_bytes(b"not mnist")
    with pytest.raises(data.DataUnavailableError, match="do not match TFDS's registered checksums") as e:
        data.load("mnist", "test")
    assert MNIST_FILES["t10k-images-idx3-ubyte.gz"] in str(e.value)


def test_missing_debian_package_message(empty_tfds, monkeypatch, tmp_path):
    monkeypatch.setenv("QUANTLAB_OFFLINE", "1")
    monkeypatch.setenv("QUANTLAB_FASHION_MNIST_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(data.DataUnavailableError) as e:
        data.load("fashion_mnist", "test")
    msg = str(e.value)
    assert "apt-get install dataset-fashion-mnist" in msg
    assert str(data.manual_dir("fashion_mnist")) in msg


# ----------------------------------------------------------------------------------------------
# mnist / cifar10 code paths on TFDS mock data


@pytest.mark.slow
@pytest.mark.parametrize("name,shape", [("mnist", (28, 28, 1)), ("cifar10", (32, 32, 3))])
def test_mock_data_code_paths(empty_tfds, monkeypatch, name, shape):
    import tensorflow_datasets as tfds

    # Pretend the network is there: under mock_data, download_and_prepare is a no-op.
    monkeypatch.setattr(data, "_network_available", lambda url, timeout=3.0: True)
    n = 40
    with tfds.testing.mock_data(num_examples=n):
        out = {}
        for split in data.SPLITS:
            with pytest.warns(UserWarning, match="not caching"):
                out[split] = data.load(name, split)
    sizes = {"train": n - 4, "validation": 4, "test": n}
    for split, (images, labels) in out.items():
        assert images.shape == (sizes[split], *shape) and images.dtype == np.uint8
        assert labels.shape == (sizes[split],) and labels.dtype == np.int32
        assert labels.min() >= 0 and labels.max() < 10
    cache = Path(os.environ["QUANTLAB_CACHE"]) / "data"
    assert not cache.exists() or not any(cache.iterdir())  # mock data never reaches the cache


# ----------------------------------------------------------------------------------------------
# Silence: data preparation writes nothing into a notebook cell or a terminal


@needs_debian
@pytest.mark.slow
def test_first_preparation_prints_nothing(tmp_path):
    """From empty caches, preparing Fashion-MNIST (TensorFlow, absl, TFDS and its progress bars) writes
    nothing to stdout or stderr, at the file-descriptor level too (where a notebook cell would show it)."""
    code = (
        "from quantlab import data\n"
        "x, y = data.load('fashion_mnist', 'test')\n"
        "print('loaded', len(y))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "QUANTLAB_CACHE": str(tmp_path / "cache"),
           "QUANTLAB_TFDS_DIR": str(tmp_path / "tfds")}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout == "loaded 10000\n"
    assert out.stderr == ""


def test_quiet_replays_what_was_printed_when_preparation_fails(capfd, monkeypatch):
    def noisy_failure(name, split):
        print("tfds says why")
        os.write(2, b"a C++ log line\n")
        raise RuntimeError("preparation failed")

    monkeypatch.setattr(data, "_tfds_read", noisy_failure)
    with pytest.raises(RuntimeError, match="preparation failed"):
        data._tfds_arrays("fashion_mnist", "test")
    err = capfd.readouterr().err
    assert "tfds says why" in err and "a C++ log line" in err


def test_quiet_swallows_output_on_success(capfd, monkeypatch):
    def noisy(name, split):
        print("Dl Size...: 100%")
        os.write(2, b"oneDNN custom operations are on\n")
        warnings.warn("a TqdmWarning")
        return np.zeros((0, 28, 28, 1), np.uint8), np.zeros(0, np.int32)

    monkeypatch.setattr(data, "_tfds_read", noisy)
    data._tfds_arrays("fashion_mnist", "test")
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""


def test_data_command(fmnist_dirs, capsys):
    from quantlab.__main__ import main

    assert main(["data"]) == 0
    assert capsys.readouterr().out == f"Fashion-MNIST: ready in {data.cache_dir() / 'data'}\n"
    assert main(["data", "imagenet"]) == 2
    assert "'imagenet'; valid names: fashion_mnist, mnist, cifar10" in capsys.readouterr().err
