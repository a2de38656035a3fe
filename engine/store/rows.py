"""The rows the store hands out and takes in, and how a database error is told to the operator.

Kept apart from :mod:`engine.store.database` so readers of the store's rows need not read its SQL;
:mod:`engine.store.database` re-exports every name here.
"""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from engine.execution.log_block import LogBlock
from engine.state.events import Event, Payload

LogKey = tuple[str, str, int]
"""Whose lines: ``(stage, agent, attempt)``."""

LogBatches = Sequence[tuple[LogKey, Sequence[LogBlock]]]
"""Blocks of lines grouped by whose they are, each group in order: how the log sink hands them
over."""


class LogRow(NamedTuple):
    """One line of an agent's log with whose it is, for callers that have lines one by one."""

    stage: str
    agent: str
    attempt: int
    stream: str
    ts: float
    text: str
    partial: bool = False


@dataclass(frozen=True, slots=True)
class StoredLog:
    id: int
    stage: str
    agent: str
    attempt: int
    stream: str
    ts: float
    text: str
    partial: bool


@dataclass(frozen=True, slots=True)
class Command:
    id: int
    run_id: str
    kind: str
    args: dict[str, Any]
    operator: str
    created_at: float
    applied_at: float | None
    outcome: dict[str, Any] | None


@dataclass(frozen=True, slots=True)
class RunRow:
    id: str
    workflow: str
    workspace: str
    run_dir: str
    created_at: float
    status: str
    decision: str | None
    started_at: float | None
    ended_at: float | None


@dataclass(frozen=True, slots=True)
class LockRow:
    run_id: str
    pid: int
    host: str
    create_time: float
    heartbeat: float
    waiting: bool = False
    """The holder waits for the operator (paused, ``wait_when_paused``): a resume is handed to
    it rather than refused."""


@dataclass(eq=False)
class AppendRequest:
    run_id: str
    payloads: list[Payload]
    operator: str
    command: tuple[int, dict[str, Any]] | None
    manifests: tuple[int, ...]
    events: list[Event] = field(default_factory=list)
    future: asyncio.Future[list[Event]] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


def _run_row(r: sqlite3.Row) -> RunRow:
    return RunRow(
        id=r["id"],
        workflow=r["workflow"],
        workspace=r["workspace"],
        run_dir=r["run_dir"],
        created_at=r["created_at"],
        status=r["status"],
        decision=r["decision"],
        started_at=r["started_at"],
        ended_at=r["ended_at"],
    )


def command_from_row(r: sqlite3.Row) -> Command:
    return Command(
        id=r["id"],
        run_id=r["run_id"],
        kind=r["kind"],
        args=json.loads(r["args"]),
        operator=r["operator"],
        created_at=r["created_at"],
        applied_at=r["applied_at"],
        outcome=None if r["outcome"] is None else json.loads(r["outcome"]),
    )


def explain(path: Path, exc: sqlite3.Error) -> str:
    """One line that says what is wrong with the database, for the operator."""
    text = str(exc)
    writable = os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)
    if not writable and ("unable to open" in text or "readonly" in text):
        return (
            f"database {path} is read-only: phaseboard needs to write to it and its folder ({text})"
        )
    if "not a database" in text or "malformed" in text:
        return f"database {path} is corrupt or not a phaseboard database ({text}); it was left untouched"
    if "readonly" in text or "read-only" in text:
        return f"database {path} is read-only ({text})"
    if "locked" in text or "busy" in text:
        return f"database {path} is locked by another process ({text})"
    return f"database {path}: {text}"
