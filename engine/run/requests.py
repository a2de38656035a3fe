"""Submitting an operator command: to the live engine if there is one, else applied at once.

Either way the command is first a row in the store, so it is applied exactly once and
in order, by whichever process holds the run's lock.
"""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Any

from engine.run.command_types import Outcome
from engine.run.session import RunSession, operator_name
from engine.store.database import Store
from engine.store.run_lock import RunLocked, acquire, live_holder, my_lock_row

LIVE_WAIT_S = 5.0
POLL_S = 0.05


async def submit(
    store: Store,
    run_id: str,
    kind: str,
    args: dict[str, Any],
    *,
    operator: str | None = None,
    wait_s: float = LIVE_WAIT_S,
) -> Outcome:
    who = operator or operator_name()
    command_id = await store.add_command(run_id, kind, args, who)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    while True:
        applied = await _applied_outcome(store, command_id)
        if applied is not None:
            return applied
        if await _live_engine(store, run_id) is None:
            try:
                return await apply_pending_now(store, run_id, command_id)
            except RunLocked:
                pass  # an engine started meanwhile: it will apply the command
        if loop.time() >= deadline:
            return Outcome(
                True,
                f"queued: the engine will apply it after the current step (command {command_id})",
            )
        await asyncio.sleep(POLL_S)


async def _live_engine(store: Store, run_id: str) -> Any:
    """The live engine of the run, unless it is this process's own (then it applies it)."""
    held = await store.lock(run_id)
    if held is not None and held.pid == os.getpid() and held.host == socket.gethostname():
        return held
    return await live_holder(store, run_id)


async def _applied_outcome(store: Store, command_id: int) -> Outcome | None:
    cmd = await store.command(command_id)
    if cmd is None or cmd.applied_at is None:
        return None
    outcome = cmd.outcome or {}
    return Outcome(bool(outcome.get("ok")), str(outcome.get("message", "")))


async def apply_pending_now(store: Store, run_id: str, command_id: int) -> Outcome:
    """Hold the run's lock for the moment it takes to apply every pending command."""
    from engine.run.commands import apply_command, reevaluate_paused_checkpoints

    await acquire(store, run_id)
    try:
        session = await RunSession.load(store, run_id)
        mine = Outcome(False, "command was not applied")
        applied_here = False
        for cmd in await store.pending_commands(run_id):
            outcome = await apply_command(session, cmd, live=False)
            if cmd.kind in ("resolve", "accept") and outcome.ok:
                await reevaluate_paused_checkpoints(session, session.state.criteria_override)
            if cmd.id == command_id:
                mine, applied_here = outcome, True
        from engine.reports.writer import ReportWriter

        await ReportWriter(store, session.state, session.run_dir).write_continuity()
        if not applied_here:  # another process applied it between our look and our lock
            return await _applied_outcome(store, command_id) or mine
        return mine
    finally:
        await store.unlock(run_id, my_lock_row().pid)
