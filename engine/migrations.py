"""Schema versions of the store, applied in order; ``PRAGMA user_version`` records the last one.

A migration is appended, never edited: databases in the field were made by the old ones.
"""

from __future__ import annotations

from engine.snapshots import SNAPSHOT_SCHEMA

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
CREATE TABLE IF NOT EXISTS logs (
    id INTEGER PRIMARY KEY,
    run_id TEXT NOT NULL,
    stage TEXT NOT NULL,
    agent TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    stream TEXT NOT NULL,
    ts REAL NOT NULL,
    text TEXT NOT NULL,
    partial INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS logs_by_agent ON logs (run_id, stage, agent, attempt, id);
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

MIGRATIONS: list[tuple[int, str]] = [(1, _V1 + SNAPSHOT_SCHEMA)]
SCHEMA_VERSION = MIGRATIONS[-1][0]
