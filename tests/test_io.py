"""Atomic writers: content round-trips, and a failed write leaves nothing behind."""

from __future__ import annotations

import json
import os
import stat
import sys

import numpy as np
import pytest

from spikebridge._io import atomic_save_npz, atomic_write_bytes, atomic_write_json, atomic_write_text


def _leftovers(folder):
    return sorted(p.name for p in folder.iterdir())


def test_write_text_round_trip_and_creates_parents(tmp_path):
    path = tmp_path / "a" / "b" / "notes.md"
    text = "line one\r\nline two, ünïcode\n"
    assert atomic_write_text(path, text) == path
    assert path.read_bytes() == text.encode("utf-8")
    assert _leftovers(path.parent) == ["notes.md"]


def test_write_text_replaces_existing_file(tmp_path):
    path = tmp_path / "notes.txt"
    atomic_write_text(path, "old")
    atomic_write_text(str(path), "new")
    assert path.read_text() == "new"
    assert _leftovers(tmp_path) == ["notes.txt"]


def test_write_bytes_round_trip(tmp_path):
    path = tmp_path / "blob.bin"
    data = bytes(range(256))
    atomic_write_bytes(path, data)
    assert path.read_bytes() == data


@pytest.mark.parametrize("writer, bad", [(atomic_write_text, b"bytes"), (atomic_write_bytes, "text")])
def test_writers_reject_wrong_type(tmp_path, writer, bad):
    with pytest.raises(TypeError, match="must be"):
        writer(tmp_path / "x", bad)
    assert _leftovers(tmp_path) == []


def test_write_json_converts_numpy(tmp_path):
    path = tmp_path / "run" / "metrics.json"
    obj = {
        "z_first": np.float32(0.5),
        "count": np.int64(3),
        "flag": np.bool_(True),
        "matrix": np.arange(4).reshape(2, 2),
        "nested": [{"rate": np.float64(1.25)}, (np.int8(1), 2)],
        np.int64(7): "numpy key",
    }
    atomic_write_json(path, obj)
    text = path.read_text()
    assert text.endswith("\n")
    assert text.startswith('{\n  "z_first"')  # indent 2, insertion order kept (not sorted)
    assert json.loads(text) == {
        "z_first": 0.5,
        "count": 3,
        "flag": True,
        "matrix": [[0, 1], [2, 3]],
        "nested": [{"rate": 1.25}, [1, 2]],
        "7": "numpy key",
    }


def test_failed_json_write_leaves_no_file_and_no_temp(tmp_path):
    path = tmp_path / "out.json"
    with pytest.raises(TypeError, match="not JSON serializable"):
        atomic_write_json(path, {"ok": 1, "bad": object()})
    assert _leftovers(tmp_path) == []


def test_failed_json_write_keeps_previous_file(tmp_path):
    path = tmp_path / "out.json"
    atomic_write_json(path, {"version": 1})
    with pytest.raises(TypeError):
        atomic_write_json(path, {"version": 2, "bad": {1, 2}})
    assert json.loads(path.read_text()) == {"version": 1}
    assert _leftovers(tmp_path) == ["out.json"]


def test_save_npz_round_trip_compressed_and_exact_path(tmp_path):
    path = tmp_path / "sub" / "arrays.bin"  # no .npz suffix appended
    up = np.zeros((1000, 3), dtype=np.uint8)
    atomic_save_npz(path, upstream=up, bin_ms=np.asarray(10.0))
    assert _leftovers(path.parent) == ["arrays.bin"]
    assert path.stat().st_size < up.nbytes  # compressed
    with np.load(path, allow_pickle=False) as loaded:
        np.testing.assert_array_equal(loaded["upstream"], up)
        assert loaded["upstream"].dtype == np.uint8
        assert float(loaded["bin_ms"]) == 10.0


def test_save_npz_refuses_object_arrays_and_writes_nothing(tmp_path):
    with pytest.raises(TypeError, match="dtype object"):
        atomic_save_npz(tmp_path / "x.npz", good=np.zeros(3), bad=np.array([{}, None], dtype=object))
    assert _leftovers(tmp_path) == []
    with pytest.raises(ValueError, match="at least one array"):
        atomic_save_npz(tmp_path / "x.npz")


def test_failure_during_npz_write_removes_temp(tmp_path, monkeypatch):
    def explode(file, **arrays):
        file.write(b"partial")
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez_compressed", explode)
    with pytest.raises(OSError, match="disk full"):
        atomic_save_npz(tmp_path / "x.npz", a=np.zeros(2))
    assert _leftovers(tmp_path) == []


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX permission bits")
def test_written_file_gets_umask_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        path = atomic_write_text(tmp_path / "perm.txt", "x")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
