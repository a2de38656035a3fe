"""One process-table scan that answers every stopping attempt at once (see :class:`GroupWatcher`)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass

from engine.execution import process_groups, process_tree


@dataclass(eq=False)
class _Waiter:
    pgid: int
    escapees: dict[int, float]
    answered: asyncio.Future[bool]
    """The first answer: whether the group is gone."""
    gone: asyncio.Future[None]


class GroupWatcher:
    """Tells stopping attempts when their groups are gone, whatever their number, from one scan.

    While anyone waits, a single task reads the process table every ``period_s`` (in a worker
    thread: a scan takes milliseconds with hundreds of processes) and answers every waiter from
    it, reaping the zombies it finds (see :func:`~engine.execution.process_tree.live_among`). One scan per waiter instead
    would saturate the thread pool with a few hundred agents stopping at once, delaying the
    SIGKILL and the reaping by seconds.
    """

    def __init__(self, period_s: float = 0.05) -> None:
        self.period_s = period_s
        self._waiters: list[_Waiter] = []
        self._task: asyncio.Task[None] | None = None

    async def wait_gone(self, pgid: int, escapees: Mapping[int, float], timeout_s: float) -> bool:
        """Wait until group ``pgid`` has no live member and none of ``escapees`` (pid -> start)
        runs; False after ``timeout_s``, but never before one answer (so 0 asks once)."""
        escapees = dict(escapees)
        if not process_groups.group_exists(pgid) and not any(
            process_tree.still_running(p, s) for p, s in escapees.items()
        ):
            return True
        deadline = time.monotonic() + timeout_s
        loop = asyncio.get_running_loop()
        waiter = _Waiter(pgid, escapees, loop.create_future(), loop.create_future())
        self._waiters.append(waiter)
        if self._task is None or self._task.done() or self._task.get_loop() is not loop:
            self._task = asyncio.create_task(self._scan(), name="group-watcher")
        try:
            if await waiter.answered:
                return True
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(deadline - time.monotonic(), 0.0)):
                    await waiter.gone
            return waiter.gone.done() and not waiter.gone.cancelled()
        finally:
            self._waiters.remove(waiter)

    async def _scan(self) -> None:
        try:
            while self._waiters:
                waiters = list(self._waiters)
                pgids = {w.pgid for w in waiters}
                pids = {pid: start for w in waiters for pid, start in w.escapees.items()}
                try:
                    live_groups, live_pids = await asyncio.to_thread(
                        process_tree.live_among, pgids, pids
                    )
                except (OSError, ValueError):
                    live_groups, live_pids = pgids, set(pids)  # unreadable: alive until timeouts
                for w in waiters:
                    gone = w.pgid not in live_groups and live_pids.isdisjoint(w.escapees)
                    if not w.answered.done():
                        w.answered.set_result(gone)
                    if gone and not w.gone.done():
                        w.gone.set_result(None)
                if self._waiters:
                    await asyncio.sleep(self.period_s)
        except BaseException as exc:
            for w in self._waiters:  # none may wait for a scan that will never come
                pending = w.gone if w.answered.done() else w.answered
                if pending.done():
                    continue
                if isinstance(exc, asyncio.CancelledError):
                    pending.cancel()
                else:
                    pending.set_exception(exc)
            raise
