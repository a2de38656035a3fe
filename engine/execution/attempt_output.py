"""An attempt's unread output: raw chunks queued as they arrive, split into blocks of lines a
batch at a time as they are read, with reading from a pipe paused while too much waits
(backpressure).

Chunks are kept raw until read (a flood then gives big batches); :meth:`AttemptOutput.lines`
swaps out about ``BATCH_BYTES`` of them at a time, each read becoming one
:class:`engine.execution.log_block.LogBlock`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

from engine.execution.line_splitter import LineSplitter
from engine.execution.log_block import LogBlock, Stream
from engine.support.pipes import widen

STREAMS: dict[int, Stream] = {1: "stdout", 2: "stderr"}
_MIB = 1024 * 1024
MAX_PENDING_LINES = 10_000
MAX_PENDING_BYTES = 8 * _MIB
"""Past either bound of unread output, reading pauses until ``lines()`` takes it (backpressure).
Output is held raw until then (a byte of it can take two or more once decoded)."""
BATCH_BYTES = _MIB
"""``lines()`` decodes about this much unread output per batch, whatever has piled up."""
SMALL_READ = 64 * 1024
REST_S = 0.005
FLOOD_BYTES = _MIB
"""Once a stream has given FLOOD_BYTES, a read of less than SMALL_READ bytes leaves it unread for
REST_S: output piles up in the pipe (a megabyte where the system allows, see ``widen_pipe``) and
the next read takes it at once. A flood is then read in a few hundred pieces instead of one per
write of the agent (12,000 reads of 7 KB for 80 MB: a third of the engine's time); a line of it
waits 5 ms at most, and an agent that prints little is read as before."""


def widen_pipe(pipe: asyncio.BaseTransport | None) -> None:
    """Widen the pipe of a read transport (:func:`engine.support.pipes.widen`: 1 MiB where the
    system allows)."""
    end = pipe.get_extra_info("pipe") if pipe is not None else None
    if end is not None:  # closed already when the process ended at once: left as it is
        widen(end)


class AttemptOutput:
    """The stdout and stderr of one attempt, from the pipes' callbacks to ``lines()``.

    ``pipe(fd)`` gives the read transport of a stream, to pause and resume it; callbacks run on
    the event loop and never block.
    """

    def __init__(
        self, max_line_chars: int, pipe: Callable[[int], asyncio.ReadTransport | None]
    ) -> None:
        self._pipe = pipe
        self._splitters = {fd: LineSplitter(max_line_chars, STREAMS[fd]) for fd in STREAMS}
        self._pending: list[tuple[int, bytes | None, float, int]] = []
        """Unread chunks ``(fd, data, arrival time, newlines in data)``, oldest first; ``data`` is
        ``None`` at end of stream."""
        self._pending_bytes = 0
        self._pending_lines = 0
        self._ready = asyncio.Event()
        self._open = set(STREAMS)
        self.paused: set[int] = set()
        """Streams whose reading is paused until enough is read."""
        self._resting: set[int] = set()
        """Streams left unread for REST_S after a small read."""
        self._given = dict.fromkeys(STREAMS, 0)
        """Bytes each stream has given so far."""
        self.closed = asyncio.Event()
        """Set once both streams have ended (or were abandoned)."""
        self.last_output = time.monotonic()
        """When output last arrived (or reading resumed), for the idle timeout."""

    @property
    def pending_lines(self) -> int:
        return self._pending_lines

    @property
    def pending_bytes(self) -> int:
        return self._pending_bytes

    def on_data(self, fd: int, data: bytes) -> None:
        self.last_output = time.monotonic()
        newlines = data.count(b"\n")
        self._given[fd] += len(data)
        self._pending.append((fd, data, time.time(), newlines))
        self._pending_bytes += len(data)
        self._pending_lines += newlines
        self._ready.set()
        if self._over_bounds() and fd not in self.paused:
            self._pause(fd, self.paused)
        elif self._flooding(fd, data) and self._pause(fd, self._resting):
            asyncio.get_running_loop().call_later(REST_S, self._end_rest, fd)

    def _flooding(self, fd: int, data: bytes) -> bool:
        """A small read from a stream past FLOOD_BYTES that is not resting already."""
        return len(data) < SMALL_READ and self._given[fd] >= FLOOD_BYTES and fd not in self._resting

    def _pause(self, fd: int, why: set[int]) -> bool:
        """Stop reading ``fd``, noted in ``why``; False when it has no pipe."""
        pipe = self._pipe(fd)
        if pipe is None:
            return False
        pipe.pause_reading()
        why.add(fd)
        return True

    def _resume(self, fd: int) -> None:
        pipe = self._pipe(fd)
        if pipe is not None and not pipe.is_closing():
            pipe.resume_reading()

    def _end_rest(self, fd: int) -> None:
        self._resting.discard(fd)
        if fd not in self.paused and fd in self._open:
            self._resume(fd)

    def on_closed(self, fd: int) -> None:
        if fd not in self._open:
            return
        self._open.discard(fd)
        self.paused.discard(fd)
        self._pending.append((fd, None, time.time(), 0))
        if not self._open:
            self.closed.set()
        self._ready.set()

    def abandon(self) -> None:
        """End the streams still open: what was read stays, nothing more is."""
        for fd in list(self._open):
            self.on_closed(fd)

    def never_started(self) -> None:
        """No process: no output at all."""
        self._open.clear()
        self.closed.set()
        self._ready.set()

    async def lines(self) -> AsyncIterator[list[LogBlock]]:
        while True:
            if self._pending:
                batch = self._take_lines()
                self._resume_reading()
                if batch:
                    yield batch
            elif self.closed.is_set():
                return
            else:
                self._ready.clear()
                await self._ready.wait()

    def _over_bounds(self) -> bool:
        return self._pending_bytes > MAX_PENDING_BYTES or self._pending_lines > MAX_PENDING_LINES

    def _take_lines(self) -> list[LogBlock]:
        """Split the oldest unread chunks, up to about ``BATCH_BYTES`` or ``MAX_PENDING_LINES``
        lines; the rest waits."""
        out: list[LogBlock] = []
        size = lines = taken = 0
        for fd, data, ts, newlines in self._pending:
            taken += 1
            splitter = self._splitters[fd]
            block = splitter.flush_block(ts) if data is None else splitter.block(data, ts, newlines)
            if block is not None:
                out.append(block)
            if data is None:
                continue
            size += len(data)
            lines += newlines
            if size >= BATCH_BYTES or lines >= MAX_PENDING_LINES:
                break
        if taken == len(self._pending):
            self._pending = []
            self._pending_bytes = self._pending_lines = 0
        else:
            del self._pending[:taken]
            self._pending_bytes -= size
            self._pending_lines -= lines
        return out

    def _resume_reading(self) -> None:
        if not self.paused or self._over_bounds():
            return
        for fd in self.paused - self._resting:
            self._resume(fd)
        self.paused.clear()
        self.last_output = time.monotonic()
