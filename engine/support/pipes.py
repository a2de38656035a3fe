"""Wider pipes: fewer reads and writes, and fewer wake-ups of the process at the other end."""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
from typing import Protocol

PIPE_BYTES = 1024 * 1024


class SupportsFileno(Protocol):
    def fileno(self) -> int: ...


def widen(pipe: SupportsFileno, size: int = PIPE_BYTES) -> None:
    """Ask for a buffer of ``size`` bytes on ``pipe`` (Linux). Anything else (a file, a terminal,
    a stream closed already, another system, a user past its pipe memory) is left as it is."""
    setter = getattr(fcntl, "F_SETPIPE_SZ", None)
    if setter is None:
        return
    with contextlib.suppress(OSError, ValueError):
        fd = pipe.fileno()
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            fcntl.fcntl(fd, setter, size)
