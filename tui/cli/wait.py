"""``phaseboard wait RUN``: block until a run pauses or ends, then exit with its exit code.

For a script or CI job whose run goes on elsewhere (the console's background engine, a
``run --headless &``, another user's console): it only reads the store
(:class:`~engine.store.status_watch.RunStatusWatch`), never takes the run's lock, and exits with
the code ``run --headless`` would have (docs/cli.md), or 124 when ``--timeout`` passes first.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

from engine.run.outcome import RunOutcome
from engine.run.runs import UsageError, resolve_run_id
from engine.store.status_watch import RunStatusWatch
from tui.cli.shared import err, opened

UNTIL = ("any", "paused", "finished")
TIMED_OUT = 124
"""The exit code when ``--timeout`` passes first, as timeout(1) has it."""
LOOK_S = 0.1
"""How often the store is asked whether anything was committed."""
ENDED = ("completed", "failed", "stopped", "interrupted")
"""Where a run no longer moves by itself: stopped, ended, or its engine gone."""


def reached(status: str, until: str) -> bool:
    """Whether a run in ``status`` ends a wait ``--until until``. A run that ends ends every
    wait, since it will not pause any more; only ``finished`` waits through a pause."""
    if status in ENDED:
        return True
    return status == "paused" and until != "finished"


async def _target(args: argparse.Namespace) -> tuple[str, str]:
    async with opened(args) as store:
        return str(store.path), await resolve_run_id(store, args.run)


def wait(args: argparse.Namespace) -> int:
    if args.timeout is not None and not args.timeout >= 0:
        raise UsageError("--timeout takes a number of seconds, 0 or more")
    db, run_id = asyncio.run(_target(args))
    return wait_for_run(RunStatusWatch(Path(db), run_id), args.until, args.timeout)


def wait_for_run(watch: RunStatusWatch, until: str = "any", timeout: float | None = None) -> int:
    """Block until the watched run reaches ``until``; its exit code, or TIMED_OUT after
    ``timeout``. Closes ``watch``."""
    run_id = watch.run_id
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        while True:
            status, decision = watch.look()
            if reached(status, until):
                verdict = f", decision {decision}" if decision and status == "completed" else ""
                err(f"phaseboard: run {run_id} {status}{verdict}")
                return RunOutcome(status, decision if status == "completed" else None).exit_code
            if deadline is not None and time.monotonic() >= deadline:
                err(f"phaseboard: run {run_id} is still {status} after {timeout:g}s")
                return TIMED_OUT
            pause = LOOK_S if deadline is None else min(LOOK_S, deadline - time.monotonic())
            time.sleep(max(0.0, pause))
    finally:
        watch.close()
