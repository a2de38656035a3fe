"""Content-addressed snapshots of the workspace in SQLite: the file part of a rollback point.

A manifest lists (path, sha256, size, mode) for every file :func:`walk_workspace` lists; file
contents live once each in ``blobs``. A stat cache (size, mtime_ns, inode -> sha256) lets a snapshot
with nothing changed cost one walk and a few queries.

Files are read, hashed and compressed on a small thread pool, ahead of this thread, which writes
the blobs to SQLite meanwhile; a blob is stored compressed with Zstandard or raw
(``blobs.compression`` is ``"zstd"`` or ``"none"``, or ``"zlib"`` from earlier versions, see
:func:`engine.snapshots.blob_store.pack`).

Taking snapshots is here; comparing and restoring is in :mod:`engine.snapshots.restore`, the
tables, blobs and cache in :mod:`engine.snapshots.blob_store`. Import the public names from this module.

Decisions a caller can rely on:

- A snapshot whose files, modes and skipped paths equal those of an existing manifest of the same
  root reuses that manifest's id (``SnapshotInfo.reused``); manifests are never modified.
- Writes happen in one ``BEGIN IMMEDIATE`` transaction: a failure leaves no manifest, blob or cache
  row behind. The walk itself runs before the transaction, without holding the write lock.
- A file that vanishes between the walk and its read is left out of the manifest. A file that
  changes while it is read is re-read (up to three times) and otherwise stored as read, uncached.
- Files that cannot be read (permission denied, over ``MAX_FILE_BYTES``, a name that is not UTF-8)
  and directories that cannot be listed are reported in ``SnapshotInfo.skipped`` and recorded with
  the manifest; a restore leaves them alone rather than deleting what it never captured.
- The cache trusts an entry only if the file's mtime was at least ``RACY_WINDOW_NS`` older than the
  moment it was hashed (git's "racily clean" problem): a same-size rewrite within one timestamp
  granule of the hash is never missed, at the price of rehashing just-written files once more.
- Every ``stat_cache`` row names a blob that exists: :func:`delete_unreferenced` drops the rows
  whose blob it deletes, so a cache hit never produces a manifest pointing at a missing blob.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from engine.snapshots.blob_store import (
    SNAPSHOT_SCHEMA,
    BlobWriter,
    SnapshotError,
    database_files,
    ensure_schema,
    load_stat_cache,
    require_manifest,
    write_transaction,
)
from engine.snapshots.file_io import FileTooLargeError
from engine.snapshots.read_ahead import read_ahead
from engine.snapshots.restore import WorkspaceDiff, diff_against, restore_snapshot
from engine.snapshots.workspace_files import FileEntry, walk_workspace

__all__ = [
    "SNAPSHOT_SCHEMA",
    "SnapshotError",
    "SnapshotInfo",
    "WorkspaceDiff",
    "delete_unreferenced",
    "diff_against",
    "ensure_schema",
    "manifest_files",
    "restore_snapshot",
    "take_snapshot",
]

_WORKERS = 2
"""Threads that read, hash and compress files; the caller's thread writes to SQLite meanwhile."""


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    manifest_id: int
    files: int
    bytes: int
    """Total size of the files in the manifest, uncompressed."""
    new_blobs: int
    new_bytes: int
    """Bytes added to the database by the new blobs (after compression)."""
    hashed_files: int
    """Files read and hashed because the stat cache could not vouch for them."""
    skipped: list[str] = field(default_factory=list)
    """Paths left out because they could not be read; directories end in "/"."""
    reused: bool = False
    """True when an identical earlier manifest was returned instead of a new one."""


def take_snapshot(conn: sqlite3.Connection, root: Path) -> SnapshotInfo:
    """Record the workspace as it is now and return the manifest that describes it."""
    root = Path(root).resolve()
    unreadable: list[str] = []
    try:
        own = database_files(conn, root)
        entries = walk_workspace(root, unreadable=unreadable)
        if own:
            entries = [entry for entry in entries if entry.path not in own]
    except OSError as exc:
        raise SnapshotError(f"cannot list workspace {root}: {exc.strerror or exc}") from exc
    with write_transaction(conn):
        return _record(conn, root, entries, unreadable)


def _record(
    conn: sqlite3.Connection, root: Path, entries: list[FileEntry], unreadable: list[str]
) -> SnapshotInfo:
    key = str(root)
    cache = load_stat_cache(conn, key)
    rows: list[tuple[str, str, int, int]] = []
    skipped = [(path, "directory cannot be listed") for path in unreadable]
    cache_rows: list[tuple[str, str, int, int, int, str, int]] = []
    hashed = 0
    pool = ThreadPoolExecutor(_WORKERS, thread_name_prefix="snapshot")
    try:
        blobs = BlobWriter(conn, pool)
        # In a database with no blob yet every file read is new: the thread that reads it packs
        # it too (one hand-over per file instead of two)
        reads = read_ahead(pool, root, entries, cache, pack_too=blobs.none_stored)
        for entry, sha, pending in reads:
            size, mode = entry.size, entry.mode
            if pending is not None:
                hashed += 1
                try:
                    captured = pending.result()
                except PermissionError:
                    skipped.append((entry.path, "permission denied"))
                    continue
                except FileTooLargeError:
                    skipped.append((entry.path, "file too large"))
                    continue
                except OSError as exc:
                    raise SnapshotError(f"cannot read {entry.path}: {exc.strerror or exc}") from exc
                if captured is None:
                    continue
                sha, size, mode = captured.sha256, captured.size, captured.mode
                blobs.add(sha, captured.data, captured.packed)
                if captured.cache_key is not None:
                    cache_rows.append(
                        (key, entry.path, *captured.cache_key, sha, captured.hashed_at)
                    )
            elif sha is None:
                skipped.append((_printable(entry.path), "name is not valid UTF-8"))
                continue
            rows.append((entry.path, sha, size, mode))
        blobs.flush()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    skipped.sort()
    digest = _manifest_digest(rows, skipped)
    found = conn.execute(
        "SELECT id FROM manifests WHERE root = ? AND digest = ? ORDER BY id DESC LIMIT 1",
        (key, digest),
    ).fetchone()
    total = sum(row[2] for row in rows)
    if found:
        manifest_id = found[0]
    else:
        manifest_id = conn.execute(
            "INSERT INTO manifests (created_at, root, files, bytes, digest) VALUES (?, ?, ?, ?, ?)"
            " RETURNING id",
            (time.time(), key, len(rows), total, digest),
        ).fetchone()[0]
        conn.executemany(
            "INSERT INTO manifest_files (manifest_id, path, sha256, size, mode)"
            " VALUES (?, ?, ?, ?, ?)",
            ((manifest_id, *row) for row in rows),
        )
        conn.executemany(
            "INSERT INTO manifest_skipped (manifest_id, path, reason) VALUES (?, ?, ?)",
            ((manifest_id, path, reason) for path, reason in skipped),
        )
    conn.executemany("INSERT OR REPLACE INTO stat_cache VALUES (?, ?, ?, ?, ?, ?, ?)", cache_rows)
    gone = cache.keys() - {row[0] for row in rows}
    conn.executemany(
        "DELETE FROM stat_cache WHERE root = ? AND path = ?", ((key, path) for path in gone)
    )
    return SnapshotInfo(
        manifest_id=manifest_id,
        files=len(rows),
        bytes=total,
        new_blobs=blobs.count,
        new_bytes=blobs.stored_bytes,
        hashed_files=hashed,
        skipped=[path for path, _ in skipped],
        reused=bool(found),
    )


def _printable(path: str) -> str:
    return path.encode("utf-8", "backslashreplace").decode("utf-8")


def _manifest_digest(rows: list[tuple[str, str, int, int]], skipped: list[tuple[str, str]]) -> str:
    lines = [f"{path}\0{sha}\0{mode:o}\n" for path, sha, _size, mode in rows]
    lines += [f"{path}\0skipped\n" for path, _reason in skipped]
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def manifest_files(conn: sqlite3.Connection, manifest_id: int) -> dict[str, str]:
    """Path -> sha256 of every file in the manifest."""
    require_manifest(conn, manifest_id)
    rows = conn.execute(
        "SELECT path, sha256 FROM manifest_files WHERE manifest_id = ? ORDER BY path",
        (manifest_id,),
    )
    return dict(rows)


def delete_unreferenced(
    conn: sqlite3.Connection, keep_manifest_ids: Iterable[int]
) -> tuple[int, int]:
    """Delete every manifest not kept, then the blobs no kept manifest uses.

    Returns (manifests deleted, blobs deleted). The file does not shrink until the caller VACUUMs.
    """
    keep = json.dumps(sorted({int(i) for i in keep_manifest_ids}))
    not_kept = "NOT IN (SELECT value FROM json_each(?))"
    with write_transaction(conn):
        conn.execute(f"DELETE FROM manifest_files WHERE manifest_id {not_kept}", (keep,))
        conn.execute(f"DELETE FROM manifest_skipped WHERE manifest_id {not_kept}", (keep,))
        manifests = conn.execute(f"DELETE FROM manifests WHERE id {not_kept}", (keep,)).rowcount
        blobs = conn.execute(
            "DELETE FROM blobs WHERE sha256 NOT IN (SELECT sha256 FROM manifest_files)"
        ).rowcount
        conn.execute("DELETE FROM stat_cache WHERE sha256 NOT IN (SELECT sha256 FROM blobs)")
    return manifests, blobs
