"""How snapshot blobs are packed and read back, and taking snapshots with reads done ahead."""

from __future__ import annotations

import hashlib
import os
import random
import sqlite3
import time
import zlib
from pathlib import Path

import pytest
import zstandard

from engine.snapshots import take as snapshots
from engine.snapshots.blob_store import load_blob, pack, unpack
from engine.snapshots.take import manifest_files, restore_snapshot, take_snapshot
from tests.helpers import before_reads

AGED = time.time() - 3600


def text(rng: random.Random, size: int) -> bytes:
    words = [rng.randbytes(rng.randint(2, 6)).hex() for _ in range(300)]
    return " ".join(rng.choices(words, k=size // 4)).encode()[:size]


def write_aged(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (AGED, AGED))


def stored(conn: sqlite3.Connection, data: bytes) -> tuple[str, int, int]:
    """(compression, size, stored length) of the blob holding ``data``."""
    return conn.execute(
        "SELECT compression, size, length(data) FROM blobs WHERE sha256 = ?",
        (hashlib.sha256(data).hexdigest(),),
    ).fetchone()


def test_incompressible_data_is_stored_raw_and_compressible_data_packed() -> None:
    rng = random.Random(1)
    random_bytes = rng.randbytes(700_000)
    assert pack(random_bytes) == ("none", random_bytes)
    assert pack(rng.randbytes(300))[0] == "none"
    for data in (text(rng, 5_000), text(rng, 700_000), b"a" * 16 * 1024 + rng.randbytes(100_000)):
        compression, payload = pack(data)
        assert compression == "zstd"
        assert len(payload) < len(data)
        assert unpack(compression, payload) == data


def test_a_file_that_only_compresses_after_its_probe_is_stored_raw() -> None:
    data = random.Random(2).randbytes(16 * 1024) + b"\0" * 1_000_000
    assert pack(data) == ("none", data)


@pytest.mark.parametrize("size", [0, 1, 200, 511, 512, 4_000, 8_000, 70_000, 300_000])
def test_packed_bytes_are_a_standard_zstd_frame(size: int) -> None:
    """Any Zstandard reader restores a blob: the frame states its size, and ``zstd -d`` reads it."""
    data = text(random.Random(size), size)
    compression, payload = pack(data)
    assert compression in ("zstd", "none") and (compression == "zstd") == (size >= 200)
    assert unpack(compression, payload) == data
    if compression == "zstd":
        params = zstandard.get_frame_parameters(payload)
        assert params.content_size == size
        assert zstandard.ZstdDecompressor().decompress(payload) == data


def test_blobs_written_by_earlier_versions_still_load(conn: sqlite3.Connection) -> None:
    """Earlier versions stored a blob raw or as ``zlib.compress(data, 1)``, 32 KiB window."""
    rng = random.Random(3)
    raw, compressible = rng.randbytes(100_000), text(rng, 100_000)
    rows = [(raw, "none", raw), (compressible, "zlib", zlib.compress(compressible, 1))]
    for data, compression, payload in rows:
        sha = hashlib.sha256(data).hexdigest()
        conn.execute(
            "INSERT INTO blobs VALUES (?, ?, ?, ?)", (sha, len(data), compression, payload)
        )
        assert load_blob(conn, sha) == data


def test_many_files_read_ahead_are_recorded_in_order_and_restored_exactly(
    conn: sqlite3.Connection, ws: Path
) -> None:
    """More files than the read-ahead window and the blob batch, mixed sizes and duplicates."""
    rng = random.Random(4)
    contents: dict[str, bytes] = {}
    for i in range(700):
        if i % 97 == 0:
            data = rng.randbytes(rng.randint(70_000, 400_000))
        elif i % 13 == 0:
            data = b"same content\n"
        else:
            data = text(rng, rng.randint(0, 6_000))
        contents[f"d{i % 7}/f{i:04d}.txt"] = data
        write_aged(ws / f"d{i % 7}/f{i:04d}.txt", data)
    first = take_snapshot(conn, ws)
    assert first.hashed_files == first.files == len(contents)
    assert first.new_blobs == len(set(contents.values()))
    assert manifest_files(conn, first.manifest_id) == {
        path: hashlib.sha256(data).hexdigest() for path, data in sorted(contents.items())
    }
    big = next(data for data in contents.values() if len(data) >= 70_000)
    assert stored(conn, big) == ("none", len(big), len(big))

    changed = sorted(contents)[::5]
    for path in changed:
        write_aged(ws / path, b"changed " + path.encode())
    second = take_snapshot(conn, ws)
    assert second.hashed_files == len(changed)
    assert not second.reused

    for path in changed:
        (ws / path).unlink()
    diff = restore_snapshot(conn, ws, first.manifest_id)
    assert diff.deleted == changed
    for path, data in contents.items():
        assert (ws / path).read_bytes() == data


def test_reads_keep_going_when_a_file_vanishes_after_the_walk(
    conn: sqlite3.Connection, ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(100):
        write_aged(ws / f"f{i:03d}", f"file {i}\n".encode())

    def vanish(path: Path) -> None:
        if path.name == "f050":
            path.unlink()

    before_reads(monkeypatch, vanish)
    info = take_snapshot(conn, ws)
    assert info.files == 99
    assert "f050" not in manifest_files(conn, info.manifest_id)


def test_a_damaged_blob_is_refused_with_its_digest(conn: sqlite3.Connection) -> None:
    data = text(random.Random(4), 50_000)
    sha = hashlib.sha256(data).hexdigest()
    compression, payload = pack(data)
    damaged = payload[:-8] + bytes(8)
    conn.execute("INSERT INTO blobs VALUES (?, ?, ?, ?)", (sha, len(data), compression, damaged))
    with pytest.raises(snapshots.SnapshotError, match=f"blob {sha} is corrupt"):
        load_blob(conn, sha)


def test_a_file_that_cannot_be_read_is_skipped_alone_in_its_batch(
    conn: sqlite3.Connection, ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Files are read in batches by the pool; one file's error does not cost its neighbours."""
    for i in range(200):
        write_aged(ws / f"f{i:03d}", f"file {i}\n".encode())

    def deny(path: Path) -> None:
        if path.name in ("f010", "f011", "f150"):
            raise PermissionError(13, "Permission denied", str(path))

    before_reads(monkeypatch, deny)
    info = take_snapshot(conn, ws)
    assert info.files == 197 and info.skipped == ["f010", "f011", "f150"]
    stored_files = manifest_files(conn, info.manifest_id)
    assert "f012" in stored_files and "f009" in stored_files and "f010" not in stored_files
