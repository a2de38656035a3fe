"""Batched, bounded writing of agent log lines to the store and to the run folder.

Blocks of lines are buffered per attempt and written in one transaction per batch (one
cross-thread round trip for all the attempts that printed meanwhile); a producer that gets too
far ahead waits for the writer. The buffer is bounded by lines and by characters, so memory
stays bounded whatever an agent prints: many short lines, or one line of gigabytes in pieces.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from engine.execution.log_block import LogBlock
from engine.store.database import LogBatches, LogKey, Store

BATCH_ROWS = 1000
BATCH_CHARS = 512 * 1024
"""Past either, the writer is woken at once rather than at its next tick."""
FLUSH_INTERVAL_S = 0.1
MAX_BUFFERED_ROWS = 200_000
MAX_BUFFERED_CHARS = 2 * 1024 * 1024
"""Past either, counting what is being written, a producer waits until the buffer is written.
The characters bound keeps a flood of long lines to a few MiB (scenario 3's memory targets);
larger buffers bought five flooding agents little once lines travel in blocks (3.4 to 3.7 s
with 2 MiB, 3.3 to 3.4 with 4, 3.3 to 3.6 with 16) and cost scenario 3 its target. Lines in
blocks cost no object each, so the rows bound only stops a flood of empty lines."""
MAX_OPEN_FILES = 64


class LogSink:
    def __init__(self, store: Store, run_id: str, run_dir: Path) -> None:
        self._store = store
        self._run_id = run_id
        self._run_dir = run_dir
        self._buffer: dict[LogKey, list[LogBlock]] = {}
        """Lines waiting to be written, by attempt, each list in arrival order."""
        self._queued_rows = self._queued_chars = 0
        self._rows = self._chars = 0
        """Queued and being written."""
        self._lock = asyncio.Lock()
        self._failed: Exception | None = None
        """What made a write by the background writer fail: lines were lost, so every later
        add() and flush() raises it instead of writing on as if nothing happened."""
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.lines_written = 0
        self._file_attempt: dict[tuple[str, str], int] = {}
        self._files: OrderedDict[tuple[str, str], TextIO] = OrderedDict()
        """Open ``STAGE/AGENT.log`` files, most recently used last (at most MAX_OPEN_FILES)."""
        self._broken: set[tuple[str, str]] = set()
        """Files that could not be written, let go for the rest of the run."""

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="log-sink")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        try:
            await self.flush()
        finally:
            for fh in self._files.values():
                fh.close()
            self._files.clear()

    async def add(self, key: LogKey, blocks: Sequence[LogBlock]) -> None:
        """Queue one attempt's blocks of lines (in order); waits for the writer when too much is
        queued. Raises what made the writer fail (a full disk), so the attempt stops there.

        ``key`` is ``(stage, agent, attempt)``. A list is taken over, not copied: the caller
        must not use it afterwards.
        """
        if self._failed is not None:
            raise self._failed
        if not blocks:
            return
        queued = self._buffer.get(key)
        if queued is None:
            self._buffer[key] = blocks if isinstance(blocks, list) else list(blocks)
        else:
            queued += blocks
        rows = sum(b.count for b in blocks)
        chars = sum(len(b.text) for b in blocks)
        self._queued_rows += rows
        self._queued_chars += chars
        self._rows += rows
        self._chars += chars
        if self._queued_rows >= BATCH_ROWS or self._queued_chars >= BATCH_CHARS:
            self._wake.set()
        if self._rows >= MAX_BUFFERED_ROWS or self._chars >= MAX_BUFFERED_CHARS:
            await self.flush()

    async def flush(self) -> None:
        """Write everything queued. Raises what made a write fail, this one's or an earlier one's
        (a flush that waited for the background writer's sees that writer's failure)."""
        async with self._lock:
            if self._failed is not None:
                raise self._failed
            while self._buffer:
                batch = list(self._buffer.items())
                rows, chars = self._queued_rows, self._queued_chars
                self._buffer, self._queued_rows, self._queued_chars = {}, 0, 0
                try:
                    outcomes = await asyncio.gather(
                        self._store.append_log_blocks(self._run_id, batch),
                        asyncio.to_thread(self._append_files, batch),
                        return_exceptions=True,
                    )
                finally:
                    self._rows -= rows
                    self._chars -= chars
                for outcome in outcomes:  # the store's error first: it is the one that matters
                    if isinstance(outcome, Exception):
                        self._failed = outcome
                    if isinstance(outcome, BaseException):
                        raise outcome
                self.lines_written += rows

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), FLUSH_INTERVAL_S)
            self._wake.clear()
            try:
                await self.flush()
            except Exception:  # kept by flush(): the producers' add() and flush() raise it
                return

    def _append_files(self, batch: LogBatches) -> None:
        """Keep ``STAGE/AGENT.log`` in the run folder growing with the store.

        A file that cannot be written (a full disk, a size limit, a folder in its place) is let
        go for the rest of the run: the store holds every line, it decides whether the run can
        go on, and ``phaseboard report`` rebuilds the file from it.
        """
        for (stage, agent, attempt), blocks in batch:
            key = (stage, agent)
            fh = self._open(key)
            if fh is None:
                continue
            try:
                if self._file_attempt.get(key) != attempt:
                    self._file_attempt[key] = attempt
                    fh.write(f"--- attempt {attempt} ---\n")
                for block in blocks:
                    fh.writelines(block.printed())
                fh.flush()
            except OSError:
                self._let_go(key)

    def _let_go(self, key: tuple[str, str]) -> None:
        self._broken.add(key)
        fh = self._files.pop(key, None)
        if fh is not None:
            with contextlib.suppress(OSError):
                fh.close()

    def _open(self, key: tuple[str, str]) -> TextIO | None:
        fh = self._files.get(key)
        if fh is not None:
            self._files.move_to_end(key)
            return fh
        if key in self._broken:
            return None
        stage, agent = key
        path = self._run_dir / stage / f"{agent}.log"
        try:
            # never parents=True: a vanished workspace must not be recreated by a log write
            path.parent.mkdir(exist_ok=True, mode=0o700)
            fh = open(path, "a", encoding="utf-8", errors="backslashreplace")  # noqa: SIM115
        except FileNotFoundError:
            return None  # the store holds every line; `phaseboard report` rebuilds the file
        except OSError:
            self._let_go(key)
            return None
        self._files[key] = fh
        if len(self._files) > MAX_OPEN_FILES:
            _, oldest = self._files.popitem(last=False)
            oldest.close()
        return fh
