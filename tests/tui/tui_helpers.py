"""Real runs for the console's tests: a workflow file in tmp_path, a real store, real agents."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from engine.execution.local_executor import LocalExecutor
from engine.run.engine import Engine
from engine.store.database import Store
from engine.store.location import default_db
from tests.helpers import create_test_run

WAIT_S = 20.0


async def make_run(tmp_path: Path, workspace: Path, yaml_text: str) -> tuple[Path, str]:
    """Write the workflow and create a run of it on ``workspace``; returns (db, run id)."""
    db = default_db(workspace)
    async with await Store.open(db) as store:
        run_id = await create_test_run(store, tmp_path, workspace, yaml_text)
    return db, run_id


@contextlib.asynccontextmanager
async def engine_in_loop(db: Path, run_id: str) -> AsyncIterator[Engine]:
    """An engine in this event loop, on its own connection, waiting for the operator when paused."""
    store = await Store.open(db)
    engine = await Engine.open(store, run_id, LocalExecutor(), wait_when_paused=True)
    task = asyncio.create_task(engine.drive())
    try:
        yield engine
    finally:
        if not task.done():
            engine.request_stop("interrupted", "test over")
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 15)
        await store.close()


async def wait_for(
    pilot: Pilot[Any], condition: Callable[[], bool], what: str, timeout: float = WAIT_S
) -> None:
    """Let the app run until ``condition()`` holds (bounded), never a fixed sleep."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.02)


def tree_digest(root: Path) -> dict[str, str]:
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if rel.startswith(".phaseboard") or not path.is_file():
            continue
        out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def text_of(static: Any, width: int = 160) -> str:
    """What a Static shows, as plain text (rendered by rich, as the terminal would)."""
    import io

    from rich.console import Console

    console = Console(width=width, record=True, file=io.StringIO())
    console.print(static.content)
    return console.export_text()
