"""quantlab.training.netcache: entries round-trip; damaged ones are named, moved aside and retrained."""

from __future__ import annotations

import numpy as np
import pytest

from quantlab.training import netcache

LIKE = {"w": np.zeros((3, 4), np.float32), "b": np.zeros(4, np.float32)}


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("QUANTLAB_CACHE", str(tmp_path))
    return tmp_path


def saved(entry="e1"):
    params = {"w": np.arange(12, dtype=np.float32).reshape(3, 4), "b": np.ones(4, np.float32)}
    netcache.save(entry, params, {"test_error": [0.1]})
    return netcache.directory() / f"{entry}.npz", params


def test_round_trip_and_key():
    path, params = saved()
    got, meta = netcache.load("e1", LIKE)
    np.testing.assert_array_equal(got["w"], params["w"])
    assert meta == {"test_error": [0.1]}
    assert netcache.key({"a": 1, "b": 2}) == netcache.key({"b": 2, "a": 1}) and len(netcache.key(1)) == 24
    assert netcache.load("missing", LIKE) is None


def truncate(path):
    path.write_bytes(path.read_bytes()[:50])


def flip(path):
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))


@pytest.mark.parametrize("damage", [truncate, flip, lambda p: p.write_bytes(b""), lambda p: p.write_bytes(b"x" * 99)],
                         ids=["truncated", "flipped-bit", "empty", "garbage"])
def test_a_damaged_entry_is_named_moved_aside_and_missed(damage):
    path, _ = saved()
    damage(path)
    with pytest.warns(netcache.DamagedEntryWarning, match=str(path)):
        assert netcache.load("e1", LIKE) is None
    assert not path.exists() and path.with_name(path.name + ".corrupt").exists()
    saved()  # retrained and written again: loads cleanly
    assert netcache.load("e1", LIKE) is not None


def test_an_entry_of_another_shape_is_ignored_quietly():
    saved()
    other = {"w": np.zeros((2, 2), np.float32), "b": np.zeros(4, np.float32)}
    assert netcache.load("e1", other) is None
