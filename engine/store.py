"""The SQLite store: the one channel between an engine and whatever watches or commands it.

One file, WAL mode, one aiosqlite connection per process. Every write is a
batch in one ``BEGIN IMMEDIATE`` transaction: an engine's step (its events and
the command it applies) commits whole or not at all, so a kill at any instant
leaves a history that folds to a consistent state.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import json
import os
import sqlite3
import time
from collections.abc import Iterable, Sequence
from itertools import chain
from pathlib import Path
from typing import Any, cast

import aiosqlite

from engine import jsonio
from engine.events import Event, Payload
from engine.executor import LogLine
from engine.migrations import MIGRATIONS, SCHEMA_VERSION
from engine.store_rows import (
    Command,
    LockRow,
    LogBatches,
    LogKey,
    LogRow,
    RunRow,
    StoredLog,
    _AppendRequest,
    _command,
    _run_row,
    explain,
)

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
_ROWS_PER_INSERT = 100


class StoreError(Exception):
    """A database that cannot be used: locked, read-only, corrupt or from a newer phaseboard."""


def _prepare_file(path: Path) -> None:
    """Create the database file and its folder with owner-only permissions."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
        os.close(fd)


class Store:
    """Async access to one phaseboard database."""

    def __init__(self, path: Path, conn: aiosqlite.Connection) -> None:
        self.path = path
        self._conn = conn
        self._write_lock = asyncio.Lock()
        """Tasks of one process share the connection: one transaction at a time."""
        self._appends: list[_AppendRequest] = []
        self._sources: dict[tuple[str, str, str, int], int] = {}
        """Log source ids already in the file (they are never deleted while a run lives)."""
        self._appender: asyncio.Future[None] | None = None

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

    def _explain(self, exc: sqlite3.Error) -> str:
        return explain(self.path, exc)

    async def _migrate(self, current: int) -> None:
        for version, script in MIGRATIONS:
            if version <= current:
                continue
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                for statement in _split_sql(script):
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

    # -- helpers ---------------------------------------------------------------------------

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
                "DELETE FROM log_lines WHERE source IN "
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
        request = _AppendRequest(run_id, list(payloads), operator, command, tuple(manifests))
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

    # -- logs ------------------------------------------------------------------------------

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

    # -- commands --------------------------------------------------------------------------

    async def add_command(self, run_id: str, kind: str, args: dict[str, Any], operator: str) -> int:
        now = time.time()

        async def fn(conn: aiosqlite.Connection) -> int:
            cur = await conn.execute(
                "INSERT INTO commands(run_id, kind, args, operator, created_at) VALUES (?,?,?,?,?)",
                (run_id, kind, json.dumps(args), operator, now),
            )
            return int(cur.lastrowid or 0)

        return await self._write(fn)

    async def pending_commands(self, run_id: str) -> list[Command]:
        async with self._conn.execute(
            "SELECT * FROM commands WHERE run_id = ? AND applied_at IS NULL ORDER BY id", (run_id,)
        ) as cur:
            rows = await cur.fetchall()
        return [_command(r) for r in rows]

    async def command(self, command_id: int) -> Command | None:
        async with self._conn.execute("SELECT * FROM commands WHERE id = ?", (command_id,)) as cur:
            row = await cur.fetchone()
        return None if row is None else _command(row)

    async def mark_command(self, command_id: int, outcome: dict[str, Any]) -> None:
        async def fn(conn: aiosqlite.Connection) -> None:
            await conn.execute(
                "UPDATE commands SET applied_at = ?, outcome = ? WHERE id = ? AND applied_at IS NULL",
                (time.time(), json.dumps(outcome), command_id),
            )

        await self._write(fn)

    # -- the engine lock -------------------------------------------------------------------

    async def lock(self, run_id: str) -> LockRow | None:
        async with self._conn.execute("SELECT * FROM locks WHERE run_id = ?", (run_id,)) as cur:
            row = await cur.fetchone()
        if row is None:
            return None
        return LockRow(row["run_id"], row["pid"], row["host"], row["create_time"], row["heartbeat"])

    async def try_lock(self, run_id: str, mine: LockRow, is_stale: Any) -> LockRow | None:
        """Take the run's lock unless a live holder has it; returns the live holder, or None."""

        async def fn(conn: aiosqlite.Connection) -> LockRow | None:
            async with conn.execute("SELECT * FROM locks WHERE run_id = ?", (run_id,)) as cur:
                row = await cur.fetchone()
            if row is not None:
                held = LockRow(
                    row["run_id"], row["pid"], row["host"], row["create_time"], row["heartbeat"]
                )
                same = held.pid == mine.pid and held.host == mine.host
                if not same and not is_stale(held):
                    return held
            await conn.execute(
                "INSERT OR REPLACE INTO locks(run_id, pid, host, create_time, heartbeat) "
                "VALUES (?,?,?,?,?)",
                (run_id, mine.pid, mine.host, mine.create_time, mine.heartbeat),
            )
            return None

        return await self._write(fn)

    async def heartbeat(self, run_id: str, pid: int) -> bool:
        """Refresh our lock; False if it was taken from us."""

        async def fn(conn: aiosqlite.Connection) -> bool:
            cur = await conn.execute(
                "UPDATE locks SET heartbeat = ? WHERE run_id = ? AND pid = ?",
                (time.time(), run_id, pid),
            )
            return cur.rowcount == 1

        return await self._write(fn)

    async def unlock(self, run_id: str, pid: int) -> None:
        async def fn(conn: aiosqlite.Connection) -> None:
            await conn.execute("DELETE FROM locks WHERE run_id = ? AND pid = ?", (run_id, pid))

        await self._write(fn)

    # -- snapshots (their tables live in the same file) ------------------------------------

    async def manifests_in_use(self) -> set[int]:
        async with self._conn.execute("SELECT DISTINCT manifest_id FROM run_manifests") as cur:
            rows = await cur.fetchall()
        return {int(r[0]) for r in rows}

    async def integrity_check(self) -> str:
        return str(await self._scalar("PRAGMA integrity_check"))


async def _append_batch(conn: aiosqlite.Connection, *, batch: list[_AppendRequest]) -> None:
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
