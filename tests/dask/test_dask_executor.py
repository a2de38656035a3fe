"""The Dask executor against an in-process ``LocalCluster`` (fast: the workers share this
process and its event loop) and real agent processes: lines in order with backpressure, stop,
spawn failures, placement and shared-filesystem checks, a lost worker, an orphan found by key.
The real scheduler and worker processes are in test_dask_cluster.py."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import psutil
import pytest

pytest.importorskip("distributed")

from distributed import LocalCluster, Worker

from engine.execution import dask_worker
from engine.execution.dask_attempt import DaskAttempt
from engine.execution.dask_executor import MARKER, DaskExecutor
from engine.execution.dask_placement import fits, resource_request, too_big
from engine.execution.dask_wire import EVENT_CHARS, WINDOW_LINES, decode_block, encode_blocks
from engine.execution.executor import AttemptSpec, Needs, attempt_key
from engine.execution.log_block import LogBlock
from tests.helpers import Line, block_lines

AGENTS = Path(__file__).parents[1] / "agents"
BOUND_S = 20.0
RESOURCES = {"memory_mb": 1000, "cpu_percent": 100}


def spec(
    tmp_path: Path, agent: str, *args: str, attempt: int = 1, **options: object
) -> AttemptSpec:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "PHASEBOARD_RUN_ID": "r1",
        "PHASEBOARD_STAGE": "s",
        "PHASEBOARD_AGENT": agent.removesuffix(".py"),
        "PHASEBOARD_ATTEMPT": str(attempt),
    }
    defaults: dict[str, object] = {"grace_s": 0.5, "sample_interval_s": 0.05}
    return AttemptSpec(
        argv=(sys.executable, str(AGENTS / agent), *args),
        cwd=str(tmp_path),
        env=env,
        **(defaults | options),  # type: ignore[arg-type]
    )


@pytest.fixture
async def cluster() -> AsyncIterator[LocalCluster]:
    async with LocalCluster(
        n_workers=2,
        threads_per_worker=2,
        processes=False,
        asynchronous=True,
        dashboard_address=":0",
        resources=RESOURCES,
    ) as local:
        yield local


@pytest.fixture
async def executor(cluster: LocalCluster, tmp_path: Path) -> AsyncIterator[DaskExecutor]:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    dask = DaskExecutor(cluster.scheduler_address, workspace=str(tmp_path), run_dir=str(run_dir))
    yield dask
    await dask.close()


async def read_all(attempt: DaskAttempt) -> list[Line]:
    lines: list[Line] = []
    async with asyncio.timeout(BOUND_S):
        async for batch in attempt.lines():
            assert batch
            lines += block_lines(batch)
    return lines


def test_lines_survive_encoding_in_order() -> None:
    """Blocks are cut into events at line boundaries; a line longer than an event goes alone."""
    first = [("stdout", f"line {i}", i % 3 == 0) for i in range(5000)]
    batch = [
        LogBlock.of(first, 1.0),  # type: ignore[arg-type]
        LogBlock("", 1, 9.0, bytes([1])),
        LogBlock("x" * 100_000 + "\nend", 2, 9.5),
    ]
    events = encode_blocks(batch)
    assert len(events) > 3 and all(len(text) <= EVENT_CHARS for text, *_ in events[:-2])
    decoded = [decode_block(*event) for event in events]
    assert block_lines(decoded) == block_lines(batch)
    assert sum(count for _, count, _, _ in events) == 5003


def test_memory_and_cpu_are_asked_for_only_where_workers_declare_them() -> None:
    plain = {"tcp://a:1": {"resources": {}}}
    assert resource_request(plain, 500, 50) == {}  # placed by thread slots alone
    declared = {**plain, "tcp://b:1": {"resources": {"memory_mb": 2000.0}}}
    assert resource_request(declared, 500, 50) == {"memory_mb": 500.0}
    assert resource_request(declared, None, 50) == {}
    assert fits(declared, {"memory_mb": 2000.0}) and not fits(declared, {"memory_mb": 2001.0})
    words = too_big("tcp://s:1", declared, "big", {"memory_mb": 4000.0})
    assert words.startswith("agent big asks for memory_mb=4000, and no Dask worker of tcp://s:1")
    assert "(the most any has: memory_mb=2000)" in words


async def test_an_attempt_runs_on_a_worker_and_its_lines_come_in_order(
    executor: DaskExecutor, tmp_path: Path
) -> None:
    assert await executor.prepare([Needs("a", memory_mb=500, cpu_percent=50)]) is None
    attempt = await executor.start(spec(tmp_path, "proc_lines.py", "30000", memory_mb=500))
    assert attempt.key == attempt_key("r1", "s", "proc_lines", 1)
    assert attempt.info is not None and attempt.info.host
    lines = await read_all(attempt)
    exit_ = await attempt.wait()
    assert (exit_.reason, exit_.exit_code) == ("exited", 0)
    assert exit_.duration_s > 0 and exit_.cpu_s > 0 and exit_.peak_rss_mb > 0
    assert [int(text[:8]) for _, text, _, _ in lines] == list(range(30000))
    assert (
        not psutil.pid_exists(attempt.info.pid)
        or psutil.Process(attempt.info.pid).status() == "zombie"
    )


async def test_a_worker_sends_no_more_than_a_window_ahead_of_the_engine(
    executor: DaskExecutor, tmp_path: Path
) -> None:
    attempt = await executor.start(spec(tmp_path, "proc_lines.py", "200000"))
    forwarder = dask_worker._running[attempt.key]
    async with asyncio.timeout(BOUND_S):  # nothing taken: the worker stops at the window
        while forwarder.sent_lines <= WINDOW_LINES:
            await asyncio.sleep(0.01)
    sent = forwarder.sent_lines
    assert forwarder.taken_lines == 0 and sent <= 2 * WINDOW_LINES
    lines = await read_all(attempt)
    assert [int(text[:8]) for _, text, _, _ in lines] == list(range(200000))
    assert (await attempt.wait()).reason == "exited"


async def test_stop_reaches_the_process_group_on_the_worker(
    executor: DaskExecutor, tmp_path: Path
) -> None:
    attempt = await executor.start(spec(tmp_path, "proc_ignore_term.py"))
    lines = attempt.lines()
    assert [t for _, t, _, _ in block_lines(await anext(lines))] == ["ready"]
    assert attempt.info is not None
    await attempt.stop()
    exit_ = await attempt.wait()
    assert exit_.reason == "stopped" and exit_.exit_code == -9  # SIGTERM ignored: SIGKILL
    assert [batch async for batch in lines] == []
    assert not psutil.pid_exists(attempt.info.pid)


async def test_a_command_that_cannot_start_is_a_spawn_failure(
    executor: DaskExecutor, tmp_path: Path
) -> None:
    broken = AttemptSpec(argv=("/nonexistent/agent",), cwd=str(tmp_path), env={})
    attempt = await executor.start(broken)
    assert await read_all(attempt) == []
    exit_ = await attempt.wait()
    assert (exit_.reason, exit_.error) == ("spawn_failed", "command not found: /nonexistent/agent")


async def test_an_agent_no_worker_can_hold_is_refused_before_its_stage(
    executor: DaskExecutor, tmp_path: Path
) -> None:
    problem = await executor.prepare([Needs("small", 100), Needs("big", memory_mb=4000)])
    assert problem is not None
    assert "agent big asks for memory_mb=4000" in problem
    assert "the most any has: memory_mb=1000" in problem
    attempt = await executor.start(spec(tmp_path, "proc_exit.py", memory_mb=4000))
    exit_ = await attempt.wait()
    assert exit_.reason == "spawn_failed" and "memory_mb=4000" in (exit_.error or "")


async def test_a_worker_that_does_not_see_the_run_folder_is_refused(
    cluster: LocalCluster, executor: DaskExecutor, tmp_path: Path
) -> None:
    assert await executor.prepare([]) is None
    (tmp_path / "run" / MARKER).unlink()
    await cluster.scale(3)  # a worker that joins later is checked too
    async with asyncio.timeout(BOUND_S):
        while len(cluster.workers) < 3 or len(cluster.scheduler.workers) < 3:
            await asyncio.sleep(0.01)
    problem = await executor.prepare([])
    assert problem is not None and "does not see this run's folder" in problem
    assert "a shared filesystem" in problem and MARKER in problem


async def test_no_scheduler_is_a_reason_to_pause(tmp_path: Path) -> None:
    dask = DaskExecutor("tcp://127.0.0.1:9", workspace=str(tmp_path), run_dir=str(tmp_path))
    import dask as dask_config

    with dask_config.config.set({"distributed.comm.timeouts.connect": "0.2s"}):
        problem = await dask.prepare([])
        attempt = await dask.start(spec(tmp_path, "proc_exit.py"))
    assert problem is not None and "cannot be reached" in problem
    assert (await attempt.wait()).reason == "unreachable"


async def test_an_attempt_whose_worker_goes_away_is_lost(
    cluster: LocalCluster, executor: DaskExecutor, tmp_path: Path
) -> None:
    attempt = await executor.start(spec(tmp_path, "proc_hang.py"))
    reader = asyncio.create_task(read_all(attempt))
    assert attempt.info is not None
    worker = next(w for w in cluster.workers.values() if w.address == attempt.worker)
    await worker.close()
    exit_ = await attempt.wait()
    assert exit_.reason == "lost" and attempt.worker in (exit_.error or "")
    await reader
    async with asyncio.timeout(BOUND_S):
        while psutil.pid_exists(attempt.info.pid):
            await asyncio.sleep(0.02)


async def test_an_orphan_is_found_by_its_key_and_stopped(
    cluster: LocalCluster, executor: DaskExecutor, tmp_path: Path
) -> None:
    attempt = await executor.start(spec(tmp_path, "proc_hang.py"))
    reader = asyncio.create_task(read_all(attempt))
    assert attempt.info is not None
    later = DaskExecutor(cluster.scheduler_address, workspace=str(tmp_path), run_dir=str(tmp_path))
    try:
        assert await asyncio.to_thread(later.kill_orphan, attempt.info)
    finally:
        await later.close()
    assert (await attempt.wait()).reason == "stopped"
    await reader
    assert not psutil.pid_exists(attempt.info.pid)


async def test_a_whole_stdout_comes_back_small_in_the_event_and_large_as_the_result(
    executor: DaskExecutor, tmp_path: Path
) -> None:
    for count in (10, 2000):  # 810 bytes, then 162,000 (more than an event holds)
        tee = str(tmp_path / f"out.{count}")
        started = spec(tmp_path, "proc_lines.py", str(count), attempt=count, stdout_tee=tee)
        attempt = await executor.start(started)
        lines = await read_all(attempt)
        exit_ = await attempt.wait()
        assert exit_.stdout is not None and len(exit_.stdout) == 81 * count
        assert exit_.stdout.decode().splitlines() == [text for _, text, _, _ in lines]


async def test_a_run_pauses_before_a_stage_no_worker_can_hold(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    """The engine asks the executor before each stage: nothing of the stage starts, and the
    reason says what to do; the run goes on once the cluster can hold its agents."""
    from engine.run.engine import Engine
    from engine.store.database import Store
    from engine.store.location import default_db
    from tests.helpers import agent_cmd, create_test_run, one_stage

    ws = tmp_path / "ws"
    ws.mkdir()
    text = one_stage(f"      - {{id: big, memory_mb: 4000, run: {agent_cmd()}}}")
    store = await Store.open(default_db(ws))
    try:
        run_id = await create_test_run(
            store,
            tmp_path,
            ws,
            text,
            executor={"kind": "dask", "scheduler": cluster.scheduler_address},
        )
        outcome = await (await Engine.open(store, run_id)).drive()
        assert outcome.status == "paused" and outcome.exit_code == 4
        assert outcome.reason.startswith("agent big asks for memory_mb=4000, and no Dask worker")
        assert "the most any has: memory_mb=1000" in outcome.reason
        kinds = [e.kind for e in await store.events(run_id)]
        assert "stage_started" not in kinds and "attempt_started" not in kinds
        async with Worker(
            cluster.scheduler_address, nthreads=1, resources={"memory_mb": 8000}
        ):  # a worker big enough joins; the run is resumed
            outcome = await (await Engine.open(store, run_id)).drive()
        assert outcome.status == "completed", outcome.reason
    finally:
        await store.close()
