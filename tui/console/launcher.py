"""Reaching a run's engine from the console: start one in the background, see whether one
is alive, and hand it operator commands.

The engine the console starts is its own process in its own session (the hidden
``phaseboard engine RUN`` command), with its output in ``RUN_DIR/engine.log``: it
outlives the app, a closed terminal and a dropped SSH connection.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tui
from engine.run.commands import Outcome
from engine.run.requests import submit
from engine.run.session import operator_name
from engine.store.database import LockRow, Store
from engine.store.run_lock import holder_alive

ENGINE_LOG = "engine.log"
OWN_ENGINE_WAIT_S = 5.0


@dataclass
class EngineProcess:
    """A background engine this console started."""

    popen: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def exit_code(self) -> int | None:
        """None while it runs (and reaps it once it has ended)."""
        return self.popen.poll()

    def log_tail(self, lines: int = 5) -> list[str]:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return []
        return [line for line in text.splitlines() if line.strip()][-lines:]


AGENTS_PYTHONPATH = "PHASEBOARD_AGENTS_PYTHONPATH"
"""The ``PYTHONPATH`` the console was started with, for the engine to hand its agents: the path
the launcher adds so the engine finds phaseboard must not shadow a project's own packages."""


def launch_engine(db_path: Path, run_id: str, run_dir: Path) -> EngineProcess:
    """Start ``phaseboard engine RUN --db DB`` detached from this terminal."""
    run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    log_path = run_dir / ENGINE_LOG
    env = dict(os.environ)
    root = str(Path(tui.__file__).resolve().parent.parent)
    # phaseboard's own folder goes first so `-m tui.cli` finds it from a source checkout; the
    # engine puts the caller's PYTHONPATH back before it starts agents (AGENTS_PYTHONPATH)
    env[AGENTS_PYTHONPATH] = env.get("PYTHONPATH", "")
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    env.pop("TEXTUAL", None)
    with open(log_path, "ab") as out:
        popen = subprocess.Popen(
            [sys.executable, "-m", "tui.cli", "engine", run_id, "--db", str(db_path)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            cwd=str(run_dir),
            env=env,
            start_new_session=True,
            close_fds=True,
        )
    return EngineProcess(popen, log_path)


def _own(held: LockRow) -> bool:
    return held.pid == os.getpid() and held.host == socket.gethostname()


async def engine_alive(store: Store, run_id: str) -> bool:
    """True while some engine drives the run, in another process or in this one."""
    held = await store.lock(run_id)
    if held is None:
        return False
    return _own(held) or await asyncio.to_thread(holder_alive, held)


async def send_command(store: Store, run_id: str, kind: str, args: dict[str, Any]) -> Outcome:
    """Write an operator command and wait for its outcome.

    ``engine.run.requests.submit`` takes an engine holding the lock from this very process
    for a stale one; an app that embeds its engine (the tests do) queues the command
    for it instead.
    """
    held = await store.lock(run_id)
    if held is None or not _own(held):
        return await submit(store, run_id, kind, args)
    command_id = await store.add_command(run_id, kind, args, operator_name())
    loop = asyncio.get_running_loop()
    deadline = loop.time() + OWN_ENGINE_WAIT_S
    while loop.time() < deadline:
        cmd = await store.command(command_id)
        if cmd is not None and cmd.applied_at is not None:
            outcome = cmd.outcome or {}
            return Outcome(bool(outcome.get("ok")), str(outcome.get("message", "")))
        await asyncio.sleep(0.05)
    return Outcome(True, f"queued: the engine will apply it after the current step ({command_id})")
