"""Where a run stands, read from outside at almost no cost: for ``phaseboard wait``.

A plain read-only ``sqlite3`` connection of its own, as :mod:`engine.run.command_watch` uses:
every look first asks whether anything was committed since the last (``PRAGMA data_version``,
answered from shared memory) and reads the run's row of the ``runs`` table only then, or when the
engine's liveness is due to be checked again. Nothing is written and no lock is taken, so it
works beside any engine, whoever started it.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import psutil

from engine.store.database import LockRow
from engine.store.event_lookup import newest_event_seq
from engine.store.run_lock import STALE_AFTER_S, holder_alive

ALIVE_EVERY_S = 1.0
"""How often a run marked running has its engine's liveness checked."""


class RunStatusWatch:
    """The effective status of one run: ``running`` becomes ``interrupted`` once no live engine
    holds the run (as ``phaseboard status`` and ``runs`` say)."""

    def __init__(self, db: Path, run_id: str) -> None:
        self.run_id = run_id
        self.after_seq: int | None = None
        """When set, the run counts as running until a status event comes after this one (the
        pause of a run just told to resume is not the answer)."""
        self._conn = sqlite3.connect(
            f"{db.resolve().as_uri()}?mode=ro", uri=True, timeout=30, check_same_thread=False
        )
        self._version = -1
        self._alive_at = -1e9
        self._seen: tuple[str, str | None] = ("pending", None)

    def look(self) -> tuple[str, str | None]:
        """The run's status and decision as they stand now."""
        version = self._conn.execute("PRAGMA data_version").fetchone()[0]
        due = time.monotonic() - self._alive_at >= ALIVE_EVERY_S
        if version == self._version and not (due and self._seen[0] == "running"):
            return self._seen
        self._version = version
        row = self._conn.execute(
            "SELECT status, decision FROM runs WHERE id = ?", (self.run_id,)
        ).fetchone()
        if row is None:
            raise LookupError(f"unknown run: {self.run_id}")
        status, decision = str(row[0]), row[1]
        if self.after_seq is not None and self.last_status_seq() <= self.after_seq:
            status, decision = "running", None
        if status == "running":
            self._alive_at = time.monotonic()
            if not self._engine_alive():
                status = "interrupted"
        self._seen = (status, decision)
        return self._seen

    def _engine_alive(self) -> bool:
        row = self._conn.execute(
            "SELECT run_id, pid, host, create_time, heartbeat FROM locks WHERE run_id = ?",
            (self.run_id,),
        ).fetchone()
        if row is None:
            return False
        held = LockRow(*row)
        if holder_alive(held):
            return True
        try:  # another user's engine: its process may be hidden from us, its heartbeat is not
            psutil.Process(held.pid).create_time()
        except psutil.AccessDenied:
            return time.time() - held.heartbeat < STALE_AFTER_S
        except (psutil.NoSuchProcess, ValueError):
            return False
        return False

    def last_status_seq(self) -> int:
        """The sequence number of the run's newest status event (0 for none)."""
        return newest_event_seq(self._conn, self.run_id, "run_status")

    def close(self) -> None:
        self._conn.close()
