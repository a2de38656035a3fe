"""Batched, bounded writing of agent log lines to the store and to the run folder.

Lines are buffered and written with one ``executemany`` per batch (one cross-thread
round trip instead of one per line); a producer that gets too far ahead waits for
the writer, so memory stays bounded whatever an agent prints.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from engine.store import LogRow, Store

BATCH_ROWS = 1000
FLUSH_INTERVAL_S = 0.1
MAX_BUFFERED_ROWS = 20_000
MAX_OPEN_FILES = 64


class LogSink:
    def __init__(self, store: Store, run_id: str, run_dir: Path) -> None:
        self._store = store
        self._run_id = run_id
        self._run_dir = run_dir
        self._buffer: list[LogRow] = []
        self._lock = asyncio.Lock()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.lines_written = 0
        self._file_attempt: dict[tuple[str, str], int] = {}
        self._files: OrderedDict[tuple[str, str], TextIO] = OrderedDict()
        """Open ``STAGE/AGENT.log`` files, most recently used last (at most MAX_OPEN_FILES)."""

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="log-sink")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self.flush()
        for fh in self._files.values():
            fh.close()
        self._files.clear()

    async def add(self, rows: Sequence[LogRow]) -> None:
        self._buffer.extend(rows)
        if len(self._buffer) >= BATCH_ROWS:
            self._wake.set()
        if len(self._buffer) >= MAX_BUFFERED_ROWS:
            await self.flush()

    async def flush(self) -> None:
        async with self._lock:
            while self._buffer:
                batch, self._buffer = self._buffer, []
                await self._store.append_logs(self._run_id, batch)
                await asyncio.to_thread(self._append_files, batch)
                self.lines_written += len(batch)

    async def _loop(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), FLUSH_INTERVAL_S)
            self._wake.clear()
            await self.flush()

    def _append_files(self, batch: Sequence[LogRow]) -> None:
        """Keep ``STAGE/AGENT.log`` in the run folder growing with the store."""
        groups: dict[tuple[str, str], list[str]] = {}
        for row in batch:
            key = (row.stage, row.agent)
            texts = groups.setdefault(key, [])
            if self._file_attempt.get(key) != row.attempt:
                self._file_attempt[key] = row.attempt
                texts.append(f"--- attempt {row.attempt} ---\n")
            texts.append(row.text if row.partial else row.text + "\n")
        for key, texts in groups.items():
            fh = self._open(key)
            if fh is not None:
                fh.writelines(texts)
                fh.flush()

    def _open(self, key: tuple[str, str]) -> TextIO | None:
        fh = self._files.get(key)
        if fh is not None:
            self._files.move_to_end(key)
            return fh
        stage, agent = key
        path = self._run_dir / stage / f"{agent}.log"
        try:
            # never parents=True: a vanished workspace must not be recreated by a log write
            path.parent.mkdir(exist_ok=True, mode=0o700)
            fh = open(path, "a", encoding="utf-8", errors="backslashreplace")  # noqa: SIM115
        except FileNotFoundError:
            return None  # the store holds every line; `phaseboard report` rebuilds the file
        self._files[key] = fh
        if len(self._files) > MAX_OPEN_FILES:
            _, oldest = self._files.popitem(last=False)
            oldest.close()
        return fh
