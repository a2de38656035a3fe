"""Reading a snapshot's files ahead of the thread that stores them: on a small thread pool, in
batches, bounded in files and bytes, each file read, hashed and (in a database with no blob yet)
packed by the thread that reads it.
"""

from __future__ import annotations

import hashlib
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Executor, Future
from pathlib import Path
from typing import NamedTuple

from engine.snapshots.blob_store import CachedHash, pack, storable, trusted_sha
from engine.snapshots.file_io import read_link, read_regular_file
from engine.snapshots.workspace_files import FileEntry

AHEAD_FILES = 512
AHEAD_BYTES = 32 * 1024 * 1024
"""Reads started ahead of the caller are bounded in number and in bytes (memory)."""
BATCH_FILES = 64
BATCH_BYTES = 1024 * 1024
"""Files read by one task of the pool, at most: one hand-over between threads per batch rather
than per file (10,000 small files cost 10,000 wake-ups of the caller, a third of a first
snapshot)."""


def read_ahead(
    pool: Executor,
    root: Path,
    entries: list[FileEntry],
    cache: dict[str, CachedHash],
    *,
    pack_too: bool = False,
) -> Iterator[tuple[FileEntry, str | None, Pending | None]]:
    """Each entry in order with its trusted digest, or the pending read of its file.

    Files are read on the pool ahead of the caller in batches of up to ``BATCH_FILES`` files or
    ``BATCH_BYTES``, at most ``AHEAD_FILES`` files or about ``AHEAD_BYTES`` at a time. A name
    that cannot be stored comes with neither.
    """
    window: deque[tuple[FileEntry, str | None, Pending | None]] = deque()
    ahead = 0
    batch: list[FileEntry] = []
    parts: list[Pending] = []
    batch_bytes = 0

    def submit() -> None:
        nonlocal batch, parts, batch_bytes
        future = pool.submit(capture_batch, root, batch, pack_too)
        for part in parts:
            part.future = future
        batch, parts, batch_bytes = [], [], 0

    for entry in entries:
        pending: Pending | None = None
        sha = None
        if storable(entry.path):
            sha = trusted_sha(cache.get(entry.path), entry)
            if sha is None:
                while window and (len(window) >= AHEAD_FILES or ahead >= AHEAD_BYTES):
                    if batch:  # what is handed out has been asked for
                        submit()
                    done = window.popleft()
                    if done[2] is not None:
                        ahead -= done[0].size
                    yield done
                pending = Pending(len(batch))
                batch.append(entry)
                parts.append(pending)
                batch_bytes += entry.size
                ahead += entry.size
                if len(batch) >= BATCH_FILES or batch_bytes >= BATCH_BYTES:
                    submit()
        if window or pending is not None:
            window.append((entry, sha, pending))
        else:
            yield entry, sha, None
    if batch:
        submit()
    yield from window


class Pending:
    """The read of one file of a batch, once the batch is asked for."""

    __slots__ = ("future", "index")

    def __init__(self, index: int) -> None:
        self.future: Future[list[Captured | OSError | None]] | None = None
        self.index = index

    def result(self) -> Captured | None:
        """The file's capture (None when it vanished); raises what reading it raised."""
        assert self.future is not None, "a read handed out before its batch was asked for"
        outcome = self.future.result()[self.index]
        if isinstance(outcome, OSError):
            raise outcome
        return outcome


def capture_batch(
    root: Path, entries: list[FileEntry], pack_too: bool
) -> list[Captured | OSError | None]:
    """:func:`capture` of each entry; a file's error is its own outcome, not the batch's."""
    out: list[Captured | OSError | None] = []
    for entry in entries:
        try:
            out.append(capture(root, entry, pack_too))
        except OSError as exc:
            out.append(exc)
    return out


class Captured(NamedTuple):
    sha256: str
    data: bytes
    size: int
    mode: int
    cache_key: tuple[int, int, int] | None
    """(size, mtime_ns, ino) the content belongs to; None when the file would not hold still."""
    hashed_at: int
    """``time.time_ns()`` just before the read, for the stat cache's racily-clean rule."""
    packed: tuple[str, bytes] | None = None
    """:func:`pack` of ``data``, when asked for."""


def capture(root: Path, entry: FileEntry, pack_too: bool = False) -> Captured | None:
    """Read one file or symlink (and pack it, with ``pack_too``); None when it vanished since the
    walk."""
    hashed_at = time.time_ns()
    if entry.is_symlink:
        target = read_link(root / entry.path)
        if target is None:
            return None
        sha = hashlib.sha256(target).hexdigest()
        link_key = (entry.size, entry.mtime_ns, entry.ino)
        packed = pack(target) if pack_too else None
        return Captured(sha, target, len(target), entry.mode, link_key, hashed_at, packed)
    read = read_regular_file(root / entry.path)
    if read is None:
        return None
    st = read.stat
    key = (st.st_size, st.st_mtime_ns, st.st_ino) if read.stable else None
    packed = pack(read.data) if pack_too else None
    return Captured(read.sha256, read.data, len(read.data), st.st_mode, key, hashed_at, packed)
