"""LocalExecutor with many attempts: one sampler and one process-table watcher per executor."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Collection, Mapping
from pathlib import Path

import psutil
import pytest

from engine.execution import attempt_sampler, process_tree
from engine.execution.attempt_sampler import (
    LIMIT_SAMPLE_MAX_S,
    SAMPLES_PER_S,
    SETTLE_AFTER_S,
    SETTLED_SAMPLE_S,
    sample_interval,
)
from engine.execution.executor import AttemptExit, AttemptSpec
from engine.execution.local_executor import LocalAttempt, LocalExecutor

AGENTS = Path(__file__).parents[1] / "agents"
BOUND_S = 10.0
ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}


def spec_of(tmp_path: Path, *argv: str, **options: object) -> AttemptSpec:
    defaults: dict[str, object] = {"grace_s": 0.3, "sample_interval_s": 0.05}
    settings = defaults | options
    return AttemptSpec(argv=argv, cwd=str(tmp_path), env=ENV, **settings)  # type: ignore[arg-type]


async def drain(attempt: LocalAttempt) -> list[str]:
    texts: list[str] = []
    async for batch in attempt.lines():
        texts += [text for block in batch for _, text, _ in block.lines()]
    return texts


def test_sample_interval_backs_off_with_age_and_load_but_not_past_a_memory_limit(
    tmp_path: Path,
) -> None:
    plain = spec_of(tmp_path, "true", sample_interval_s=0.25)
    limited = spec_of(tmp_path, "true", sample_interval_s=0.25, memory_mb=100)
    assert sample_interval(plain, 0.0, 1) == 0.25
    assert sample_interval(plain, SETTLE_AFTER_S, 1) == SETTLED_SAMPLE_S
    many = int(SAMPLES_PER_S * 2)
    assert sample_interval(plain, 0.0, many) == 2.0
    assert sample_interval(plain, SETTLE_AFTER_S, many) == 2.0
    assert sample_interval(limited, 0.0, 1) == 0.25
    assert sample_interval(limited, SETTLE_AFTER_S, 1) == LIMIT_SAMPLE_MAX_S
    assert sample_interval(limited, SETTLE_AFTER_S, many) == LIMIT_SAMPLE_MAX_S
    slow = spec_of(tmp_path, "true", sample_interval_s=3.0, memory_mb=100)
    assert sample_interval(slow, SETTLE_AFTER_S, many) == 3.0


async def test_memory_limits_hold_with_many_attempts_sampled_less_often(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(attempt_sampler, "SAMPLES_PER_S", 1.0)
    executor = LocalExecutor()
    sleepers = [
        await executor.start(spec_of(tmp_path, sys.executable, str(AGENTS / "proc_hang.py")))
        for _ in range(5)
    ]
    hog = await executor.start(
        spec_of(tmp_path, sys.executable, str(AGENTS / "proc_memhog.py"), "400", memory_mb=60)
    )
    readers = [asyncio.create_task(drain(a)) for a in [*sleepers, hog]]
    try:
        async with asyncio.timeout(BOUND_S):
            result = await hog.wait()
        assert result.reason == "memory" and "limit 60 MiB" in (result.error or "")
    finally:
        async with asyncio.timeout(BOUND_S):
            await asyncio.gather(*(a.stop() for a in sleepers))
            await asyncio.gather(*readers)


async def test_idle_timeout_still_counts_after_reading_was_paused(tmp_path: Path) -> None:
    lines = str(AGENTS / "proc_lines.py")
    command = f"'{sys.executable}' '{lines}' 300000; echo done; exec sleep 30"
    spec = AttemptSpec(argv=(command,), cwd=str(tmp_path), env=ENV, shell=True, idle_timeout_s=0.5)
    attempt = await LocalExecutor().start(spec)
    deadline = time.monotonic() + BOUND_S
    while not attempt._output.paused:  # unread output: reading pauses
        assert time.monotonic() < deadline, "reading never paused"
        await asyncio.sleep(0.01)
    await asyncio.sleep(1.0)  # a pause longer than the idle timeout, which must not count it
    async with asyncio.timeout(BOUND_S):
        texts = await drain(attempt)
        result = await attempt.wait()
    assert texts[-1] == "done" and len(texts) == 300_001
    assert result.reason == "idle_timeout"


def test_one_executor_samples_in_successive_event_loops(tmp_path: Path) -> None:
    executor = LocalExecutor()
    spec = spec_of(tmp_path, sys.executable, str(AGENTS / "proc_busy.py"), "0.4")

    async def busy() -> AttemptExit:
        attempt = await executor.start(spec)
        async with asyncio.timeout(BOUND_S):
            await drain(attempt)
            return await attempt.wait()

    for _ in range(2):
        result = asyncio.run(busy())
        assert result.exit_code == 0 and result.peak_rss_mb > 5 and result.cpu_s > 0.1


async def test_stopping_many_attempts_shares_each_scan_and_leaves_no_zombie(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scans: list[int] = []
    real = process_tree.live_among

    def counting(pgids: Collection[int], pids: Mapping[int, float]) -> tuple[set[int], set[int]]:
        scans.append(len(pgids))
        return real(pgids, pids)

    monkeypatch.setattr(process_tree, "live_among", counting)
    agent = "sleep 60 & (trap '' TERM; exec sleep 60) & echo started; wait"
    executor = LocalExecutor()
    attempts = [
        await executor.start(
            AttemptSpec(argv=(agent,), cwd=str(tmp_path), env=ENV, shell=True, grace_s=0.3)
        )
        for _ in range(30)
    ]
    readers = [asyncio.create_task(drain(a)) for a in attempts]
    leaders = [psutil.Process(a.info.pid) for a in attempts if a.info is not None]

    def tree() -> list[psutil.Process]:
        return [*leaders, *(p for leader in leaders for p in leader.children(recursive=True))]

    deadline = time.monotonic() + BOUND_S
    while len(tree()) < 3 * len(attempts):
        assert time.monotonic() < deadline, "the agents did not all start"
        await asyncio.sleep(0.02)
    processes = tree()
    async with asyncio.timeout(BOUND_S):
        await asyncio.gather(*(a.stop() for a in attempts))
        results = [await a.wait() for a in attempts]
        await asyncio.gather(*readers)
    assert {r.reason for r in results} == {"stopped"}
    assert not [p for p in processes if p.is_running()], "a process or zombie was left"
    assert max(scans) > 1, "each attempt scanned the process table alone"
    assert len(scans) < 10 * len(attempts)
