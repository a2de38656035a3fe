"""The workspace as a snapshot sees it: git's view of the tree, read and written safely.

The root is the top of the ignore hierarchy: ``.gitignore`` files at the root and below, and the
root's own ``.git/info/exclude``, apply; ignore files above the root and git's global
``core.excludesFile`` are not consulted, so a workspace that sits inside an ignored directory of a
larger repository (the demo does) still has its files snapshotted. Nothing named ``.git`` or
``.phaseboard`` is listed or entered, at any depth. Only regular files and symlinks are listed.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from operator import itemgetter
from pathlib import Path
from stat import S_ISLNK
from typing import NamedTuple

from engine.snapshots.ignore_rules import IgnoreLayer, info_exclude, is_ignored

NEVER_ENTERED = frozenset({".git", ".phaseboard"})

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
    exclude = info_exclude(root)
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
    layers: list[IgnoreLayer],
    reader: IgnoreReader,
    unreadable: list[str] | None,
    found: list[FileEntry],
) -> None:
    layer = IgnoreLayer.parse(rel_dir, reader(rel_dir + ".gitignore"))
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
        if layers and is_ignored(layers, rel, is_dir):
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
    layers: list[IgnoreLayer],
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
