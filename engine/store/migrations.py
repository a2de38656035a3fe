"""Schema versions of the store, applied in order; ``PRAGMA user_version`` records the last one.

Log lines are narrow rows keyed by a small integer source (run, stage, agent, attempt): a
million lines then cost about their own text, and inserting them about what a bare table
costs. The ``logs`` view shows them with their names, for people reading the file.

Version 2 indexes the events that are not ``agent_message``: the one kind that grows without
bound in a long run, and of which the folded state keeps only the last few. Rebuilding a run's
state then reads its few hundred other events through this small index and the last messages
backwards along the primary key, instead of decoding a million rows. The index is partial so
that the messages, nearly every row of a long run, cost nothing to insert or store in it.

Version 3 indexes the cache key of ``attempt_finished`` events (an expression index, partial to
that kind): an agent marked ``cache: true`` finds an earlier attempt with its key without reading
the whole log (:mod:`engine.store.result_lookup`).

Version 4 stores agent output in chunks, one row per batch of lines of an attempt
(:mod:`engine.store.log_chunks`), instead of one row per line: the database holds a log in about
its own bytes, and reading or searching a million lines is a few hundred rows. Its data step
(:func:`engine.store.log_migration.chunk_old_lines`) moves the lines of older databases over,
in the same transaction. The ``logs`` view now shows the chunks with their names.

Version 5 changes no table: snapshot blobs may now be compressed with Zstandard
(``blobs.compression = 'zstd'``), which a phaseboard of version 4 could not restore. The version
tells it so when it opens the database, instead of at the rollback that needs the blob.

Version 6 adds ``locks.waiting``: the engine holding a run says whether it is waiting for the
operator (a console's engine on a paused run), so that ``phaseboard resume --headless`` hands
such a run to it rather than fail on its lock, and still refuses a run an engine is driving.

A migration is appended, never edited: databases in the field were made by the old ones.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiosqlite

from engine.snapshots.take import SNAPSHOT_SCHEMA
from engine.store.log_migration import LOG_CHUNKS_SCHEMA, LOGS_VIEW, chunk_old_lines

_V1 = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY,
    workflow TEXT NOT NULL,
    workspace TEXT NOT NULL,
    run_dir TEXT NOT NULL,
    created_at REAL NOT NULL,
    status TEXT NOT NULL,
    decision TEXT,
    started_at REAL,
    ended_at REAL
);
CREATE TABLE IF NOT EXISTS events (
    run_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    ts REAL NOT NULL,
    kind TEXT NOT NULL,
    operator TEXT NOT NULL DEFAULT '',
    data TEXT NOT NULL,
    PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS log_sources (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    stage TEXT NOT NULL,
    agent TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    UNIQUE (run_id, stage, agent, attempt)
);
CREATE TABLE IF NOT EXISTS log_lines (
    id INTEGER PRIMARY KEY,
    source INTEGER NOT NULL,
    stream INTEGER NOT NULL,
    ts REAL NOT NULL,
    text TEXT NOT NULL,
    partial INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS log_lines_by_source ON log_lines (source, id);
CREATE VIEW IF NOT EXISTS logs AS
    SELECT l.id AS id, s.run_id AS run_id, s.stage AS stage, s.agent AS agent,
           s.attempt AS attempt,
           CASE l.stream WHEN 0 THEN 'stdout' ELSE 'stderr' END AS stream,
           l.ts AS ts, l.text AS text, l.partial AS partial
    FROM log_lines l JOIN log_sources s ON s.id = l.source;
CREATE TABLE IF NOT EXISTS commands (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    args TEXT NOT NULL,
    operator TEXT NOT NULL,
    created_at REAL NOT NULL,
    applied_at REAL,
    outcome TEXT
);
CREATE INDEX IF NOT EXISTS commands_pending ON commands (run_id, applied_at, id);
CREATE TABLE IF NOT EXISTS locks (
    run_id TEXT PRIMARY KEY,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    create_time REAL NOT NULL,
    heartbeat REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS run_manifests (
    run_id TEXT NOT NULL,
    manifest_id INTEGER NOT NULL,
    PRIMARY KEY (run_id, manifest_id)
) WITHOUT ROWID;
"""

_V2 = """
CREATE INDEX IF NOT EXISTS events_not_messages ON events (run_id, seq)
    WHERE kind != 'agent_message';
"""

_V3 = """
CREATE INDEX IF NOT EXISTS events_cache_key ON events (json_extract(data, '$.cache_key'))
    WHERE kind = 'attempt_finished';
"""

MIGRATIONS: list[tuple[int, str]] = [
    (1, _V1 + SNAPSHOT_SCHEMA),
    (2, _V2),
    (3, _V3),
    (4, LOG_CHUNKS_SCHEMA),
    (5, "-- snapshot blobs may be compressed with zstd\n"),
    (6, "ALTER TABLE locks ADD COLUMN waiting INTEGER NOT NULL DEFAULT 0;\n"),
]
DATA_STEPS: dict[int, tuple[Callable[[aiosqlite.Connection], Awaitable[None]], str]] = {
    4: (chunk_old_lines, LOGS_VIEW),
}
"""Per version, Python run after its SQL in the same transaction, then more SQL."""
SCHEMA_VERSION = MIGRATIONS[-1][0]
