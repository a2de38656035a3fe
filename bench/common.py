"""Shared helpers for the benchmarks: medians, a workflow on disk, driving a run in-process."""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def median_of(runs: int, fn: Callable[[], float]) -> float:
    return statistics.median(fn() for _ in range(runs))


async def amedian_of(runs: int, fn: Callable[[], Awaitable[float]]) -> float:
    values = [await fn() for _ in range(runs)]
    return statistics.median(values)


async def drive_workflow(tmp: Path, yaml_text: str) -> tuple[float, Any]:
    """Create a run of ``yaml_text`` in ``tmp`` and drive it; returns (seconds, final state)."""
    from engine.engine import Engine
    from engine.local_executor import LocalExecutor
    from engine.runs import create_run, default_db
    from engine.session import RunSession
    from engine.store import Store
    from engine.workflow import parse_workflow

    workspace = tmp / "ws"
    workspace.mkdir(parents=True, exist_ok=True)
    wf_path = tmp / "wf.yaml"
    wf_path.write_text(yaml_text)
    workflow = parse_workflow(yaml_text, str(wf_path))
    store = await Store.open(default_db(workspace))
    try:
        run_id = await create_run(
            store,
            workflow=workflow,
            workflow_path=wf_path,
            workflow_text=yaml_text,
            workspace=workspace,
            params=dict(workflow.params),
        )
        engine = await Engine.open(store, run_id, LocalExecutor())
        start = time.perf_counter()
        await engine.drive()
        elapsed = time.perf_counter() - start
        state = (await RunSession.load(store, run_id)).state
    finally:
        await store.close()
    return elapsed, state


def verdict(name: str, ratio: float, target: float) -> str:
    status = "PASS" if ratio <= target else "FAIL"
    return f"{name}: ratio {ratio:.2f} (target {target}) {status}"
