"""The workspace as a snapshot sees it: git's view of the tree, read and written safely.

The root is the top of the ignore hierarchy: ``.gitignore`` files at the root and below, and the
root's own ``.git/info/exclude``, apply; ignore files above the root and git's global
``core.excludesFile`` are not consulted, so a workspace that sits inside an ignored directory of a
larger repository (the demo does) still has its files snapshotted. Nothing named ``.git`` or
``.phaseboard`` is listed or entered, at any depth. Only regular files and symlinks are listed.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import stat
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from stat import S_ISLNK
from typing import NamedTuple

import pathspec

NEVER_ENTERED = frozenset({".git", ".phaseboard"})
CHUNK_SIZE = 1024 * 1024
MAX_FILE_BYTES = 256 * 1024 * 1024
"""Larger files are not captured: a blob lives in one SQLite value, held in memory to compress."""

IgnoreReader = Callable[[str], bytes | None]
"""Returns the contents of the ignore file at a relative path (``"sub/.gitignore"``), or None."""


class FileEntry(NamedTuple):
    """One file or symlink of the workspace, as ``lstat`` saw it during the walk.

    A named tuple rather than a dataclass: a walk builds one per file, and that is a third of
    the cost of a snapshot in which nothing changed.
    """

    path: str
    """Relative POSIX path from the workspace root."""
    size: int
    mtime_ns: int
    ino: int
    mode: int
    """The full ``st_mode``: file type bits (regular or symlink) and permission bits."""
    is_symlink: bool


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


def read_ignore_from_disk(root: Path) -> IgnoreReader:
    """The ignore files as they are on disk now (a symlinked one is not followed, as in git)."""

    def read(rel_path: str) -> bytes | None:
        try:
            fd = os.open(root / rel_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return None
        with os.fdopen(fd, "rb") as f:
            return f.read() if stat.S_ISREG(os.fstat(fd).st_mode) else None

    return read


def walk_workspace(
    root: Path,
    read_ignore: IgnoreReader | None = None,
    unreadable: list[str] | None = None,
) -> list[FileEntry]:
    """The workspace's files in path order, ignored directories pruned.

    Directories are opened relative to their parent's descriptor without following symlinks, so
    a directory swapped for a symlink during the walk is never entered, and each ``lstat`` looks
    up one name rather than the whole path. The list is built in one go, without generators:
    in a workspace where nothing changed, the walk is most of what a snapshot costs.

    Args:
        root: the workspace root; it must be a directory that can be listed.
        read_ignore: where ``.gitignore`` contents come from; a restore passes the snapshot's
            own, so the rules that decide what it deletes are those in force when it was taken.
        unreadable: directories that could not be listed are appended here (``"sub/dir/"``).
    """
    root = Path(root)
    reader = read_ignore or read_ignore_from_disk(root)
    exclude = _info_exclude(root)
    layers = [exclude] if exclude is not None else []
    found: list[FileEntry] = []
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        _walk_dir(fd, "", layers, reader, unreadable, found)
    finally:
        os.close(fd)
    return found


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _walk_dir(
    fd: int,
    rel_dir: str,
    layers: list[_Layer],
    reader: IgnoreReader,
    unreadable: list[str] | None,
    found: list[FileEntry],
) -> None:
    layer = _Layer.parse(rel_dir, reader(rel_dir + ".gitignore"))
    if layer is not None:
        layers = [*layers, layer]
    try:
        with os.scandir(fd) as it:
            listing = list(it)
    except OSError:
        if not rel_dir:
            raise
        if unreadable is not None:
            unreadable.append(rel_dir)
        return
    children: list[tuple[str, os.DirEntry[str], bool]] = []
    for entry in listing:
        name = entry.name
        if name in NEVER_ENTERED:
            continue
        # Siblings sorted by name, with "/" after directory names, make the walk in path order.
        try:
            if entry.is_file(follow_symlinks=False) or entry.is_symlink():
                children.append((name, entry, False))
            elif entry.is_dir(follow_symlinks=False):
                children.append((name + "/", entry, True))
        except OSError:
            continue
    children.sort(key=itemgetter(0))
    add = found.append
    for key, entry, is_dir in children:
        rel = rel_dir + key
        if layers and _is_ignored(layers, rel, is_dir):
            continue
        if is_dir:
            _walk_subdir(fd, entry.name, rel, layers, reader, unreadable, found)
            continue
        try:
            st = entry.stat(follow_symlinks=False)
        except OSError:
            continue
        mode = st.st_mode
        add(FileEntry(rel, st.st_size, st.st_mtime_ns, st.st_ino, mode, S_ISLNK(mode)))


def _walk_subdir(
    parent_fd: int,
    name: str,
    rel_dir: str,
    layers: list[_Layer],
    reader: IgnoreReader,
    unreadable: list[str] | None,
    found: list[FileEntry],
) -> None:
    try:
        fd = os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    except OSError:
        if unreadable is not None:
            unreadable.append(rel_dir)
        return
    try:
        _walk_dir(fd, rel_dir, layers, reader, unreadable, found)
    finally:
        os.close(fd)


@dataclass(frozen=True, slots=True)
class _Layer:
    """The rules of one ignore file, which apply to paths under ``base``.

    ``GitIgnoreSpec`` answers for files. A directory is asked about by its path without the trailing
    slash against the same patterns with their trailing slash dropped (git matches a directory
    against ``build/`` as it matches a file against ``build``); asking with ``"dir/"`` instead gets
    ``*`` + ``!*/`` and ``dir/**`` wrong.
    """

    base: str
    files: pathspec.GitIgnoreSpec
    dirs: pathspec.GitIgnoreSpec

    @classmethod
    def parse(cls, base: str, data: bytes | None) -> _Layer | None:
        if not data:
            return None
        lines = [
            _fix_double_star_dir(line)
            for line in data.decode("utf-8", "surrogateescape").splitlines()
        ]
        dir_lines = [_without_trailing_slash(line) for line in lines]
        return cls(base, _spec(lines), _spec(dir_lines))


def _fix_double_star_dir(line: str) -> str:
    """pathspec reads ``dir/**/`` as ``dir/``; git means the directories under it: ``dir/**/*/``."""
    trimmed = line.rstrip(" ")
    head = trimmed.removesuffix("/**/")
    return head + "/**/*/" if head != trimmed and head not in ("", "!") else line


def _without_trailing_slash(line: str) -> str:
    trimmed = line.rstrip(" ")
    return trimmed[:-1] if trimmed.endswith("/") and not trimmed.endswith("\\/") else line


def _spec(lines: list[str]) -> pathspec.GitIgnoreSpec:
    try:
        return pathspec.GitIgnoreSpec.from_lines(lines)
    except ValueError:
        # Git skips a malformed pattern and keeps the rest; so do we.
        return pathspec.GitIgnoreSpec.from_lines(line for line in lines if _valid_pattern(line))


def _valid_pattern(line: str) -> bool:
    try:
        pathspec.GitIgnoreSpec.from_lines([line])
    except ValueError:
        return False
    return True


def _is_ignored(layers: list[_Layer], rel: str, is_dir: bool) -> bool:
    """The deepest ignore file with a matching pattern decides, as in git."""
    for layer in reversed(layers):
        local = rel[len(layer.base) :]
        if is_dir:
            verdict = layer.dirs.check_file(local[:-1]).include
        else:
            verdict = layer.files.check_file(local).include
        if verdict is not None:
            return verdict
    return False


def _info_exclude(root: Path) -> _Layer | None:
    git = root / ".git"
    git_dir: Path | None = git if git.is_dir() else None
    if git_dir is None and git.is_file():
        # A worktree or submodule: ".git" is a file naming the real git dir.
        text = git.read_text("utf-8", "replace").strip()
        if text.startswith("gitdir:"):
            git_dir = root / text.removeprefix("gitdir:").strip()
            common = git_dir / "commondir"
            if common.is_file():
                git_dir = git_dir / common.read_text("utf-8", "replace").strip()
    if git_dir is None:
        return None
    try:
        return _Layer.parse("", (git_dir / "info" / "exclude").read_bytes())
    except OSError:
        return None


def lstat_entry(root: Path, rel: str) -> FileEntry | None:
    """The entry for one path if it is now a regular file or a symlink, ignored or not.

    None also when a directory above it is a symlink or a file: the path is not in the tree then,
    whatever a lookup through that symlink would find.
    """
    parts = rel.split("/")
    current = root
    try:
        for part in parts[:-1]:
            current = current / part
            if not stat.S_ISDIR(os.lstat(current).st_mode):
                return None
        st = os.lstat(current / parts[-1])
    except OSError:
        return None
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)):
        return None
    return FileEntry(
        rel, st.st_size, st.st_mtime_ns, st.st_ino, st.st_mode, stat.S_ISLNK(st.st_mode)
    )


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
