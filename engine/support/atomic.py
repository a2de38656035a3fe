"""Writing the run folder's files atomically.

A reader (a script polling ``final_report.json``, an editor showing ``SESSION_CONTINUITY.md``)
must only ever see the old file or the new one, never half of either, even if the writer is
killed mid-way. Each file is written to a temporary name in its own directory, then renamed
over the target; the files are owner-only (0600), like the database they come from.

They are not fsynced: every one of them is derived from the database, which is, and
``phaseboard report`` rebuilds them after a power loss. An fsync per agent result was a
measurable share of the cost of starting many short agents.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

DIR_MODE = 0o700
TMP_SUFFIX = ".tmp"


def ensure_dir(path: Path) -> None:
    """Create ``path`` and any missing parents, each with mode 0700."""
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=DIR_MODE)


class AtomicFile:
    """A text file that replaces ``path`` on :meth:`commit`, or vanishes on :meth:`abort`.

    For files written piece by piece (a long log) without holding them in memory.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        ensure_dir(self.path.parent)
        fd, tmp_name = tempfile.mkstemp(
            dir=self.path.parent, prefix=f".{self.path.name}.", suffix=TMP_SUFFIX
        )
        self._tmp = Path(tmp_name)
        self._fh: TextIO = os.fdopen(
            fd, "w", encoding="utf-8", errors="backslashreplace", newline="\n"
        )

    def write(self, text: str) -> None:
        self._fh.write(text)

    def commit(self) -> None:
        try:
            self._fh.close()
            os.replace(self._tmp, self.path)
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        with contextlib.suppress(OSError):
            self._fh.close()
        with contextlib.suppress(OSError):
            self._tmp.unlink()


@contextlib.contextmanager
def atomic_writer(path: Path) -> Iterator[AtomicFile]:
    """An :class:`AtomicFile` committed when the block ends, aborted if it raises."""
    out = AtomicFile(path)
    try:
        yield out
    except BaseException:
        out.abort()
        raise
    out.commit()


def write_text_atomic(path: Path, text: str) -> None:
    with atomic_writer(path) as fh:
        fh.write(text)


def write_json_atomic(path: Path, obj: Any) -> None:
    write_text_atomic(path, to_json(obj))


def to_json(obj: Any) -> str:
    """The JSON form of every file phaseboard writes: readable, keys in their own order."""
    return json.dumps(obj, indent=2, sort_keys=False, ensure_ascii=False, default=str) + "\n"
