"""Schema version 4: agent output moves from one row per line to chunks.

Databases made before it keep their lines: each attempt's rows are read in order and stored
again as chunks (:mod:`engine.store.log_chunks`) inside the migration's transaction, then the
old table goes. A database of two million lines takes a few seconds, once.
"""

from __future__ import annotations

from typing import Any

import aiosqlite

from engine.execution.log_block import LogBlock, Stream
from engine.store.log_chunks import Chunk, pack

OLD_LINES_READ = 4096
"""Rows of the old table read, and stored again, at a time."""

LOG_CHUNKS_SCHEMA = """
CREATE TABLE IF NOT EXISTS log_chunks (
    id INTEGER PRIMARY KEY,
    source INTEGER NOT NULL,
    first_line INTEGER NOT NULL,
    lines INTEGER NOT NULL,
    ts REAL NOT NULL,
    width INTEGER NOT NULL,
    text TEXT NOT NULL,
    marks BLOB,
    plain INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS log_chunks_by_source ON log_chunks (source, first_line);
"""

LOGS_VIEW = """
DROP VIEW IF EXISTS logs;
CREATE VIEW logs AS
    SELECT c.id AS id, s.run_id AS run_id, s.stage AS stage, s.agent AS agent,
           s.attempt AS attempt, c.first_line AS first_line, c.lines AS lines, c.ts AS ts,
           c.text AS text, c.marks AS marks
    FROM log_chunks c JOIN log_sources s ON s.id = c.source;
"""

INSERT_CHUNK = (
    "INSERT INTO log_chunks(source, first_line, lines, ts, width, text, marks, plain) "
    "VALUES (?,?,?,?,?,?,?,?)"
)


def chunk_rows(
    source: int, first_line: int, chunks: list[Chunk]
) -> tuple[list[tuple[Any, ...]], int]:
    """The rows INSERT_CHUNK takes for consecutive chunks of one source whose first line is
    ``first_line``, and the number of the line after them."""
    rows: list[tuple[Any, ...]] = []
    for c in chunks:
        rows.append((source, first_line, c.count, c.ts, c.width, c.text, c.marks, c.plain))
        first_line += c.count
    return rows, first_line


async def chunk_old_lines(conn: aiosqlite.Connection) -> None:
    """Store the rows of ``log_lines`` again as chunks, attempt by attempt, in order; then drop
    the table. Runs inside the migration's transaction."""
    async with conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'log_lines'"
    ) as cur:
        if await cur.fetchone() is None:
            return
    source = -1  # none yet: row ids start at 1
    pending: list[tuple[Stream, str, bool]] = []
    first_ts = 0.0
    next_line = 0

    async def flush() -> None:
        nonlocal next_line
        if not pending:
            return
        rows, next_line = chunk_rows(source, next_line, pack([LogBlock.of(pending, first_ts)]))
        pending.clear()
        await conn.executemany(INSERT_CHUNK, rows)

    async with conn.execute(
        "SELECT source, stream, text, ts, partial FROM log_lines ORDER BY source, id"
    ) as cur:
        while rows := await cur.fetchmany(OLD_LINES_READ):
            for row in rows:
                if row[0] != source:
                    await flush()
                    source, next_line = int(row[0]), 0
                if not pending:
                    first_ts = row[3]
                pending.append(("stderr" if row[1] else "stdout", row[2], bool(row[4])))
                if len(pending) >= OLD_LINES_READ:
                    await flush()
    await flush()
    await conn.execute("DROP VIEW IF EXISTS logs")
    await conn.execute("DROP TABLE log_lines")
