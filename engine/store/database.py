"""The SQLite store: the one channel between an engine and whatever watches or commands it.

One file, WAL mode, one aiosqlite connection per process. Every write is a
batch in one ``BEGIN IMMEDIATE`` transaction: an engine's step (its events and
the command it applies) commits whole or not at all, so a kill at any instant
leaves a history that folds to a consistent state.
"""

from __future__ import annotations

import asyncio
import functools
import gc
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, cast

import aiosqlite

from engine.state.events import Event, Payload
from engine.store.control import ControlTables
from engine.store.core import StoreError
from engine.store.history import HistoryTables
from engine.store.logs import LogTables
from engine.store.migrations import DATA_STEPS, MIGRATIONS, SCHEMA_VERSION
from engine.store.result_lookup import ResultLookupTables
from engine.store.rows import (
    AppendRequest,
    Command,
    LockRow,
    LogBatches,
    LogKey,
    LogRow,
    RunRow,
    StoredLog,
    _run_row,
    explain,
)
from engine.support import jsonio

__all__ = [
    "BUSY_TIMEOUT_MS",
    "Command",
    "LockRow",
    "LogBatches",
    "LogKey",
    "LogRow",
    "RunRow",
    "Store",
    "StoreError",
    "StoredLog",
    "explain",
]

BUSY_TIMEOUT_MS = 30_000
MESSAGE_KIND = "agent_message"
"""The one kind of event a long run has without bound (see :meth:`Store.state_events`)."""
_EVENT_COLUMNS = "seq, ts, kind, operator, data"
_GC_PAUSE_ROWS = 10_000


def _prepare_file(path: Path) -> None:
    """Create the database file and its folder with owner-only permissions."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)


class Store(LogTables, ControlTables, HistoryTables, ResultLookupTables):
    """Async access to one phaseboard database: runs, events and snapshots here, logs in
    :class:`~engine.store.logs.LogTables`, commands and the lock in
    :class:`~engine.store.control.ControlTables`, earlier runs' durations in
    :class:`~engine.store.history.HistoryTables`, earlier attempts a cached agent may reuse in
    :class:`~engine.store.result_lookup.ResultLookupTables`."""

    # -- opening ---------------------------------------------------------------------------

    @classmethod
    async def open(cls, path: str | Path, *, create: bool = True) -> Store:
        path = Path(path)
        if not path.exists():
            if not create:
                raise StoreError(f"no phaseboard database at {path}")
            try:
                _prepare_file(path)
            except OSError as exc:
                raise StoreError(f"cannot create database {path}: {exc.strerror}") from None
        if not os.access(path, os.R_OK):
            raise StoreError(f"cannot read database {path}: permission denied")
        try:
            conn = await aiosqlite.connect(path, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(explain(path, exc)) from None
        store = cls(path, conn)
        try:
            await store._setup()
        except BaseException:
            await conn.close()
            raise
        return store

    async def _setup(self) -> None:
        conn = self._conn
        conn.row_factory = sqlite3.Row
        try:
            await conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            version = await self._scalar("PRAGMA user_version")
            if version > SCHEMA_VERSION:
                raise StoreError(
                    f"database {self.path} has schema version {version}, newer than this "
                    f"phaseboard understands ({SCHEMA_VERSION}); upgrade phaseboard to use it"
                )
            mode = await self._scalar("PRAGMA journal_mode")
            if mode != "wal" and os.access(self.path, os.W_OK):
                await conn.execute("PRAGMA journal_mode=WAL")
            await conn.execute("PRAGMA synchronous=FULL")
            await conn.execute("PRAGMA foreign_keys=ON")
            if version < SCHEMA_VERSION:
                await self._migrate(version)
        except sqlite3.DatabaseError as exc:
            raise StoreError(self._explain(exc)) from None

    async def _migrate(self, current: int) -> None:
        for version, script in MIGRATIONS:
            if version <= current:
                continue
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                # another process may have migrated while we waited for the write lock, and a
                # step like ALTER TABLE ADD COLUMN cannot run twice
                if await self._scalar("PRAGMA user_version") >= version:
                    await self._conn.execute("COMMIT")
                    continue
                for statement in _split_sql(script):
                    await self._conn.execute(statement)
                if version in DATA_STEPS:
                    step, after = DATA_STEPS[version]
                    await step(self._conn)
                    for statement in _split_sql(after):
                        await self._conn.execute(statement)
                await self._conn.execute(f"PRAGMA user_version={version}")
                await self._conn.execute("COMMIT")
            except BaseException:
                await self._conn.execute("ROLLBACK")
                raise

    async def close(self) -> None:
        await self._conn.close()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- runs ------------------------------------------------------------------------------

    async def create_run(self, run_id: str, workflow: str, workspace: str, run_dir: str) -> None:
        now = time.time()

        async def fn(conn: aiosqlite.Connection) -> None:
            await conn.execute(
                "INSERT INTO runs(id, workflow, workspace, run_dir, created_at, status) "
                "VALUES (?, ?, ?, ?, ?, 'pending')",
                (run_id, workflow, workspace, run_dir, now),
            )

        await self._write(fn)

    async def runs(self) -> list[RunRow]:
        async with self._conn.execute(
            "SELECT * FROM runs ORDER BY created_at DESC, id DESC"
        ) as cur:
            rows = await cur.fetchall()
        return [_run_row(r) for r in rows]

    async def run(self, run_id: str) -> RunRow | None:
        async with self._conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)) as cur:
            row = await cur.fetchone()
        return None if row is None else _run_row(row)

    async def delete_run(self, run_id: str) -> None:
        async def fn(conn: aiosqlite.Connection) -> None:
            await conn.execute(
                "DELETE FROM log_chunks WHERE source IN "
                "(SELECT id FROM log_sources WHERE run_id = ?)",
                (run_id,),
            )
            for table in ("log_sources", "events", "commands", "locks", "run_manifests"):
                await conn.execute(f"DELETE FROM {table} WHERE run_id = ?", (run_id,))
            await conn.execute("DELETE FROM runs WHERE id = ?", (run_id,))

        await self._write(fn)

    # -- events ----------------------------------------------------------------------------

    async def append(
        self,
        run_id: str,
        payloads: Iterable[Payload],
        *,
        operator: str = "",
        command: tuple[int, dict[str, Any]] | None = None,
        manifests: Iterable[int] = (),
    ) -> list[Event]:
        """Append events (and mark a command applied) atomically.

        Appends made while a transaction is under way are grouped into the next one (group
        commit): many agents finishing at once cost one fsync, not one each. Each caller's
        events stay contiguous and in order.
        """
        request = AppendRequest(run_id, list(payloads), operator, command, tuple(manifests))
        self._appends.append(request)
        if self._appender is None or self._appender.done():
            self._appender = asyncio.ensure_future(self._drain_appends())
        return await request.future

    async def _drain_appends(self) -> None:
        while self._appends:
            batch, self._appends = self._appends, []
            try:
                await self._write(functools.partial(_append_batch, batch=batch))
            except BaseException as exc:
                for request in batch:
                    if not request.future.done():
                        request.future.set_exception(exc)
                if not isinstance(exc, Exception):
                    raise
                continue
            for request in batch:
                if not request.future.done():
                    request.future.set_result(request.events)

    async def events(self, run_id: str, after: int = 0, limit: int | None = None) -> list[Event]:
        sql = f"SELECT {_EVENT_COLUMNS} FROM events WHERE run_id = ? AND seq > ? ORDER BY seq"
        params: list[Any] = [run_id, after]
        if limit is not None:
            sql += " LIMIT ?"
            params.append(limit)
        return await self._read_events(run_id, sql, params)

    async def state_events(self, run_id: str, messages: int) -> list[Event]:
        """What a fold keeps of a run's history, in seq order: every event but the
        ``agent_message`` ones, and the last ``messages`` of those.

        The seqs have gaps where messages were left out; the last event of the run is always
        in (it is either a message, so among the last ones, or not one). One statement, so one
        snapshot: an event committed meanwhile is in both parts or in neither. The other events
        come from a partial index (the planner, without statistics, would walk the whole run),
        the messages from a backward walk of the primary key that stops at the last ones.
        """
        sql = (
            f"SELECT {_EVENT_COLUMNS} FROM events INDEXED BY events_not_messages "
            f"WHERE run_id = ? AND kind != '{MESSAGE_KIND}' "
            f"UNION ALL SELECT * FROM (SELECT {_EVENT_COLUMNS} FROM events "
            f"WHERE run_id = ? AND kind = '{MESSAGE_KIND}' ORDER BY seq DESC LIMIT ?) "
            "ORDER BY seq"
        )
        return await self._read_events(run_id, sql, (run_id, run_id, max(messages, 0)))

    async def _read_events(self, run_id: str, sql: str, params: Sequence[Any]) -> list[Event]:
        async with self._conn.execute(sql, params) as cur:
            rows = await cur.fetchall()
        return _events(run_id, cast("list[Any]", rows))  # aiosqlite's fetchall gives a list

    async def last_seq(self, run_id: str) -> int:
        return int(
            await self._scalar(
                "SELECT COALESCE(MAX(seq), 0) FROM events WHERE run_id = ?", (run_id,)
            )
        )

    async def data_version(self) -> int:
        """Changes whenever another connection commits: a cheap 'anything new?' for watchers."""
        return int(await self._scalar("PRAGMA data_version"))

    # -- snapshots (their tables live in the same file) ------------------------------------

    async def manifests_in_use(self) -> set[int]:
        async with self._conn.execute("SELECT DISTINCT manifest_id FROM run_manifests") as cur:
            rows = await cur.fetchall()
        return {int(r[0]) for r in rows}

    async def integrity_check(self) -> str:
        return str(await self._scalar("PRAGMA integrity_check"))


async def _append_batch(conn: aiosqlite.Connection, *, batch: list[AppendRequest]) -> None:
    now = time.time()
    last: dict[str, int] = {}
    rows = []
    for request in batch:
        run_id = request.run_id
        if run_id not in last:
            async with conn.execute(
                "SELECT COALESCE(MAX(seq), 0) FROM events WHERE run_id = ?", (run_id,)
            ) as cur:
                row = await cur.fetchone()
            last[run_id] = int(row[0]) if row else 0
        request.events = []
        for payload in request.payloads:
            last[run_id] += 1
            data = payload.model_dump(mode="json")
            rows.append(
                (run_id, last[run_id], now, payload.kind, request.operator, jsonio.dumps(data))
            )
            request.events.append(
                Event(
                    run_id=run_id,
                    seq=last[run_id],
                    ts=now,
                    kind=payload.kind,
                    operator=request.operator,
                    data=data,
                )
            )
    await conn.executemany(
        "INSERT INTO events(run_id, seq, ts, kind, operator, data) VALUES (?,?,?,?,?,?)", rows
    )
    for request in batch:
        await _update_run_summary(conn, request.run_id, request.events)
        if request.command is not None:
            command_id, outcome = request.command
            await conn.execute(
                "UPDATE commands SET applied_at = ?, outcome = ? WHERE id = ?",
                (now, json.dumps(outcome), command_id),
            )
        for manifest_id in request.manifests:
            await conn.execute(
                "INSERT OR IGNORE INTO run_manifests(run_id, manifest_id) VALUES (?, ?)",
                (request.run_id, manifest_id),
            )


def _events(run_id: str, rows: Sequence[Any]) -> list[Event]:
    """Decode stored events; a large read runs with the cyclic collector paused, which would
    otherwise walk every object built so far many times over (none of them is a cycle)."""
    pause = len(rows) >= _GC_PAUSE_ROWS and gc.isenabled()
    if pause:
        gc.disable()
    try:
        loads = jsonio.loads
        return [Event(run_id, r[0], r[1], r[2], r[3], loads(r[4])) for r in rows]
    finally:
        if pause:
            gc.enable()


def _split_sql(script: str) -> list[str]:
    return [s.strip() for s in script.split(";") if s.strip()]


async def _update_run_summary(conn: aiosqlite.Connection, run_id: str, events: list[Event]) -> None:
    """Keep the runs table's summary columns in step, so `runs` never folds whole histories."""
    for event in events:
        if event.kind == "run_status":
            status = event.data["status"]
            ended = event.ts if status in ("completed", "failed", "stopped") else None
            await conn.execute(
                "UPDATE runs SET status = ?, decision = COALESCE(?, decision), "
                "started_at = COALESCE(started_at, ?), ended_at = ? WHERE id = ?",
                (status, event.data.get("decision"), event.ts, ended, run_id),
            )
        elif event.kind == "checkpoint_evaluated" and event.data.get("decision"):
            await conn.execute(
                "UPDATE runs SET decision = ? WHERE id = ?",
                (event.data["decision"].get("verdict"), run_id),
            )
        elif event.kind == "rolled_back":
            await conn.execute("UPDATE runs SET decision = NULL WHERE id = ?", (run_id,))
