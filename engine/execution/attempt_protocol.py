"""The glue between asyncio's subprocess machinery and an attempt: the protocol that hands the
attempt raw output chunks and the leader's exit, and the words for a command that cannot start."""

from __future__ import annotations

import asyncio
from typing import Protocol


class Receiver(Protocol):
    """What :class:`AttemptProtocol` reports to (a :class:`~engine.execution.local_attempt.LocalAttempt`)."""

    def on_connected(self, transport: asyncio.SubprocessTransport) -> None: ...
    def on_data(self, fd: int, data: bytes) -> None: ...
    def on_pipe_closed(self, fd: int) -> None: ...
    def on_exited(self) -> None: ...


class AttemptProtocol(asyncio.SubprocessProtocol):
    def __init__(self, attempt: Receiver) -> None:
        self._attempt = attempt

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.SubprocessTransport)
        self._attempt.on_connected(transport)

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        assert isinstance(data, bytes)
        self._attempt.on_data(fd, data)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        self._attempt.on_pipe_closed(fd)

    def process_exited(self) -> None:
        self._attempt.on_exited()


def spawn_error(exc: OSError, command: str, cwd: str) -> str:
    if exc.filename is not None and exc.filename == cwd and exc.filename != command:
        if isinstance(exc, FileNotFoundError):
            return f"working directory does not exist: {cwd}"
        if isinstance(exc, NotADirectoryError):
            return f"working directory is not a directory: {cwd}"
        return f"cannot enter working directory {cwd}: {exc.strerror}"
    if isinstance(exc, FileNotFoundError | NotADirectoryError):
        return f"command not found: {command}"
    if isinstance(exc, PermissionError):
        return f"permission denied: {command}"
    return f"cannot start {command}: {exc.strerror or exc}"
