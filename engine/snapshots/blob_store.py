"""The SQLite side of snapshots: schema, write transactions, blobs and the stat cache.

Shared by taking snapshots (:mod:`engine.snapshots.take`) and restoring them
(:mod:`engine.snapshots.restore`).
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import zlib
from collections.abc import Iterator
from concurrent.futures import Executor, Future
from contextlib import contextmanager
from pathlib import Path
from typing import TypeAlias

import zstandard

from engine.snapshots.workspace_files import FileEntry

__all__ = [
    "RACY_WINDOW_NS",
    "SNAPSHOT_SCHEMA",
    "BlobWriter",
    "CachedHash",
    "SnapshotError",
    "database_files",
    "ensure_schema",
    "load_blob",
    "load_stat_cache",
    "pack",
    "require_manifest",
    "storable",
    "trusted_sha",
    "unpack",
    "write_transaction",
]


RACY_WINDOW_NS = 2_000_000_000
"""Covers timestamp granularity up to 2 s (FAT, ext3, HFS+); ext4, xfs, btrfs need far less."""
_BLOB_BATCH_BYTES = 16 * 1024 * 1024
_BLOB_BATCH_ROWS = 500
_PROBE_BYTES = 16 * 1024
"""Enough to tell compressed or random data."""
_PROBE_KEEP = 0.9
ZSTD_LEVEL = 1
"""Zstandard's fastest regular level: on source files 3 to 5 times zlib level 1's speed (340
against 72 to 123 MB/s here) for slightly fewer bytes, and 2.7 times its speed to restore."""
_local = threading.local()

SNAPSHOT_SCHEMA = """
CREATE TABLE IF NOT EXISTS blobs (
    sha256 TEXT PRIMARY KEY,
    size INTEGER NOT NULL,
    compression TEXT NOT NULL,
    data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS manifests (
    id INTEGER PRIMARY KEY,
    created_at REAL NOT NULL,
    root TEXT NOT NULL,
    files INTEGER NOT NULL,
    bytes INTEGER NOT NULL,
    digest TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS manifests_by_digest ON manifests (root, digest);
CREATE TABLE IF NOT EXISTS manifest_files (
    manifest_id INTEGER NOT NULL REFERENCES manifests (id),
    path TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    mode INTEGER NOT NULL,
    PRIMARY KEY (manifest_id, path)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS manifest_skipped (
    manifest_id INTEGER NOT NULL REFERENCES manifests (id),
    path TEXT NOT NULL,
    reason TEXT NOT NULL,
    PRIMARY KEY (manifest_id, path)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS stat_cache (
    root TEXT NOT NULL,
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    ino INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    hashed_at_ns INTEGER NOT NULL,
    PRIMARY KEY (root, path)
) WITHOUT ROWID;
"""


class SnapshotError(Exception):
    """A snapshot could not be taken or restored; the message names the path or manifest."""


CachedHash: TypeAlias = tuple[int, int, int, str, int]
"""A ``stat_cache`` row without its key: (size, mtime_ns, ino, sha256, hashed_at_ns).

A plain tuple: a snapshot loads one per file of the workspace, where nothing else is read.
"""


def ensure_schema(conn: sqlite3.Connection) -> None:
    conn.executescript(SNAPSHOT_SCHEMA)


@contextmanager
def write_transaction(conn: sqlite3.Connection) -> Iterator[None]:
    if conn.in_transaction:
        raise SnapshotError("the connection already has an open transaction")
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.rollback()
        raise
    conn.commit()


def trusted_sha(cached: CachedHash | None, entry: FileEntry) -> str | None:
    if (
        cached is None
        or cached[0] != entry.size
        or cached[1] != entry.mtime_ns
        or cached[2] != entry.ino
        or entry.mtime_ns >= cached[4] - RACY_WINDOW_NS
    ):
        return None
    return cached[3]


def load_stat_cache(conn: sqlite3.Connection, key: str) -> dict[str, CachedHash]:
    rows = conn.execute(
        "SELECT path, size, mtime_ns, ino, sha256, hashed_at_ns FROM stat_cache WHERE root = ?",
        (key,),
    )
    return {row[0]: row[1:] for row in rows}


def storable(path: str) -> bool:
    """A name that is not valid UTF-8 cannot be stored as TEXT: it is skipped and never touched."""
    if path.isascii():
        return True
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def pack(data: bytes) -> tuple[str, bytes]:
    """The column values ``(compression, data)`` that store ``data`` in the fewest bytes cheaply.

    Zstandard (level :data:`ZSTD_LEVEL`) when it makes the blob smaller. A file over
    ``_PROBE_BYTES`` whose first ``_PROBE_BYTES`` shrink by less than ``1 - _PROBE_KEEP`` is
    stored raw without compressing the rest: compiled, compressed and media files gain nothing.
    Blobs of earlier versions are zlib streams (``"zlib"``) and still load.
    """
    compress = _compressor().compress
    if len(data) > _PROBE_BYTES:
        with memoryview(data) as view:
            probe = len(compress(view[:_PROBE_BYTES]))
        if probe > _PROBE_BYTES * _PROBE_KEEP:
            return "none", data
    packed = compress(data)
    return ("zstd", packed) if len(packed) < len(data) else ("none", data)


def _compressor() -> zstandard.ZstdCompressor:
    """This thread's compressor (one may not be used by two threads at once)."""
    if not hasattr(_local, "compressor"):
        _local.compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
    return _local.compressor


def _decompressor() -> zstandard.ZstdDecompressor:
    """This thread's decompressor, as :func:`_compressor`."""
    if not hasattr(_local, "decompressor"):
        _local.decompressor = zstandard.ZstdDecompressor()
    return _local.decompressor


def unpack(compression: str, data: bytes) -> bytes | None:
    """A blob's content from its column values; None for a compression this version does not
    know."""
    if compression == "zstd":
        return _decompressor().decompress(data)
    if compression == "zlib":
        return zlib.decompress(data)
    if compression == "none":
        return data
    return None


class BlobWriter:
    """Stores each new content once, packed by :func:`pack`, in batches.

    With a ``pool``, packing runs on its threads (compressing releases the GIL) while the caller goes
    on reading files; :meth:`flush` waits for them and writes the batch in order. The
    connection is only ever used from the caller's thread.
    """

    def __init__(self, conn: sqlite3.Connection, pool: Executor | None = None) -> None:
        self._conn = conn
        self._pool = pool
        self.none_stored = conn.execute("SELECT 1 FROM blobs LIMIT 1").fetchone() is None
        """Nothing stored yet (the first snapshot of a database): no lookup per new file. The
        caller holds the write transaction, so no other writer adds blobs meanwhile."""
        self._seen: set[str] = set()
        self._pending: list[tuple[str, int, Future[tuple[str, bytes]] | tuple[str, bytes]]] = []
        self._pending_bytes = 0
        self.count = 0
        self.stored_bytes = 0

    def add(self, sha: str, data: bytes, packed: tuple[str, bytes] | None = None) -> None:
        """Store ``data`` under ``sha`` unless it is there; ``packed`` is :func:`pack` of it, where
        the caller's thread that read the file packed it too."""
        if sha in self._seen:
            return
        self._seen.add(sha)
        if (
            not self.none_stored
            and self._conn.execute("SELECT 1 FROM blobs WHERE sha256 = ?", (sha,)).fetchone()
        ):
            return
        if packed is None:
            packed_or_pending = pack(data) if self._pool is None else self._pool.submit(pack, data)
        else:
            packed_or_pending = packed
        self._pending.append((sha, len(data), packed_or_pending))
        self.count += 1
        self._pending_bytes += len(data)
        if len(self._pending) >= _BLOB_BATCH_ROWS or self._pending_bytes >= _BLOB_BATCH_BYTES:
            self.flush()

    def flush(self) -> None:
        rows = []
        for sha, size, packed in self._pending:
            compression, payload = packed.result() if isinstance(packed, Future) else packed
            rows.append((sha, size, compression, payload))
            self.stored_bytes += len(payload)
        self._pending = []
        self._pending_bytes = 0
        self._conn.executemany("INSERT OR IGNORE INTO blobs VALUES (?, ?, ?, ?)", rows)


def load_blob(conn: sqlite3.Connection, sha: str) -> bytes:
    row = conn.execute("SELECT compression, data FROM blobs WHERE sha256 = ?", (sha,)).fetchone()
    if row is None:
        raise SnapshotError(f"blob {sha} is missing from the database")
    compression, stored = row
    try:
        data = unpack(compression, stored)
    except (zlib.error, zstandard.ZstdError) as exc:
        raise SnapshotError(f"blob {sha} is corrupt ({exc})") from exc
    if data is None:
        raise SnapshotError(f"blob {sha} has unknown compression {compression!r}")
    if hashlib.sha256(data).hexdigest() != sha:
        raise SnapshotError(f"blob {sha} is corrupt (its content does not match its digest)")
    return bytes(data)


def require_manifest(conn: sqlite3.Connection, manifest_id: int) -> None:
    if conn.execute("SELECT 1 FROM manifests WHERE id = ?", (manifest_id,)).fetchone() is None:
        raise SnapshotError(f"snapshot manifest {manifest_id} does not exist")


def database_files(conn: sqlite3.Connection, root: Path) -> set[str]:
    """The database's own files, if `--db` puts them in the workspace: never captured or touched."""
    own: set[str] = set()
    for _seq, _name, file in conn.execute("PRAGMA database_list"):
        if not file:
            continue
        db = Path(file).resolve()
        for suffix in ("", "-wal", "-shm", "-journal"):
            try:
                own.add(db.with_name(db.name + suffix).relative_to(root).as_posix())
            except ValueError:
                break
    return own
