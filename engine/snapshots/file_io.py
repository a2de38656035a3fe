"""Reading and writing workspace files safely for snapshots and restores: a file read whole
(re-read if it changes meanwhile), links, atomic writes, parent directories, removals."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

CHUNK_SIZE = 1024 * 1024
MAX_FILE_BYTES = 256 * 1024 * 1024
"""Larger files are not captured: a blob lives in one SQLite value, held in memory to compress."""


@dataclass(frozen=True, slots=True)
class FileRead:
    """A regular file's content, its digest and the ``fstat`` that goes with it."""

    data: bytes
    sha256: str
    stat: os.stat_result
    stable: bool
    """False when the file kept changing while it was read: the content may be torn."""


class FileTooLargeError(OSError):
    """The file is over :data:`MAX_FILE_BYTES`."""


def read_regular_file(path: Path, keep_data: bool = True, attempts: int = 3) -> FileRead | None:
    """Read and hash a regular file in 1 MiB chunks, retrying while it changes under us.

    Returns None when the path vanished or stopped being a regular file (a symlink is never
    followed). Raises PermissionError, :class:`FileTooLargeError` and other ``OSError``.
    """
    result: FileRead | None = None
    for _ in range(attempts):
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                return None
            raise
        try:
            before = os.fstat(fd)
            if not stat.S_ISREG(before.st_mode):
                return None
            digest = hashlib.sha256()
            chunks: list[bytes] = []
            total = 0
            while chunk := os.read(fd, CHUNK_SIZE):
                total += len(chunk)
                if total > MAX_FILE_BYTES:
                    raise FileTooLargeError(errno.EFBIG, f"larger than {MAX_FILE_BYTES} bytes")
                digest.update(chunk)
                if keep_data:
                    chunks.append(chunk)
            after = os.fstat(fd)
        finally:
            os.close(fd)
        stable = (before.st_size, before.st_mtime_ns) == (after.st_size, after.st_mtime_ns) and (
            total == after.st_size
        )
        result = FileRead(b"".join(chunks), digest.hexdigest(), after, stable)
        if stable:
            break
    return result


def read_link(path: Path) -> bytes | None:
    """A symlink's target as bytes (what a snapshot stores for it), or None if it is gone."""
    try:
        return os.fsencode(os.readlink(path))
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        if exc.errno == errno.EINVAL:  # no longer a symlink
            return None
        raise


def write_file_atomic(path: Path, data: bytes, mode: int) -> os.stat_result:
    """Replace ``path`` (a file or symlink, never followed) with ``data`` and the mode's bits."""
    fd, tmp = tempfile.mkstemp(prefix=".pbrestore-", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, stat.S_IMODE(mode))
        os.replace(tmp, path)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    return os.lstat(path)


def write_symlink_atomic(path: Path, target: bytes) -> os.stat_result:
    """Replace ``path`` with a symlink to ``target``."""
    tmp = os.path.join(path.parent, f".pbrestore-{os.urandom(6).hex()}")
    os.symlink(os.fsdecode(target), tmp)
    try:
        os.replace(tmp, path)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    return os.lstat(path)


def make_parent_dirs(root: Path, rel: str) -> None:
    """Create the missing directories above ``rel`` without following any symlink on the way."""
    current = root
    for part in rel.split("/")[:-1]:
        current = current / part
        try:
            st = os.lstat(current)
        except FileNotFoundError:
            os.mkdir(current)
            continue
        if not stat.S_ISDIR(st.st_mode):
            raise NotADirectoryError(errno.ENOTDIR, "a file is in the way", str(current))


def remove_files(root: Path, rels: Iterable[str]) -> None:
    """Delete files, then the directories that deleting them left empty (never the root)."""
    parents: set[str] = set()
    for rel in rels:
        _unlink_quietly(root / rel)
        parent = rel.rpartition("/")[0]
        while parent and parent not in parents:
            parents.add(parent)
            parent = parent.rpartition("/")[0]
    for parent in sorted(parents, key=lambda p: p.count("/"), reverse=True):
        try:
            os.rmdir(root / parent)
        except OSError:
            continue


def _unlink_quietly(path: str | Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
