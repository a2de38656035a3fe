"""The log tables of :class:`engine.store.database.Store`: every line an agent printed, in order."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from itertools import chain
from typing import Any

import aiosqlite

from engine.execution.executor import LogLine
from engine.store.core import StoreCore
from engine.store.rows import LogBatches, LogKey, LogRow, StoredLog

_ROWS_PER_INSERT = 100


class LogTables(StoreCore):
    """Lines are keyed by a small integer source (run, stage, agent, attempt): a row per line
    is a few integers and the text, which keeps a million-line log near its raw size."""

    async def append_logs(self, run_id: str, rows: Sequence[LogRow]) -> None:
        """Store lines given one by one with whose they are (in order)."""
        batches: list[tuple[LogKey, list[LogLine]]] = []
        current: LogKey | None = None
        for r in rows:
            key = (r.stage, r.agent, r.attempt)
            if key != current:
                batches.append((key, []))
                current = key
            batches[-1][1].append((r.stream, r.text, r.ts, r.partial))  # type: ignore[arg-type]
        await self.append_log_lines(run_id, batches)

    async def append_log_lines(self, run_id: str, batches: LogBatches) -> None:
        """Store groups of lines in one transaction, each group's lines in order.

        The executor's tuples are bound as they are: the source is part of the statement
        (cached statements per attempt) and the stream code is computed by SQLite, so a flood
        of lines costs no Python object per line here. Each statement inserts
        ``_ROWS_PER_INSERT`` rows: a fraction of the per-statement work, and of the times the
        writer thread gives up the interpreter lock and waits to take it back.
        """
        if not batches:
            return

        fresh: dict[tuple[str, str, str, int], int] = {}

        async def fn(conn: aiosqlite.Connection) -> None:
            fresh.clear()  # a retried transaction starts over
            for key, lines in batches:
                if lines:
                    source = await self._log_source(conn, (run_id, *key), fresh)
                    await _insert_lines(conn, source, lines)

        await self._write(fn)
        self._sources.update(fresh)  # only once committed: a rolled-back id must not be reused

    async def _log_source(
        self,
        conn: aiosqlite.Connection,
        key: tuple[str, str, str, int],
        fresh: dict[tuple[str, str, str, int], int],
    ) -> int:
        cached = self._sources.get(key, fresh.get(key))
        if cached is not None:
            return cached
        await conn.execute(
            "INSERT OR IGNORE INTO log_sources(run_id, stage, agent, attempt) VALUES (?,?,?,?)",
            key,
        )
        async with conn.execute(
            "SELECT id FROM log_sources WHERE run_id = ? AND stage = ? AND agent = ? AND attempt = ?",
            key,
        ) as cur:
            row = await cur.fetchone()
        assert row is not None
        fresh[key] = int(row[0])
        return int(row[0])

    async def logs(
        self,
        run_id: str,
        stage: str | None = None,
        agent: str | None = None,
        attempt: int | None = None,
        *,
        after_id: int = 0,
        limit: int | None = None,
        newest: bool = False,
    ) -> list[StoredLog]:
        """Log lines in order; with ``newest`` the last ``limit`` lines (still in order)."""
        where = ["run_id = ?"]
        params: list[Any] = [run_id]
        for column, value in (("stage", stage), ("agent", agent), ("attempt", attempt)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        async with self._conn.execute(
            f"SELECT id, stage, agent, attempt FROM log_sources WHERE {' AND '.join(where)}",
            params,
        ) as cur:
            names = {int(r[0]): (r[1], r[2], int(r[3])) for r in await cur.fetchall()}
        if not names:
            return []
        marks = ",".join("?" * len(names))
        order = "DESC" if newest else "ASC"
        sql = (
            "SELECT id, source, stream, ts, text, partial FROM log_lines "
            f"WHERE source IN ({marks}) AND id > ? ORDER BY id {order}"
        )
        query: list[Any] = [*names, after_id]
        if limit is not None:
            sql += " LIMIT ?"
            query.append(limit)
        async with self._conn.execute(sql, query) as cur:
            rows = await cur.fetchall()
        out = []
        for r in rows:
            stage_, agent_, attempt_ = names[r[1]]
            stream = "stdout" if r[2] == 0 else "stderr"
            out.append(StoredLog(r[0], stage_, agent_, attempt_, stream, r[3], r[4], bool(r[5])))
        if newest:
            out.reverse()
        return out

    async def log_count(self, run_id: str) -> int:
        return int(
            await self._scalar(
                "SELECT COUNT(*) FROM log_lines WHERE source IN "
                "(SELECT id FROM log_sources WHERE run_id = ?)",
                (run_id,),
            )
        )


async def _insert_lines(conn: aiosqlite.Connection, source: int, lines: Sequence[LogLine]) -> None:
    """Insert one source's ``(stream, text, ts, partial)`` tuples, in order."""
    size = _ROWS_PER_INSERT
    whole = len(lines) - len(lines) % size
    if whole:
        await conn.executemany(
            _insert_lines_sql(source, size),
            [tuple(chain.from_iterable(lines[i : i + size])) for i in range(0, whole, size)],
        )
    if whole < len(lines):
        await conn.executemany(_insert_lines_sql(source, 1), lines[whole:])


@functools.lru_cache(maxsize=256)
def _insert_lines_sql(source: int, rows: int) -> str:
    values = ",".join([f"({int(source)}, ? = 'stderr', ?, ?, ?)"] * rows)
    return f"INSERT INTO log_lines(source, stream, text, ts, partial) VALUES {values}"
