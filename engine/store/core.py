"""What every part of :class:`engine.store.database.Store` shares: the connection, and one
``BEGIN IMMEDIATE`` transaction at a time per process."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from engine.store.rows import AppendRequest, explain


class StoreError(Exception):
    """A database that cannot be used: locked, read-only, corrupt or from a newer phaseboard."""


class StoreCore:
    """The connection and its transactions; the tables' methods build on these."""

    def __init__(self, path: Path, conn: aiosqlite.Connection) -> None:
        self.path = path
        self._conn = conn
        self._write_lock = asyncio.Lock()
        """Tasks of one process share the connection: one transaction at a time."""
        self._appends: list[AppendRequest] = []
        self._sources: dict[tuple[str, str, str, int], int] = {}
        """Log source ids already in the file (they are never deleted while a run lives)."""
        self._source_lines: dict[int, int] = {}
        """Lines stored so far per log source, where this process wrote them (committed)."""
        self._appender: asyncio.Future[None] | None = None

    # -- transactions ----------------------------------------------------------------------

    def _explain(self, exc: sqlite3.Error) -> str:
        return explain(self.path, exc)

    async def _scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        async with self._conn.execute(sql, params) as cur:
            row = await cur.fetchone()
        return None if row is None else row[0]

    async def _write(self, fn: Any) -> Any:
        """Run ``fn(conn)`` inside one IMMEDIATE transaction."""
        async with self._write_lock:
            return await self._write_locked(fn)

    async def _write_locked(self, fn: Any) -> Any:
        try:
            await self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise StoreError(self._explain(exc)) from None
        try:
            result = await fn(self._conn)
            await self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            await self._rollback()
            raise StoreError(self._explain(exc)) from None
        except BaseException:
            await self._rollback()
            raise
        return result

    async def _rollback(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            await self._conn.execute("ROLLBACK")
