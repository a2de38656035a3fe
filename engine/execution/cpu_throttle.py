"""Holding an attempt to its ``cpu_percent`` without a cgroup: the way ``cpulimit`` does it, for
a process group (the executor uses :mod:`engine.execution.cpu_cgroup`'s kernel quota where it can).

The share is ``cpu_percent`` of the machine: 25 on a 2-CPU machine is half a CPU. The tree's CPU
time is measured every ``PERIOD_S``; once it has used more than its share over the time it ran
(plus a small credit, ``BURST_S`` of its share, so a short spike passes), the whole group is
paused with SIGSTOP for as long as it takes its share to catch up, then resumed with SIGCONT.
This needs no privileges and no cgroup delegation, and works for any command; the price is a
coarse duty cycle (runs of about ``PERIOD_S``) rather than a smooth share. An attempt that stays
well under its share is measured less often (up to every ``IDLE_PERIOD_S``), so a waiting LLM CLI
costs next to nothing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from engine.execution.cgroup_mounts import machine_cpus

PERIOD_S = 0.1
"""Measurement period while the tree uses a fair part of its share."""
IDLE_PERIOD_S = 1.0
"""Longest measurement period, reached by doubling while the tree stays under a quarter of its
share."""
BURST_S = 0.25
"""Credit a tree may build while under its share, in seconds at its share: 0.25 s at 0.2 CPU
lets it run 0.05 s of CPU before the first pause, enough for an interpreter to start."""
MAX_PAUSE_S = 2.0
"""Longest single pause; a longer debt is paid over several."""
MEASURES_PER_S = 200.0
"""How many trees all throttles of a process measure per second at most (a measure reads
``/proc`` on the event loop): past ``MEASURES_PER_S`` x ``PERIOD_S`` limited attempts, each is
measured less often, and runs in longer bursts."""


class CpuThrottle:
    """Pauses and resumes one attempt's processes to keep them at ``percent`` of ``cpus`` CPUs
    (by default the machine's, :func:`~engine.execution.cgroup_mounts.machine_cpus`).

    ``measure`` returns the CPU seconds the tree has used so far (never less than before);
    ``pause`` and ``resume`` signal the group. :meth:`run` loops until cancelled, and always
    leaves the group resumed.
    """

    running = 0
    """Throttles running in this process, which share ``MEASURES_PER_S``."""

    def __init__(
        self,
        percent: float,
        measure: Callable[[], float],
        pause: Callable[[], None],
        resume: Callable[[], None],
        *,
        cpus: float | None = None,
        on_resumed: Callable[[float, float], None] | None = None,
    ) -> None:
        if not 0 < percent <= 100:
            raise ValueError(f"cpu_percent must be in (0, 100], not {percent}")
        self.share = percent / 100.0 * (machine_cpus() if cpus is None else cpus)
        """CPU seconds the tree may use per second."""
        self._measure = measure
        self._pause = pause
        self._resume = resume
        self._on_resumed = on_resumed
        self.paused = False
        """Whether the group is paused now."""
        self.paused_s = 0.0
        """Time spent paused so far."""
        self.pauses = 0

    async def run(self) -> None:
        CpuThrottle.running += 1
        try:
            await self._loop()
        finally:
            CpuThrottle.running -= 1

    async def _loop(self) -> None:
        share = self.share
        credit_floor = -share * BURST_S
        debt = credit_floor
        period = busy_period(CpuThrottle.running)
        last_cpu = self._measure()
        last_t = time.monotonic()
        while True:
            await asyncio.sleep(period)
            now = time.monotonic()
            cpu = self._measure()
            used = max(cpu - last_cpu, 0.0)
            elapsed = now - last_t
            last_cpu, last_t = cpu, now
            debt = max(debt + used - share * elapsed, credit_floor)
            busy = busy_period(CpuThrottle.running)
            if debt > 0:
                await self._pause_for(min(debt / share, max(MAX_PAUSE_S, busy)))
                period = busy
            elif used < share * elapsed / 4:
                period = max(min(period * 2, IDLE_PERIOD_S), busy)
            else:
                period = busy

    async def _pause_for(self, seconds: float) -> None:
        self._pause()
        self.paused = True
        started = time.monotonic()
        try:
            await asyncio.sleep(seconds)
        finally:
            self._resume()
            self.paused = False
            ended = time.monotonic()
            self.paused_s += ended - started
            self.pauses += 1
            if self._on_resumed is not None:
                self._on_resumed(started, ended)


def busy_period(throttles: int) -> float:
    """The measuring period of a tree that computes, with ``throttles`` throttles running."""
    return max(PERIOD_S, throttles / MEASURES_PER_S)
