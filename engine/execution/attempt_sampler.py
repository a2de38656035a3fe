"""When to measure each running attempt's process tree: one task for all of an executor's
attempts (see :class:`AttemptSampler`)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Protocol

from engine.execution import process_tree
from engine.execution.executor import AttemptSpec

GROUP_SCAN_S = 2.0
"""How often the whole process table is first scanned for group members that left the tree;
the gap doubles after each scan of an attempt, up to ``GROUP_SCAN_MAX_S``."""
GROUP_SCAN_MAX_S = 32.0
SETTLE_AFTER_S = 5.0
"""After this long an attempt is sampled less often."""
SETTLED_SAMPLE_S = 1.0
SAMPLES_PER_S = 100.0
"""How many trees are measured per second at most, over all attempts without a memory limit:
past ``SAMPLES_PER_S`` x ``sample_interval_s`` attempts, each is measured less often."""
LIMIT_SAMPLE_MAX_S = 0.5
"""The longest gap between two samples of an attempt with a memory limit, whatever the load:
the limit is enforced within this delay."""


class Sampled(Protocol):
    """What the sampler needs of an attempt."""

    @property
    def spec(self) -> AttemptSpec: ...
    @property
    def started(self) -> float: ...
    @property
    def pgid(self) -> int: ...

    def sample(self, members: list[process_tree.ProcStat] | None) -> None: ...


def sample_interval(spec: AttemptSpec, age_s: float, running: int) -> float:
    """How long until the next sample of an attempt that has run ``age_s``, with ``running``
    attempts measured by the same executor (see :class:`AttemptSampler`)."""
    fast = max(spec.sample_interval_s, 0.01)
    interval = max(fast, SETTLED_SAMPLE_S) if age_s >= SETTLE_AFTER_S else fast
    interval = max(interval, running / SAMPLES_PER_S)
    if spec.memory_mb is not None:
        interval = min(interval, max(fast, LIMIT_SAMPLE_MAX_S))
    return interval


@dataclass(eq=False, slots=True)
class _Schedule:
    next_sample: float
    interval: float
    next_scan: float
    scan_gap: float


class AttemptSampler:
    """Measures the process trees of all running attempts of an executor, from one task.

    One loop instead of a timer per attempt, waking when the earliest sample falls due and then
    measuring every tree due within a quarter of its interval: two hundred sleeping agents cost
    a few wake-ups a second. An attempt is measured every ``sample_interval_s``, every
    ``SETTLED_SAMPLE_S`` once it has run ``SETTLE_AFTER_S``, and less often when more than
    ``SAMPLES_PER_S`` trees a second would be due; with a memory limit, at least every
    ``LIMIT_SAMPLE_MAX_S``. The whole process table is scanned (in a thread, one scan shared by
    the attempts due together) every ``GROUP_SCAN_S`` at first, then less and less often.
    """

    def __init__(self) -> None:
        self._schedules: dict[Sampled, _Schedule] = {}
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Future[None] | None = None
        self._next_wake = float("inf")

    def add(self, attempt: Sampled) -> None:
        now = time.monotonic()
        interval = self._interval(attempt, now)
        self._schedules[attempt] = _Schedule(
            now + interval, interval, now + GROUP_SCAN_S, GROUP_SCAN_S
        )
        task = self._task
        if task is None or task.done() or task.get_loop() is not asyncio.get_running_loop():
            self._task = asyncio.create_task(self._run(), name="attempt-sampler")
        elif now + interval < self._next_wake and self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    def remove(self, attempt: Sampled) -> None:
        self._schedules.pop(attempt, None)

    def _interval(self, attempt: Sampled, now: float) -> float:
        return sample_interval(attempt.spec, now - attempt.started, len(self._schedules))

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while self._schedules:
            now = time.monotonic()
            due = [
                (attempt, schedule)
                for attempt, schedule in self._schedules.items()
                if schedule.next_sample - now <= schedule.interval / 4
            ]
            if due:
                await self._sample(due, now)
            if not self._schedules:
                break
            self._next_wake = min(s.next_sample for s in self._schedules.values())
            self._wake = loop.create_future()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(self._next_wake - time.monotonic(), 0.0)):
                    await self._wake
            self._next_wake = float("inf")

    async def _sample(self, due: list[tuple[Sampled, _Schedule]], now: float) -> None:
        groups: dict[int, list[process_tree.ProcStat]] = {}
        if any(schedule.next_scan <= now for _, schedule in due):
            groups = await asyncio.to_thread(process_tree.groups_cached, GROUP_SCAN_S)
        for attempt, schedule in due:
            if self._schedules.get(attempt) is not schedule:
                continue  # its leader exited meanwhile
            members = None
            if schedule.next_scan <= now:
                members = groups.get(attempt.pgid, [])
                schedule.scan_gap = min(schedule.scan_gap * 2, GROUP_SCAN_MAX_S)
                schedule.next_scan = now + schedule.scan_gap
            attempt.sample(members)
            schedule.interval = self._interval(attempt, now)
            schedule.next_sample = now + schedule.interval
