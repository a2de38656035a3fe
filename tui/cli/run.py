"""The ``phaseboard`` commands that start and drive runs: run, demo, resume and the engine."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from typing import Any

from engine.reports.next_actions import next_actions
from engine.reports.progress_lines import progress_line
from engine.run.engine import Engine
from engine.run.outcome import RunOutcome
from engine.run.requests import submit
from engine.run.result_cache import NO_CACHE_ENV
from engine.run.runs import (
    resolve_run_id,
)
from engine.run.session import RunSession
from engine.store.database import Store
from engine.store.run_lock import live_holder
from engine.store.status_watch import RunStatusWatch
from tui.cli.demo_copy import DEMO_DIR
from tui.cli.run_setup import demo_arguments, prepare_run
from tui.cli.shared import err, opened
from tui.cli.wait import wait_for_run


async def run(args: argparse.Namespace) -> int:
    store, run_id = await prepare_run(args)
    try:
        err(f"phaseboard: run {run_id} of {args.workflow} (database {store.path})")
        return await drive_headless(
            store, run_id, json_mode=args.json, notify=args.notify, use_cache=not args.no_cache
        )
    finally:
        await store.close()


async def drive_headless(
    store: Store,
    run_id: str,
    *,
    json_mode: bool,
    cd: str | None = None,
    notify: str | None = None,
    use_cache: bool = True,
) -> int:
    engine = await Engine.open(store, run_id, notify=notify, use_cache=use_cache)
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


def _notifications_to_stderr(events: list[Any]) -> None:
    """A background engine's notify hooks, in its ``engine.log``."""
    for event in events:
        if event.kind == "notification_sent" and (line := progress_line(event)):
            err(f"phaseboard: run {event.run_id}: {line}")


def _closing(session: RunSession, outcome: RunOutcome, *, cd: str | None = None) -> None:
    rid = session.run_id
    verdict = f", decision {outcome.decision}" if outcome.decision else ""
    err(f"phaseboard: run {rid} {outcome.status}{verdict}")
    err(f"  files: {session.run_dir}")
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
        err("next:")
        for step in steps:
            err(f"  {step}")


async def resume(args: argparse.Namespace) -> int:
    if not args.headless:
        from tui.cli.console import open_console

        return open_console(args)
    async with opened(args) as store:
        run_id = await resolve_run_id(store, args.run)
        holder = await live_holder(store, run_id)
        if holder is not None and holder.waiting:
            return await _hand_to_waiting_engine(store, run_id, holder.pid)
        return await drive_headless(
            store, run_id, json_mode=args.json, notify=args.notify, use_cache=not args.no_cache
        )


async def _hand_to_waiting_engine(store: Store, run_id: str, pid: int) -> int:
    """A live engine waits for the operator on the run (a console's, after the console quit): it
    is told to resume, as the console's `p` does, and this waits as ``phaseboard wait`` does for
    the run to pause or end, and exits with its code."""
    watch = RunStatusWatch(store.path, run_id)
    watch.after_seq = watch.last_status_seq()
    outcome = await submit(store, run_id, "resume", {})
    if not outcome.ok:
        watch.close()
        err(f"phaseboard: {outcome.message}")
        return 1
    err(f"phaseboard: run {run_id} resumed by its live engine (pid {pid}); waiting for it")
    return await asyncio.to_thread(wait_for_run, watch)


async def engine(args: argparse.Namespace) -> int:
    """The detached engine a console starts: it waits for the operator when paused. Its agents
    get the console's ``PYTHONPATH``, not the one the launcher set to find phaseboard."""
    if (caller_path := os.environ.pop("PHASEBOARD_AGENTS_PYTHONPATH", None)) is not None:
        if caller_path:
            os.environ["PYTHONPATH"] = caller_path
        else:
            os.environ.pop("PYTHONPATH", None)
    async with opened(args) as store:
        run_id = await resolve_run_id(store, args.run)
        use_cache = os.environ.pop(NO_CACHE_ENV, "") != "1"  # the console's --no-cache
        eng = await Engine.open(store, run_id, wait_when_paused=True, use_cache=use_cache)
        eng.listeners.append(_notifications_to_stderr)
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
        err(f"phaseboard: demo run {run_id} on {target}")
        return await drive_headless(
            store, run_id, json_mode=args.json, cd=DEMO_DIR, notify=args.notify
        )
    finally:
        await store.close()
