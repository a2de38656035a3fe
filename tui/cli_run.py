"""The ``phaseboard`` commands that start and drive runs: run, demo, resume and the engine."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from engine.execution.local_executor import LocalExecutor
from engine.reports.next_actions import next_actions
from engine.reports.progress_lines import progress_line
from engine.run.engine import Engine
from engine.run.outcome import RunOutcome
from engine.run.runs import (
    UsageError,
    check_slice,
    create_run,
    default_db,
    find_db,
    parse_params,
    resolve_run_id,
)
from engine.run.session import RunSession
from engine.store.database import Store
from engine.workflow.loader import load_workflow, resolve_workflow_path
from tui.cli_shared import _err, _opened
from tui.demo_copy import DEMO_DIR, prepare_demo_dir


def _workspace(raw: str) -> Path:
    path = Path(raw).expanduser().resolve()
    if not path.exists():
        raise UsageError(f"workspace {path} does not exist")
    if not path.is_dir():
        raise UsageError(f"workspace {path} is not a directory")
    if not os.access(path, os.R_OK | os.W_OK | os.X_OK):
        raise UsageError(f"workspace {path} is not readable and writable")
    return path


async def prepare_run(
    args: argparse.Namespace, *, extra_params: Sequence[str] = ()
) -> tuple[Store, str]:
    path = resolve_workflow_path(args.workflow)
    workflow = load_workflow(path)
    text = path.read_text(encoding="utf-8")
    workspace = _workspace(args.workspace or workflow.workspace or ".")
    params = parse_params(workflow, [*extra_params, *getattr(args, "params", [])])
    check_slice(workflow, getattr(args, "from_stage", None), getattr(args, "until_stage", None))
    db = find_db(args.db) if (args.db or os.environ.get("PHASEBOARD_DB")) else default_db(workspace)
    assert db is not None
    store = await Store.open(db)
    run_id = await create_run(
        store,
        workflow=workflow,
        workflow_path=path,
        workflow_text=text,
        workspace=workspace,
        params=params,
        criteria_override=getattr(args, "criteria", None),
        from_stage=getattr(args, "from_stage", None),
        until_stage=getattr(args, "until_stage", None),
    )
    return store, run_id


async def run(args: argparse.Namespace) -> int:
    store, run_id = await prepare_run(args)
    try:
        _err(f"phaseboard: run {run_id} of {args.workflow} (database {store.path})")
        return await drive_headless(store, run_id, json_mode=args.json)
    finally:
        await store.close()


async def drive_headless(
    store: Store, run_id: str, *, json_mode: bool, cd: str | None = None
) -> int:
    engine = await Engine.open(store, run_id, LocalExecutor())
    engine.listeners.append(_printer(json_mode))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(
            sig, engine.request_stop, "interrupted", f"interrupted by {sig.name}"
        )
    try:
        outcome = await engine.drive()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.remove_signal_handler(sig)
    _closing(engine, outcome, cd=cd)
    return outcome.exit_code


def _printer(json_mode: bool) -> Any:
    def show(events: list[Any]) -> None:
        for event in events:
            if json_mode:
                sys.stdout.write(
                    json.dumps(
                        {"seq": event.seq, "ts": event.ts, "kind": event.kind, **event.data},
                        default=str,
                    )
                    + "\n"
                )
            line = progress_line(event)
            if line:
                sys.stderr.write(line + "\n")
        sys.stdout.flush()
        sys.stderr.flush()

    return show


def _closing(session: RunSession, outcome: RunOutcome, *, cd: str | None = None) -> None:
    rid = session.run_id
    verdict = f", decision {outcome.decision}" if outcome.decision else ""
    _err(f"phaseboard: run {rid} {outcome.status}{verdict}")
    _err(f"  files: {session.run_dir}")
    steps = [f"cd {cd}"] if cd else []
    if outcome.status == "paused":
        steps += [
            line.rsplit(": ", 1)[-1]
            for line in next_actions(session.state)
            if not line.rsplit(": ", 1)[-1].startswith("phaseboard resume")
        ]
        steps.append(f"phaseboard resume {rid} --headless")
    elif outcome.status in ("interrupted", "stopped"):
        steps.append(f"phaseboard resume {rid} --headless")
    elif outcome.status == "completed":
        steps.append(f"less {session.run_dir / 'final_report.md'}")
        if cd:
            steps.append(f"phaseboard rollback {rid} implementation --yes")
            steps.append(f"phaseboard resume {rid} --headless")
    else:
        steps.append(f"phaseboard status {rid}")
    if steps:
        _err("next:")
        for step in steps:
            _err(f"  {step}")


async def resume(args: argparse.Namespace) -> int:
    if not args.headless:
        from tui.cli_console import open_console

        return open_console(args)
    async with _opened(args) as store:
        run_id = await resolve_run_id(store, args.run)
        return await drive_headless(store, run_id, json_mode=args.json)


async def engine(args: argparse.Namespace) -> int:
    """The detached engine a console starts: it waits for the operator when paused."""
    async with _opened(args) as store:
        run_id = await resolve_run_id(store, args.run)
        eng = await Engine.open(store, run_id, LocalExecutor(), wait_when_paused=True)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(
                sig, eng.request_stop, "interrupted", f"interrupted by {sig.name}"
            )
        loop.add_signal_handler(signal.SIGHUP, lambda: None)
        outcome = await eng.drive()
        return outcome.exit_code


async def demo(args: argparse.Namespace) -> int:
    target, extra = await demo_arguments(args)
    store, run_id = await prepare_run(args, extra_params=extra)
    try:
        _err(f"phaseboard: demo run {run_id} on {target}")
        return await drive_headless(store, run_id, json_mode=args.json, cd=DEMO_DIR)
    finally:
        await store.close()


async def demo_arguments(args: argparse.Namespace) -> tuple[Path, list[str]]:
    """Point ``args`` at the standard workflow on a fresh demo copy; returns the copy and the
    parameters the demo sets (its first-attempt failure, on purpose)."""
    target = await prepare_demo_dir()
    args.workflow = "standard"
    args.workspace = str(target)
    args.params = []
    args.criteria = None
    args.from_stage = args.until_stage = None
    return target, ["fail_first_attempt=code"]
