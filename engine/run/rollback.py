"""Rollback points (workspace snapshot + position in the history) and rolling back to one.

Snapshots are taken and restored in a worker thread on a connection of their own,
so hashing a large workspace never blocks the event loop.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from engine.snapshots import take as snapshots
from engine.state.events import RollbackPointSaved, RolledBack
from engine.state.records import RollbackPoint
from engine.store.database import BUSY_TIMEOUT_MS
from engine.workflow.models import AgentsStage
from engine.workflow.placeholders import build_argv, run_placeholders

if TYPE_CHECKING:
    from engine.run.session import RunSession

T = TypeVar("T")
COMMAND_TIMEOUT_S = 300
OUTPUT_TAIL = 2000


def _connect(db_path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(db_path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    return conn


def _take(conn: sqlite3.Connection, workspace: Path) -> tuple[snapshots.SnapshotInfo, bool]:
    """A snapshot, and whether every file of it reads back from the store."""
    info = snapshots.take_snapshot(conn, workspace)
    missing = conn.execute(
        "SELECT COUNT(*) FROM manifest_files m LEFT JOIN blobs b ON b.sha256 = m.sha256 "
        "WHERE m.manifest_id = ? AND b.sha256 IS NULL",
        (info.manifest_id,),
    ).fetchone()[0]
    return info, missing == 0


def _on_own_connection(db_path: Path, fn: Callable[..., T], *args: Any) -> T:
    """Run a snapshot function on a connection of its own (it runs in a worker thread)."""
    conn = _connect(db_path)
    try:
        return fn(conn, *args)
    finally:
        conn.close()


async def save_point(session: RunSession, stage: str, agent: str | None = None) -> RollbackPoint:
    from engine.run.session import now_iso

    info, verified = await asyncio.to_thread(
        _on_own_connection, session.store.path, _take, session.workspace
    )
    point_id = f"rp{len(session.state.rollback_points) + 1}"
    await session.emit(
        RollbackPointSaved(
            id=point_id,
            stage=stage,
            agent=agent,
            manifest_id=info.manifest_id,
            files=info.files,
            bytes=info.bytes,
            at=now_iso(),
            verified=verified,
        ),
        manifests=(info.manifest_id,),
    )
    point = session.state.point(point_id)
    assert point is not None
    return point


async def workspace_changes(session: RunSession, point: RollbackPoint) -> snapshots.WorkspaceDiff:
    """What rolling back to ``point`` would undo in the workspace as it is now."""
    return await asyncio.to_thread(
        _on_own_connection,
        session.store.path,
        snapshots.diff_against,
        session.workspace,
        point.manifest_id,
    )


def find_point(session: RunSession, ref: str) -> RollbackPoint | None:
    """A point id, or a stage id meaning the newest point saved just before that stage started."""
    point = session.state.point(ref)
    if point is not None:
        return point
    candidates = [p for p in session.state.rollback_points if p.stage == ref and p.agent is None]
    return candidates[-1] if candidates else None


def agents_undone(session: RunSession, point: RollbackPoint) -> list[tuple[str, Any]]:
    """(stage id, agent spec) of every agent whose work the rollback undoes, in run order."""
    state = session.state
    order = state.stage_order()
    out: list[tuple[str, Any]] = []
    for sid in order[order.index(point.stage) :]:
        spec = session.workflow.stage(sid)
        if not isinstance(spec, AgentsStage):
            continue
        names = [a.id for a in spec.agents] + [
            a.id for a in (spec.extended.agents if spec.extended else [])
        ]
        start = names.index(point.agent) if (sid == point.stage and point.agent in names) else 0
        for agent in list(spec.agents) + list(spec.extended.agents if spec.extended else []):
            if names.index(agent.id) < start:
                continue
            st = state.stages[sid].agents[agent.id]
            if st.attempts and any(not a.rolled_back for a in st.attempts):
                out.append((sid, agent))
    return out


def _run_command(session: RunSession, run: list[str] | str, shell: bool) -> dict[str, Any]:
    values = run_placeholders(session.state)
    argv = build_argv(run, values, shell=shell)
    cmd: list[str] = ["/bin/sh", "-c", argv[0]] if shell else argv
    try:
        proc = subprocess.run(
            cmd,
            cwd=session.workspace,
            capture_output=True,
            timeout=COMMAND_TIMEOUT_S,
            start_new_session=True,
            check=False,
        )
    except FileNotFoundError:
        return {"argv": argv, "ok": False, "exit_code": None, "output": "command not found"}
    except subprocess.TimeoutExpired:
        return {"argv": argv, "ok": False, "exit_code": None, "output": "timed out"}
    output = (proc.stdout + proc.stderr).decode("utf-8", "replace")
    return {
        "argv": [session.masker.text(a) for a in argv],
        "ok": proc.returncode == 0,
        "exit_code": proc.returncode,
        "output": session.masker.text(output[-OUTPUT_TAIL:]),
    }


async def roll_back(session: RunSession, point: RollbackPoint) -> RolledBack:
    """Run the undone agents' rollback commands (newest first), restore the files, then verify.

    Returns the event without emitting it, so the caller records it in one transaction
    with the command that asked for it.
    """
    from engine.run.session import now_iso

    undone = agents_undone(session, point)
    commands = []
    for sid, agent in reversed(undone):
        if agent.rollback:
            result = await asyncio.to_thread(_run_command, session, agent.rollback, agent.shell)
            commands.append({"agent": f"{sid}.{agent.id}", **result})
    diff = await asyncio.to_thread(
        _on_own_connection,
        session.store.path,
        snapshots.restore_snapshot,
        session.workspace,
        point.manifest_id,
    )
    verify = []
    for sid, agent in undone:
        if agent.verify:
            result = await asyncio.to_thread(_run_command, session, agent.verify, agent.shell)
            verify.append({"agent": f"{sid}.{agent.id}", **result})
    return RolledBack(
        point=point.id,
        stage=point.stage,
        agent=point.agent,
        restored={"removed": diff.added, "reverted": diff.modified, "recreated": diff.deleted},
        commands=commands,
        verify=verify,
        by=session.operator,
        at=now_iso(),
    )
