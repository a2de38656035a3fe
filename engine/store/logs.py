"""The log tables of :class:`engine.store.database.Store`: every line an agent printed, in order.

Lines are stored in chunks (:mod:`engine.store.log_chunks`), one row per batch of one attempt,
keyed by a small integer source (run, stage, agent, attempt) and the number of the chunk's first
line in that attempt: a million lines cost about their own bytes, a reader finds any line with
one index lookup, and a search runs in SQLite over the chunks' text.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import aiosqlite

from engine.execution.log_block import LogBlock, Stream
from engine.store.core import StoreCore
from engine.store.log_chunks import chunk_of, line_id, pack, printed, unpack
from engine.store.log_migration import INSERT_CHUNK, chunk_rows
from engine.store.rows import LogBatches, LogKey, LogRow, StoredLog


@dataclass(frozen=True, slots=True)
class StoredChunk:
    """A chunk as read back: its lines are ``first_line .. first_line + count - 1`` of its
    attempt; ``plain`` chunks need no sanitising to be shown."""

    id: int
    attempt: int
    first_line: int
    count: int
    ts: float
    text: str
    marks: bytes | None
    plain: bool

    def lines(self) -> list[tuple[Stream, str, bool]]:
        """``(stream, text, partial)`` of each line."""
        return unpack(self.text, self.count, self.marks)

    def printed(self, skip: int = 0, *, clean: bool = False) -> str:
        """The lines from index ``skip`` on as an agent printed them (see
        :func:`engine.store.log_chunks.printed`)."""
        return printed(self.text, self.count, self.marks, self.plain, skip, clean=clean)


PRINT_READ_LINES = 32_768
"""Lines read at a time by :meth:`LogTables.printed_log` (a few chunks: memory stays small)."""


class LogTables(StoreCore):
    async def append_logs(self, run_id: str, rows: Sequence[LogRow]) -> None:
        """Store lines given one by one with whose they are: each attempt's lines in order, as
        chunks of that attempt (as the log sink groups them)."""
        lines: dict[LogKey, list[tuple[Stream, str, bool]]] = {}
        first: dict[LogKey, float] = {}
        for r in rows:
            key = (r.stage, r.agent, r.attempt)
            first.setdefault(key, r.ts)
            lines.setdefault(key, []).append((r.stream, r.text, r.partial))  # type: ignore[arg-type]
        batches = [(key, [LogBlock.of(group, first[key])]) for key, group in lines.items()]
        await self.append_log_blocks(run_id, batches)

    async def append_log_blocks(self, run_id: str, batches: LogBatches) -> None:
        """Store groups of blocks of lines in one transaction, each group in order, as chunks."""
        packed = [(key, pack(blocks)) for key, blocks in batches if blocks]
        if not packed:
            return
        fresh: dict[tuple[str, str, str, int], int] = {}
        ends: dict[int, int] = {}

        async def fn(conn: aiosqlite.Connection) -> None:
            fresh.clear()  # a retried transaction starts over
            ends.clear()
            rows: list[tuple[Any, ...]] = []
            for key, chunks in packed:
                source = await self._log_source(conn, (run_id, *key), fresh)
                line = ends.get(source)
                if line is None:
                    line = await self._source_end(conn, source)
                added, ends[source] = chunk_rows(source, line, chunks)
                rows += added
            await conn.executemany(INSERT_CHUNK, rows)

        await self._write(fn)
        self._sources.update(fresh)  # only once committed: a rolled-back id must not be reused
        self._source_lines.update(ends)

    async def _source_end(self, conn: aiosqlite.Connection, source: int) -> int:
        known = self._source_lines.get(source)
        if known is not None:
            return known
        async with conn.execute(
            "SELECT first_line + lines FROM log_chunks WHERE source = ? "
            "ORDER BY first_line DESC LIMIT 1",
            (source,),
        ) as cur:
            row = await cur.fetchone()
        return int(row[0]) if row else 0

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

    async def _names(
        self, run_id: str, stage: str | None, agent: str | None, attempt: int | None
    ) -> dict[int, tuple[str, str, int]]:
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
            return {int(r[0]): (r[1], r[2], int(r[3])) for r in await cur.fetchall()}

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
        """Log lines in order; with ``newest`` the last ``limit`` lines (still in order).

        A line's ``id`` grows in the order lines were stored: pass the last one seen as
        ``after_id`` to read on from there."""
        names = await self._names(run_id, stage, agent, attempt)
        if not names:
            return []
        marks = ",".join("?" * len(names))
        order = "DESC" if newest else "ASC"
        sql = (
            "SELECT id, source, ts, text, lines, marks FROM log_chunks "
            f"WHERE source IN ({marks}) AND id >= ? ORDER BY id {order}"
        )
        out: list[StoredLog] = []
        async with self._conn.execute(sql, [*names, chunk_of(after_id)]) as cur:
            while limit is None or len(out) < limit:
                # a chunk holds up to thousands of lines: with a limit, one chunk at a time
                rows = await cur.fetchmany(16 if limit is None else 1)
                if not rows:
                    break
                for r in rows:
                    stage_, agent_, attempt_ = names[r[1]]
                    found = [
                        StoredLog(line_id(r[0], i), stage_, agent_, attempt_, s, r[2], t, p)
                        for i, (s, t, p) in enumerate(unpack(r[3], r[4], r[5]))
                    ]
                    found = [line for line in found if line.id > after_id]
                    if newest:
                        found.reverse()
                    out += found
        if limit is not None:
            out = out[:limit]
        if newest:
            out.reverse()
        return out

    async def log_extents(
        self, run_id: str, stage: str, agent: str, since: dict[int, int] | None = None
    ) -> dict[int, tuple[int, int]]:
        """For each attempt of one agent: the lines stored so far and the longest line's
        characters; with ``since`` (lines already seen per attempt), the width is that of the
        chunks from there on only (a reader that follows a log reads only what is new)."""
        since = since or {}
        out: dict[int, tuple[int, int]] = {}
        for source, (_, _, attempt) in (await self._names(run_id, stage, agent, None)).items():
            seen = since.get(attempt, 0)
            async with self._conn.execute(
                "SELECT MAX(first_line + lines), MAX(width) FROM log_chunks "
                "WHERE source = ? AND first_line + lines > ?",
                (source, seen),
            ) as cur:
                row = await cur.fetchone()
            lines = int(row[0]) if row and row[0] is not None else seen
            out[attempt] = (lines, int(row[1] or 0) if row else 0)
        return out

    async def log_chunks(
        self,
        run_id: str,
        stage: str,
        agent: str,
        attempt: int,
        first: int = 0,
        count: int | None = None,
        *,
        containing: str | None = None,
    ) -> list[StoredChunk]:
        """The chunks of one attempt that hold lines ``first .. first + count - 1`` (all from
        ``first`` on without ``count``), in order. With ``containing``, only the chunks whose
        text has it, ignoring ASCII case, and the chunks that are not plain (whose lines may show
        it once sanitised): the caller looks for it in their lines."""
        names = await self._names(run_id, stage, agent, attempt)
        if not names:
            return []
        (source,) = names
        sql = (
            "SELECT id, first_line, lines, ts, text, marks, plain FROM log_chunks "
            "WHERE source = ? AND first_line >= (SELECT COALESCE(MAX(first_line), 0) "
            "FROM log_chunks WHERE source = ? AND first_line <= ?) AND first_line + lines > ?"
        )
        params: list[Any] = [source, source, first, first]
        if count is not None:
            sql += " AND first_line < ?"
            params.append(first + count)
        if containing is not None:
            sql += " AND (NOT plain OR text LIKE ? ESCAPE '\\')"
            escaped = containing.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            params.append(f"%{escaped}%")
        sql += " ORDER BY first_line"
        async with self._conn.execute(sql, params) as cur:
            rows = await cur.fetchall()
        return [StoredChunk(r[0], attempt, r[1], r[2], r[3], r[4], r[5], bool(r[6])) for r in rows]

    async def printed_log(
        self, run_id: str, stage: str, agent: str, attempt: int, first: int = 0, *, clean: bool
    ) -> AsyncIterator[tuple[str, int]]:
        """One attempt's lines from line ``first`` on as the agent printed them, a chunk at a
        time (see :meth:`StoredChunk.printed`), each with the number of the line after it."""
        done = first
        while chunks := await self.log_chunks(
            run_id, stage, agent, attempt, done, PRINT_READ_LINES
        ):
            for chunk in chunks:
                text = chunk.printed(max(0, done - chunk.first_line), clean=clean)
                done = chunk.first_line + chunk.count
                yield text, done

    async def log_count(self, run_id: str) -> int:
        return int(
            await self._scalar(
                "SELECT COALESCE(SUM(lines), 0) FROM log_chunks WHERE source IN "
                "(SELECT id FROM log_sources WHERE run_id = ?)",
                (run_id,),
            )
        )
