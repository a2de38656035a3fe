"""``cpu_percent``: an attempt is held to its share of the machine, by a cgroup's CPU quota where
one can be made and by pausing and resuming its process group elsewhere (real processes burning
CPU, measured by the executor itself). The signals path is forced with ``PHASEBOARD_CPU_LIMIT``."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from engine.execution import cpu_cgroup, process_groups
from engine.execution.cgroup_mounts import machine_cpus
from engine.execution.cpu_throttle import (
    BURST_S,
    MEASURES_PER_S,
    PERIOD_S,
    CpuThrottle,
    busy_period,
)
from tests.engine.test_local_executor import AGENTS, group_gone, make_spec, run


def burn(tmp_path: Path, steps: int, step_cpu: float, **options: object) -> object:
    return make_spec(tmp_path, "proc_burn_steps.py", str(steps), str(step_cpu), **options)


def percent_for(cpus: float) -> int:
    """The ``cpu_percent`` nearest to ``cpus`` CPUs on this machine."""
    return max(1, round(cpus * 100 / machine_cpus()))


@pytest.fixture
def signals(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hold attempts to their share by pausing them, even where a cgroup could be made."""
    monkeypatch.setenv(cpu_cgroup.FORCE_ENV, "signals")


@pytest.fixture(params=["signals", "cgroup"])
def enforcement(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each way of holding the share: its label as :class:`AttemptExit` reports it."""
    if request.param == "signals":
        monkeypatch.setenv(cpu_cgroup.FORCE_ENV, "signals")
        return "signals"
    monkeypatch.delenv(cpu_cgroup.FORCE_ENV, raising=False)
    found = cpu_cgroup.controller()
    if found is None:
        pytest.skip("no writable cgroup CPU controller here")
    return f"cgroup v{found.version}"


async def test_a_busy_agent_is_held_to_its_share(tmp_path: Path, enforcement: str) -> None:
    percent = percent_for(0.25)
    share = percent / 100 * machine_cpus()
    started = time.monotonic()
    collector, result, attempt = await run(burn(tmp_path, 3, 0.1, cpu_percent=percent))  # type: ignore[arg-type]
    wall = time.monotonic() - started
    assert collector.texts()[-1] == "done" and result.reason == "exited"
    assert result.cpu_limit == enforcement
    assert result.cpu_s >= 0.2  # the last sample may come up to one period before the end
    assert result.throttled_s > 0
    # 0.3 s of CPU at a quarter of a CPU: about a second, not 0.3 s. Loose: when the test's own
    # loop is held up, a paused agent runs on unchecked until the next measure, and an agent this
    # short can end before it has paused for all of it. A busy machine only lowers the ratio.
    assert result.cpu_s / wall < share + 0.35, (result.cpu_s, wall, share)
    assert attempt.info is not None and group_gone(attempt.info.pgid)


async def test_without_a_share_nothing_is_held(tmp_path: Path) -> None:
    _, result, _ = await run(burn(tmp_path, 2, 0.05))  # type: ignore[arg-type]
    assert result.reason == "exited" and result.throttled_s == 0.0
    assert result.cpu_limit is None


async def test_a_hundred_percent_is_the_whole_machine_and_no_limit(tmp_path: Path) -> None:
    _, result, _ = await run(burn(tmp_path, 2, 0.05, cpu_percent=100))  # type: ignore[arg-type]
    assert result.reason == "exited" and result.throttled_s == 0.0
    assert result.cpu_limit is None


async def test_a_held_agent_still_acts_on_sigterm(tmp_path: Path, enforcement: str) -> None:
    """A timeout that falls while the agent is held back: a paused group is resumed first, so
    the agent's own SIGTERM handler runs (no wait for SIGKILL after the grace period)."""
    spec = burn(tmp_path, 0, 0.05, cpu_percent=percent_for(0.05), timeout_s=0.6, grace_s=5.0)
    started = time.monotonic()
    collector, result, attempt = await run(spec)  # type: ignore[arg-type]
    assert (result.reason, result.cpu_limit) == ("timeout", enforcement)
    assert "term" in collector.texts()
    # with signals the timeout falls in a pause of about 1.9 s: the group is resumed at once
    assert time.monotonic() - started < 1.5
    assert result.throttled_s > 0
    assert attempt.info is not None and group_gone(attempt.info.pgid)


async def test_time_spent_paused_is_not_silence(tmp_path: Path, signals: None) -> None:
    """Each pause (about 0.9 s at a tenth of a CPU) is longer than the idle timeout: only the
    time the agent could run counts towards it."""
    spec = burn(tmp_path, 6, 0.02, cpu_percent=percent_for(0.1), idle_timeout_s=0.5)
    collector, result, _ = await run(spec)  # type: ignore[arg-type]
    assert result.reason == "exited", result.error
    assert collector.texts()[-1] == "done"
    assert result.throttled_s > 0


class FakeTree:
    """A process tree that uses a whole core whenever it is not paused."""

    def __init__(self) -> None:
        self.cpu = 0.0
        self.running_since: float | None = time.monotonic()
        self.signals: list[str] = []

    def measure(self) -> float:
        if self.running_since is not None:
            now = time.monotonic()
            self.cpu += now - self.running_since
            self.running_since = now
        return self.cpu

    def pause(self) -> None:
        self.measure()
        self.running_since = None
        self.signals.append("stop")

    def resume(self) -> None:
        self.running_since = time.monotonic()
        self.signals.append("cont")


async def test_the_throttle_pays_a_debt_by_pausing_and_always_resumes() -> None:
    """The control loop on its own: a tree running flat out is held near its share, and the
    throttle, cancelled mid-pause, leaves it resumed."""
    tree = FakeTree()
    throttle = CpuThrottle(50, tree.measure, tree.pause, tree.resume, cpus=1)
    started = time.monotonic()
    task = asyncio.create_task(throttle.run())
    async with asyncio.timeout(5):
        while throttle.pauses < 6:
            await asyncio.sleep(0.02)
        while not throttle.paused:
            await asyncio.sleep(0.01)
    used, elapsed = tree.measure(), time.monotonic() - started
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # at most its share, the first credit and one period run flat out; and not much less
    assert 0.3 * elapsed < used <= 0.5 * elapsed + 0.5 * BURST_S + PERIOD_S + 0.05, (used, elapsed)
    assert tree.signals[0] == "stop" and tree.signals[-1] == "cont"
    assert tree.signals.count("stop") == tree.signals.count("cont") >= 5
    assert not throttle.paused and tree.running_since is not None


def test_the_share_is_a_part_of_the_machine() -> None:
    def share(percent: float, cpus: float | None = None) -> float:
        return CpuThrottle(percent, lambda: 0.0, lambda: None, lambda: None, cpus=cpus).share

    assert share(25, cpus=2) == 0.5  # a quarter of a 2-CPU machine is half a CPU
    assert share(50, cpus=1) == 0.5
    assert share(100, cpus=4) == 4.0
    assert share(25) == 0.25 * machine_cpus()


def test_a_share_outside_one_to_a_hundred_is_refused() -> None:
    for bad in (0, 101, -5):
        with pytest.raises(ValueError):
            CpuThrottle(bad, lambda: 0.0, lambda: None, lambda: None)


def test_a_group_left_paused_by_a_dead_engine_is_still_stopped_with_sigterm() -> None:
    """Resume after a crash stops the groups the dead engine left, maybe mid-pause."""
    proc = subprocess.Popen(
        [sys.executable, str(AGENTS / "proc_burn_steps.py"), "0", "0.05"],
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"step 1\n"
        os.killpg(proc.pid, signal.SIGSTOP)
        started = time.monotonic()
        assert process_groups.terminate_group(proc.pid, grace_s=5.0)
        assert time.monotonic() - started < 2.5  # SIGTERM acted on, no SIGKILL after 5 s
        assert proc.wait(timeout=5) == 0
        assert b"term" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_many_throttles_share_a_bounded_rate_of_measures() -> None:
    assert busy_period(1) == busy_period(20) == PERIOD_S
    assert busy_period(400) == 400 / MEASURES_PER_S  # 2 s: at most MEASURES_PER_S a second
    assert all(n / busy_period(n) <= MEASURES_PER_S for n in (1, 50, 200, 1000))
