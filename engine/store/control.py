"""The control tables of :class:`engine.store.database.Store`: operator commands, and the lock that lets
one engine at a time drive a run."""

from __future__ import annotations

import json
import time
from typing import Any

import aiosqlite

from engine.store.core import StoreCore
from engine.store.rows import Command, LockRow, command_from_row


class ControlTables(StoreCore):
    """Commands are rows, so a request outlives the process that made it and is applied once,
    in order, by whichever process holds the run's lock."""

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
        return [command_from_row(r) for r in rows]

    async def command(self, command_id: int) -> Command | None:
        async with self._conn.execute("SELECT * FROM commands WHERE id = ?", (command_id,)) as cur:
            row = await cur.fetchone()
        return None if row is None else command_from_row(row)

    async def mark_command(self, command_id: int, outcome: dict[str, Any]) -> None:
        async def fn(conn: aiosqlite.Connection) -> None:
            await conn.execute(
                "UPDATE commands SET applied_at = ?, outcome = ? WHERE id = ? AND applied_at IS NULL",
                (time.time(), json.dumps(outcome), command_id),
            )

        await self._write(fn)

    # -- the engine lock -------------------------------------------------------------------

    async def lock(self, run_id: str) -> LockRow | None:
        return await _held_lock(self._conn, run_id)

    async def try_lock(self, run_id: str, mine: LockRow, is_stale: Any) -> LockRow | None:
        """Take the run's lock unless a live holder has it; returns the live holder, or None."""

        async def fn(conn: aiosqlite.Connection) -> LockRow | None:
            held = await _held_lock(conn, run_id)
            if held is not None:
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

    async def set_waiting(self, run_id: str, pid: int, waiting: bool) -> None:
        """Say whether our engine waits for the operator (see :attr:`LockRow.waiting`)."""

        async def fn(conn: aiosqlite.Connection) -> None:
            await conn.execute(
                "UPDATE locks SET waiting = ? WHERE run_id = ? AND pid = ?",
                (int(waiting), run_id, pid),
            )

        await self._write(fn)

    async def unlock(self, run_id: str, pid: int) -> None:
        async def fn(conn: aiosqlite.Connection) -> None:
            await conn.execute("DELETE FROM locks WHERE run_id = ? AND pid = ?", (run_id, pid))

        await self._write(fn)


async def _held_lock(conn: aiosqlite.Connection, run_id: str) -> LockRow | None:
    async with conn.execute("SELECT * FROM locks WHERE run_id = ?", (run_id,)) as cur:
        row = await cur.fetchone()
    if row is None:
        return None
    return LockRow(
        row["run_id"],
        row["pid"],
        row["host"],
        row["create_time"],
        row["heartbeat"],
        bool(row["waiting"]),
    )
