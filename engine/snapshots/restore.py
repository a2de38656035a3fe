"""Comparing the workspace with a snapshot manifest and restoring it, byte for byte.

Paths a snapshot could not capture (unreadable, or ignored when it was taken) are never deleted,
and everything that could stop a restore halfway is checked before the first change.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import stat
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from engine.snapshots.blob_store import (
    CachedHash,
    SnapshotError,
    database_files,
    load_blob,
    load_stat_cache,
    require_manifest,
    storable,
    trusted_sha,
    write_transaction,
)
from engine.snapshots.file_io import (
    make_parent_dirs,
    read_link,
    read_regular_file,
    remove_files,
    write_file_atomic,
    write_symlink_atomic,
)
from engine.snapshots.workspace_files import (
    NEVER_ENTERED,
    FileEntry,
    lstat_entry,
    read_ignore_from_disk,
    walk_workspace,
)

__all__ = ["WorkspaceDiff", "diff_against", "restore_snapshot"]


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


class _Target(NamedTuple):
    sha256: str
    size: int
    mode: int


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
        with write_transaction(conn):
            conn.executemany(
                "INSERT OR REPLACE INTO stat_cache VALUES (?, ?, ?, ?, ?, ?, ?)", cache_rows
            )
            conn.executemany(
                "DELETE FROM stat_cache WHERE root = ? AND path = ?",
                ((key, path) for path in plan.diff.added),
            )
    return plan.diff


def _plan(conn: sqlite3.Connection, root: Path, manifest_id: int) -> _Plan:
    require_manifest(conn, manifest_id)
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
    skipped |= database_files(conn, root)
    current = _walk_as_restored(conn, root, targets, skipped)
    cache = load_stat_cache(conn, str(root))
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
            return None if stat.S_ISLNK(target.mode) else load_blob(conn, target.sha256)
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


def _current_sha(root: Path, entry: FileEntry, cache: dict[str, CachedHash]) -> str | None:
    """The digest of a file as it is now; None if it cannot be read (a restore rewrites it)."""
    sha = trusted_sha(cache.get(entry.path), entry)
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
    if not storable(path) or path in skipped:
        return True
    parent = path.rpartition("/")[0]
    while parent:
        if parent + "/" in skipped:
            return True
        parent = parent.rpartition("/")[0]
    return False


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
    data = load_blob(conn, target.sha256)
    if stat.S_ISLNK(target.mode):
        return write_symlink_atomic(dest, data)
    return write_file_atomic(dest, data, target.mode)
