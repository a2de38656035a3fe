"""Content-addressed snapshots of the workspace in SQLite: the file part of a rollback point.

A manifest lists (path, sha256, size, mode) for every file :func:`walk_workspace` lists; file
contents live once each in ``blobs``. A stat cache (size, mtime_ns, inode -> sha256) lets a snapshot
with nothing changed cost one walk and a few queries.

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
import os
import shutil
import sqlite3
import stat
import time
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from engine.workspace_files import (
    NEVER_ENTERED,
    FileEntry,
    FileTooLargeError,
    lstat_entry,
    make_parent_dirs,
    read_ignore_from_disk,
    read_link,
    read_regular_file,
    remove_files,
    walk_workspace,
    write_file_atomic,
    write_symlink_atomic,
)

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

RACY_WINDOW_NS = 2_000_000_000
"""Covers timestamp granularity up to 2 s (FAT, ext3, HFS+); ext4, xfs, btrfs need far less."""
_BLOB_BATCH_BYTES = 16 * 1024 * 1024
_BLOB_BATCH_ROWS = 500

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


@dataclass(frozen=True, slots=True)
class WorkspaceDiff:
    """What restoring a manifest undoes, each list sorted by path."""

    added: list[str]
    """Present now but not in the manifest: removed by a restore."""
    modified: list[str]
    """Content, file type or permissions differ: rewritten by a restore."""
    deleted: list[str]
    """In the manifest but missing now: recreated by a restore."""

    @property
    def changed(self) -> bool:
        return bool(self.added or self.modified or self.deleted)


class _Cached(NamedTuple):
    size: int
    mtime_ns: int
    ino: int
    sha256: str
    hashed_at_ns: int


class _Target(NamedTuple):
    sha256: str
    size: int
    mode: int


def ensure_schema(conn: sqlite3.Connection) -> None:
    conn.executescript(SNAPSHOT_SCHEMA)


@contextmanager
def _write_transaction(conn: sqlite3.Connection) -> Iterator[None]:
    if conn.in_transaction:
        raise SnapshotError("the connection already has an open transaction")
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.rollback()
        raise
    conn.commit()


def take_snapshot(conn: sqlite3.Connection, root: Path) -> SnapshotInfo:
    """Record the workspace as it is now and return the manifest that describes it."""
    root = Path(root).resolve()
    unreadable: list[str] = []
    try:
        own = _database_files(conn, root)
        entries = [e for e in walk_workspace(root, unreadable=unreadable) if e.path not in own]
    except OSError as exc:
        raise SnapshotError(f"cannot list workspace {root}: {exc.strerror or exc}") from exc
    with _write_transaction(conn):
        return _record(conn, root, entries, unreadable)


def _record(
    conn: sqlite3.Connection, root: Path, entries: list[FileEntry], unreadable: list[str]
) -> SnapshotInfo:
    key = str(root)
    cache = _load_cache(conn, key)
    blobs = _BlobWriter(conn)
    rows: list[tuple[str, str, int, int]] = []
    skipped = [(path, "directory cannot be listed") for path in unreadable]
    cache_rows: list[tuple[str, str, int, int, int, str, int]] = []
    hashed = 0
    for entry in entries:
        if not _storable(entry.path):
            skipped.append((_printable(entry.path), "name is not valid UTF-8"))
            continue
        sha = _trusted_sha(cache.get(entry.path), entry)
        size, mode = entry.size, entry.mode
        if sha is None:
            hashed += 1
            hashed_at = time.time_ns()
            try:
                captured = _capture(root, entry)
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
            blobs.add(sha, captured.data)
            if captured.cache_key is not None:
                cache_rows.append((key, entry.path, *captured.cache_key, sha, hashed_at))
        rows.append((entry.path, sha, size, mode))
    blobs.flush()
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
    seen = {row[0] for row in rows}
    conn.executemany(
        "DELETE FROM stat_cache WHERE root = ? AND path = ?",
        ((key, path) for path in cache if path not in seen),
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


class _Captured(NamedTuple):
    sha256: str
    data: bytes
    size: int
    mode: int
    cache_key: tuple[int, int, int] | None
    """(size, mtime_ns, ino) the content belongs to; None when the file would not hold still."""


def _capture(root: Path, entry: FileEntry) -> _Captured | None:
    """Read one file or symlink; None when it vanished since the walk."""
    if entry.is_symlink:
        target = read_link(root / entry.path)
        if target is None:
            return None
        key = (entry.size, entry.mtime_ns, entry.ino)
        return _Captured(hashlib.sha256(target).hexdigest(), target, len(target), entry.mode, key)
    read = read_regular_file(root / entry.path)
    if read is None:
        return None
    st = read.stat
    key = (st.st_size, st.st_mtime_ns, st.st_ino) if read.stable else None
    return _Captured(read.sha256, read.data, len(read.data), st.st_mode, key)


def _trusted_sha(cached: _Cached | None, entry: FileEntry) -> str | None:
    if cached is None or (cached.size, cached.mtime_ns, cached.ino) != (
        entry.size,
        entry.mtime_ns,
        entry.ino,
    ):
        return None
    return cached.sha256 if entry.mtime_ns < cached.hashed_at_ns - RACY_WINDOW_NS else None


def _load_cache(conn: sqlite3.Connection, key: str) -> dict[str, _Cached]:
    rows = conn.execute(
        "SELECT path, size, mtime_ns, ino, sha256, hashed_at_ns FROM stat_cache WHERE root = ?",
        (key,),
    )
    return {path: _Cached(*rest) for path, *rest in rows}


def _storable(path: str) -> bool:
    """A name that is not valid UTF-8 cannot be stored as TEXT: it is skipped and never touched."""
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _printable(path: str) -> str:
    return path.encode("utf-8", "backslashreplace").decode("utf-8")


def _manifest_digest(rows: list[tuple[str, str, int, int]], skipped: list[tuple[str, str]]) -> str:
    digest = hashlib.sha256()
    for path, sha, _size, mode in rows:
        digest.update(f"{path}\0{sha}\0{mode:o}\n".encode())
    for path, _reason in skipped:
        digest.update(f"{path}\0skipped\n".encode())
    return digest.hexdigest()


class _BlobWriter:
    """Stores each new content once, compressed when that helps, in batches."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._seen: set[str] = set()
        self._pending: list[tuple[str, int, str, bytes]] = []
        self._pending_bytes = 0
        self.count = 0
        self.stored_bytes = 0

    def add(self, sha: str, data: bytes) -> None:
        if sha in self._seen:
            return
        self._seen.add(sha)
        if self._conn.execute("SELECT 1 FROM blobs WHERE sha256 = ?", (sha,)).fetchone():
            return
        packed = zlib.compress(data, 1)
        compression, payload = ("zlib", packed) if len(packed) < len(data) else ("none", data)
        self._pending.append((sha, len(data), compression, payload))
        self.count += 1
        self.stored_bytes += len(payload)
        self._pending_bytes += len(payload)
        if len(self._pending) >= _BLOB_BATCH_ROWS or self._pending_bytes >= _BLOB_BATCH_BYTES:
            self.flush()

    def flush(self) -> None:
        self._conn.executemany("INSERT OR IGNORE INTO blobs VALUES (?, ?, ?, ?)", self._pending)
        self._pending = []
        self._pending_bytes = 0


def _load_blob(conn: sqlite3.Connection, sha: str) -> bytes:
    row = conn.execute("SELECT compression, data FROM blobs WHERE sha256 = ?", (sha,)).fetchone()
    if row is None:
        raise SnapshotError(f"blob {sha} is missing from the database")
    compression, data = row
    if compression == "zlib":
        data = zlib.decompress(data)
    elif compression != "none":
        raise SnapshotError(f"blob {sha} has unknown compression {compression!r}")
    if hashlib.sha256(data).hexdigest() != sha:
        raise SnapshotError(f"blob {sha} is corrupt (its content does not match its digest)")
    return bytes(data)


def manifest_files(conn: sqlite3.Connection, manifest_id: int) -> dict[str, str]:
    """Path -> sha256 of every file in the manifest."""
    _require_manifest(conn, manifest_id)
    rows = conn.execute(
        "SELECT path, sha256 FROM manifest_files WHERE manifest_id = ? ORDER BY path",
        (manifest_id,),
    )
    return dict(rows)


def _require_manifest(conn: sqlite3.Connection, manifest_id: int) -> None:
    if conn.execute("SELECT 1 FROM manifests WHERE id = ?", (manifest_id,)).fetchone() is None:
        raise SnapshotError(f"snapshot manifest {manifest_id} does not exist")


def delete_unreferenced(
    conn: sqlite3.Connection, keep_manifest_ids: Iterable[int]
) -> tuple[int, int]:
    """Delete every manifest not kept, then the blobs no kept manifest uses.

    Returns (manifests deleted, blobs deleted). The file does not shrink until the caller VACUUMs.
    """
    keep = json.dumps(sorted({int(i) for i in keep_manifest_ids}))
    not_kept = "NOT IN (SELECT value FROM json_each(?))"
    with _write_transaction(conn):
        conn.execute(f"DELETE FROM manifest_files WHERE manifest_id {not_kept}", (keep,))
        conn.execute(f"DELETE FROM manifest_skipped WHERE manifest_id {not_kept}", (keep,))
        manifests = conn.execute(f"DELETE FROM manifests WHERE id {not_kept}", (keep,)).rowcount
        blobs = conn.execute(
            "DELETE FROM blobs WHERE sha256 NOT IN (SELECT sha256 FROM manifest_files)"
        ).rowcount
        conn.execute("DELETE FROM stat_cache WHERE sha256 NOT IN (SELECT sha256 FROM blobs)")
    return manifests, blobs


@dataclass(frozen=True, slots=True)
class _Plan:
    diff: WorkspaceDiff
    targets: dict[str, _Target]
    rewrite: list[str]
    """Modified (content or file type) and deleted paths: written from their blobs."""
    chmod: list[str]
    """Paths whose content is right but whose permission bits are not."""


def diff_against(conn: sqlite3.Connection, root: Path, manifest_id: int) -> WorkspaceDiff:
    """What :func:`restore_snapshot` would change, without changing anything."""
    return _plan(conn, Path(root).resolve(), manifest_id).diff


def restore_snapshot(conn: sqlite3.Connection, root: Path, manifest_id: int) -> WorkspaceDiff:
    """Make the workspace's files equal to the manifest, byte for byte and mode for mode.

    Everything that could stop the restore halfway (a missing blob, an ignored file or a directory
    with content the snapshot never had standing where a file must go) is checked before the first
    change. An OS error during the writes leaves a partial restore that running it again completes.
    """
    root = Path(root).resolve()
    plan = _plan(conn, root, manifest_id)
    _check_restorable(conn, root, plan)
    key = str(root)
    cache_rows: list[tuple[str, str, int, int, int, str, int]] = []
    try:
        remove_files(root, plan.diff.added)
        for path in plan.rewrite:
            target = plan.targets[path]
            hashed_at = time.time_ns()
            st = _write_target(conn, root, path, target)
            cache_rows.append(
                (key, path, st.st_size, st.st_mtime_ns, st.st_ino, target.sha256, hashed_at)
            )
        for path in plan.chmod:
            (root / path).chmod(stat.S_IMODE(plan.targets[path].mode))
    except OSError as exc:
        where = exc.filename or root
        raise SnapshotError(
            f"restore of snapshot {manifest_id} stopped at {where}: {exc.strerror or exc};"
            " the workspace is partly restored, run the restore again"
        ) from exc
    if plan.diff.changed:
        with _write_transaction(conn):
            conn.executemany(
                "INSERT OR REPLACE INTO stat_cache VALUES (?, ?, ?, ?, ?, ?, ?)", cache_rows
            )
            conn.executemany(
                "DELETE FROM stat_cache WHERE root = ? AND path = ?",
                ((key, path) for path in plan.diff.added),
            )
    return plan.diff


def _plan(conn: sqlite3.Connection, root: Path, manifest_id: int) -> _Plan:
    _require_manifest(conn, manifest_id)
    targets = {
        path: _Target(sha, size, mode)
        for path, sha, size, mode in conn.execute(
            "SELECT path, sha256, size, mode FROM manifest_files WHERE manifest_id = ?"
            " ORDER BY path",
            (manifest_id,),
        )
    }
    for path in targets:
        _check_safe_path(manifest_id, path)
    skipped = {
        path
        for (path,) in conn.execute(
            "SELECT path FROM manifest_skipped WHERE manifest_id = ?", (manifest_id,)
        )
    }
    skipped |= _database_files(conn, root)
    current = _walk_as_restored(conn, root, targets, skipped)
    cache = _load_cache(conn, str(root))
    added = [path for path in current if path not in targets and not _left_alone(path, skipped)]
    modified: list[str] = []
    deleted: list[str] = []
    rewrite: list[str] = []
    chmod: list[str] = []
    for path, target in targets.items():
        entry = current.get(path) or lstat_entry(root, path)
        if entry is None:
            deleted.append(path)
            rewrite.append(path)
        elif (
            stat.S_IFMT(entry.mode) != stat.S_IFMT(target.mode)
            or entry.size != target.size
            or _current_sha(root, entry, cache) != target.sha256
        ):
            modified.append(path)
            rewrite.append(path)
        elif not entry.is_symlink and stat.S_IMODE(entry.mode) != stat.S_IMODE(target.mode):
            modified.append(path)
            chmod.append(path)
    return _Plan(WorkspaceDiff(added, modified, deleted), targets, rewrite, chmod)


def _walk_as_restored(
    conn: sqlite3.Connection, root: Path, targets: dict[str, _Target], skipped: set[str]
) -> dict[str, FileEntry]:
    """The current files, seen through the ignore rules the workspace will have once restored.

    A ``.gitignore`` in the manifest rules with its snapshot content. One not in the manifest keeps
    its disk content if it survives the restore (a tool's self-ignoring ``.gitignore`` such as a
    virtualenv's); if it is itself going to be removed, its rules are dropped and the walk redone.
    """
    disk = read_ignore_from_disk(root)
    doomed: set[str] = set()

    def read_ignore(rel: str) -> bytes | None:
        target = targets.get(rel)
        if target is not None:
            return None if stat.S_ISLNK(target.mode) else _load_blob(conn, target.sha256)
        return None if rel in doomed else disk(rel)

    while True:
        try:
            current = {entry.path: entry for entry in walk_workspace(root, read_ignore)}
        except OSError as exc:
            raise SnapshotError(f"cannot list workspace {root}: {exc.strerror or exc}") from exc
        new_ignore_files = {
            path
            for path in current
            if path.rpartition("/")[2] == ".gitignore"
            and path not in targets
            and path not in doomed
            and not _left_alone(path, skipped)
        }
        if not new_ignore_files:
            return current
        doomed |= new_ignore_files


def _current_sha(root: Path, entry: FileEntry, cache: dict[str, _Cached]) -> str | None:
    """The digest of a file as it is now; None if it cannot be read (a restore rewrites it)."""
    sha = _trusted_sha(cache.get(entry.path), entry)
    if sha is not None:
        return sha
    try:
        if entry.is_symlink:
            target = read_link(root / entry.path)
            return None if target is None else hashlib.sha256(target).hexdigest()
        read = read_regular_file(root / entry.path, keep_data=False)
    except OSError:
        return None
    return None if read is None else read.sha256


def _left_alone(path: str, skipped: set[str]) -> bool:
    """Paths a snapshot could not capture are never deleted by a restore."""
    if not _storable(path) or path in skipped:
        return True
    parent = path.rpartition("/")[0]
    while parent:
        if parent + "/" in skipped:
            return True
        parent = parent.rpartition("/")[0]
    return False


def _database_files(conn: sqlite3.Connection, root: Path) -> set[str]:
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


def _check_safe_path(manifest_id: int, path: str) -> None:
    parts = path.split("/")
    if any(part in ("", ".", "..") or part in NEVER_ENTERED for part in parts):
        raise SnapshotError(f"snapshot manifest {manifest_id} holds an unsafe path {path!r}")


def _check_restorable(conn: sqlite3.Connection, root: Path, plan: _Plan) -> None:
    needed = sorted({plan.targets[path].sha256 for path in plan.rewrite})
    present = {
        sha
        for (sha,) in conn.execute(
            "SELECT sha256 FROM blobs WHERE sha256 IN (SELECT value FROM json_each(?))",
            (json.dumps(needed),),
        )
    }
    if missing := [path for path in plan.rewrite if plan.targets[path].sha256 not in present]:
        raise SnapshotError(
            f"cannot restore {missing[0]}: its content is missing from the database"
        )
    removed = set(plan.diff.added)
    checked: set[str] = set()
    for path in plan.rewrite:
        parts = path.split("/")
        for depth in range(1, len(parts)):
            parent = "/".join(parts[:depth])
            if parent in checked:
                continue
            checked.add(parent)
            try:
                mode = (root / parent).lstat().st_mode
            except FileNotFoundError:
                break
            except OSError as exc:
                raise SnapshotError(f"cannot restore {path}: {exc.strerror or exc}") from exc
            if stat.S_ISDIR(mode):
                continue
            if parent in removed:
                break
            raise SnapshotError(
                f"cannot restore {path}: {parent} is in the way and is not in the workspace's"
                " tracked files (ignored or unreadable); move it and retry"
            )
        _check_directory_in_the_way(root, path, removed)


def _check_directory_in_the_way(root: Path, path: str, removed: set[str]) -> None:
    """A directory where a file must go may only hold what the restore deletes anyway."""
    dest = root / path
    if not dest.is_dir() or dest.is_symlink():
        return
    message = (
        f"cannot restore {path}: a directory with files that are not in the snapshot"
        " (ignored, untracked or unreadable) stands in its place; move it and retry"
    )

    def fail(_exc: OSError) -> None:
        raise SnapshotError(message)

    for dirpath, dirnames, filenames in os.walk(dest, onerror=fail):
        here = Path(dirpath)
        links = [name for name in dirnames if (here / name).is_symlink()]
        if NEVER_ENTERED.intersection(dirnames) or any(
            (here / name).relative_to(root).as_posix() not in removed for name in filenames + links
        ):
            raise SnapshotError(message)


def _write_target(
    conn: sqlite3.Connection, root: Path, path: str, target: _Target
) -> os.stat_result:
    dest = root / path
    if dest.is_dir() and not dest.is_symlink():
        shutil.rmtree(dest)
    make_parent_dirs(root, path)
    data = _load_blob(conn, target.sha256)
    if stat.S_ISLNK(target.mode):
        return write_symlink_atomic(dest, data)
    return write_file_atomic(dest, data, target.mode)
