"""Opening the console (the Textual app) for ``run``, ``demo``, ``attach``, ``resume`` and bare
``phaseboard``.

A run started here is driven by a background engine (``tui.console.launcher``), never by the
app: quitting the console, or losing the terminal, leaves the run going.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from engine.run.notify import NOTIFY_ENV
from engine.run.result_cache import NO_CACHE_ENV
from engine.run.runs import NotFound, resolve_run_id
from engine.store.database import Store
from engine.store.location import find_db
from tui.console.launcher import EngineProcess, engine_alive, launch_engine

if TYPE_CHECKING:
    from tui.console.app import PhaseboardApp


@dataclass
class Target:
    db: Path
    run_id: str | None
    engine: EngineProcess | None = None


def open_console(args: argparse.Namespace) -> int:
    """Prepare what the command asks for, then run the app until the operator quits."""
    command = getattr(args, "command", None)
    if getattr(args, "notify", None) is not None:
        os.environ[NOTIFY_ENV] = args.notify  # for every engine this console starts
    if getattr(args, "no_cache", False):
        os.environ[NO_CACHE_ENV] = "1"  # for every engine this console starts
    if command in ("run", "demo"):
        target = asyncio.run(start_run(args, demo=command == "demo"))
    elif command == "resume":
        target = asyncio.run(resume_target(args))
    else:
        target = asyncio.run(attach_target(args))
    from tui.console.app import PhaseboardApp

    app = PhaseboardApp(target.db, target.run_id, engine=target.engine)
    app.run()
    farewell(app)
    return app.return_code or 0


def farewell(app: PhaseboardApp) -> None:
    """After the app: say where the run stands and how to come back to it."""
    state = app.state
    if not app.run_id or not state.status or (state.status == "pending" and not state.workflow):
        return
    if app.engine_state() != "none" and state.status not in ("completed", "failed", "stopped"):
        print(
            f"phaseboard: run {app.run_id} goes on in the background; "
            f"come back with `phaseboard attach {app.run_id}`",
            file=sys.stderr,
        )
    else:
        print(f"phaseboard: run {app.run_id} is {state.status}", file=sys.stderr)


async def start_run(args: argparse.Namespace, *, demo: bool) -> Target:
    from tui.cli.run_setup import demo_arguments, prepare_run

    extra: list[str] = []
    if demo:
        _, extra = await demo_arguments(args)
    store, run_id = await prepare_run(args, extra_params=extra)
    try:
        run_dir = Path((await store.run(run_id)).run_dir)  # type: ignore[union-attr]
        db = store.path
    finally:
        await store.close()
    return Target(db, run_id, launch_engine(db, run_id, run_dir))


def chosen_db(args: argparse.Namespace) -> Path:
    db = find_db(args.db)
    if db is None or not db.exists():
        raise NotFound(
            "no phaseboard database here (looked for .phaseboard/phaseboard.db upwards); "
            "start a run with `phaseboard demo` or `phaseboard run WORKFLOW`, or pass --db"
        )
    return db


async def attach_target(args: argparse.Namespace) -> Target:
    db = chosen_db(args)
    async with await Store.open(db, create=False) as store:
        ref = getattr(args, "run", None)
        if ref:
            return Target(db, await resolve_run_id(store, ref))
        runs = await store.runs()
        return Target(db, runs[0].id if runs else None)


async def resume_target(args: argparse.Namespace) -> Target:
    db = chosen_db(args)
    async with await Store.open(db, create=False) as store:
        run_id = await resolve_run_id(store, args.run)
        if await engine_alive(store, run_id):
            print(
                f"phaseboard: run {run_id} already has a live engine; attaching to it",
                file=sys.stderr,
            )
            return Target(db, run_id)
        row = await store.run(run_id)
        assert row is not None
        if row.status == "completed":
            return Target(db, run_id)
        return Target(db, run_id, launch_engine(db, run_id, Path(row.run_dir)))
