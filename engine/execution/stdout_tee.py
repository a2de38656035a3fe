"""An agent's raw stdout, kept whole for its JSON result: in memory while it is small, in a
file once it is not.

Creating a file per attempt is not free: 0.02 ms of system time on a journaled ext4, up to 0.5 ms
on one without a journal that freed many inodes in the last minutes (docs/performance.md,
scenario 1), and with hundreds of short agents that adds up. Most results are a few kilobytes;
only a large one reaches disk.
"""

from __future__ import annotations

import contextlib
from typing import BinaryIO

TEE_MEMORY_BYTES = 256 * 1024
"""Stdout up to this size stays in memory; past it, everything so far goes to the file."""


class StdoutTee:
    def __init__(self, path: str, memory_bytes: int = TEE_MEMORY_BYTES) -> None:
        self.path = path
        self._memory_bytes = memory_bytes
        self._held: bytearray | None = bytearray()
        self._file: BinaryIO | None = None
        self.error: str | None = None
        """Why the stdout could not be kept whole (the file could not be written)."""

    def write(self, data: bytes) -> None:
        if self.error is not None:
            return
        held = self._held
        if held is not None and len(held) + len(data) <= self._memory_bytes:
            held += data
            return
        try:
            if self._file is None:
                self._file = open(self.path, "wb")  # noqa: SIM115 - closed in close()
                if held:
                    self._file.write(held)
                self._held = None
            self._file.write(data)
        except OSError as exc:
            self.error = f"cannot write stdout file {self.path}: {exc.strerror}"
            self._held = None
            self.close()

    def held(self) -> bytes | None:
        """The whole stdout when it stayed in memory; None when it went to the file (or was
        lost, see :attr:`error`)."""
        return None if self._held is None else bytes(self._held)

    def close(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                self._file.close()
            self._file = None
