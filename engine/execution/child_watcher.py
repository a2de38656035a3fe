"""Reaping the engine's children through pidfds on Python 3.11, and keeping what ``wait4``
says of each (peak memory and CPU time) for the attempt to claim.

Python 3.12 watches children through pidfds by itself; 3.11's default parks one thread in
``waitpid`` per child, which with hundreds of agents means hundreds of threads.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Any

_EXIT_USAGE: dict[int, tuple[int, float]] = {}
"""(peak RSS bytes, CPU seconds) of the children the pidfd watcher reaped, until claimed."""
_EXIT_USAGE_KEPT = 1024


def exit_usage(pid: int) -> tuple[int, float] | None:
    """What ``wait4`` said of child ``pid`` when it was reaped: its peak resident memory and CPU
    time, its own and its waited-for descendants'. Exact where sampling misses an agent that
    lives less than one interval; only where our watcher reaps (Linux, Python 3.11)."""
    return _EXIT_USAGE.pop(pid, None)


class _PidfdChildWatcher(asyncio.AbstractChildWatcher):
    """Python 3.12's child watcher for 3.11: a pidfd in the running loop's selector per child.

    3.11's default, ``ThreadedChildWatcher``, parks one thread in ``waitpid`` per child: with
    hundreds of agents that is hundreds of threads and a hand-off between threads at every exit.
    The stdlib's 3.11 ``PidfdChildWatcher`` is bound to the loop it was attached to; this one
    uses whichever loop starts the child, like 3.12's.
    """

    def __enter__(self) -> _PidfdChildWatcher:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def is_active(self) -> bool:
        return True

    def close(self) -> None:
        pass

    def attach_loop(self, loop: asyncio.AbstractEventLoop | None) -> None:
        pass

    def add_child_handler(self, pid: int, callback: Any, *args: Any) -> None:  # type: ignore[override]
        loop = asyncio.get_running_loop()
        pidfd = os.pidfd_open(pid)
        loop.add_reader(pidfd, self._do_wait, loop, pid, pidfd, callback, args)

    def remove_child_handler(self, pid: int) -> bool:
        return True  # never called by asyncio; required by the base class

    @staticmethod
    def _do_wait(
        loop: asyncio.AbstractEventLoop, pid: int, pidfd: int, callback: Any, args: tuple[Any, ...]
    ) -> None:
        loop.remove_reader(pidfd)
        try:
            _, status, usage = os.wait4(pid, 0)
        except ChildProcessError:
            returncode = 255  # reaped elsewhere; asyncio's own watchers report 255 too
        else:
            returncode = os.waitstatus_to_exitcode(status)
            if len(_EXIT_USAGE) >= _EXIT_USAGE_KEPT:  # children nobody claims (not agents)
                del _EXIT_USAGE[next(iter(_EXIT_USAGE))]
            _EXIT_USAGE[pid] = (usage.ru_maxrss * 1024, usage.ru_utime + usage.ru_stime)
        os.close(pidfd)
        callback(pid, returncode, *args)


def use_pidfd_child_watcher() -> bool:
    """On Linux with Python 3.11, watch asyncio's children through pidfds instead of one thread
    each (3.12 does so by itself, and deprecates child watchers). Process-wide; a watcher other
    than the default is left alone. Returns whether the pidfd watcher is in place."""
    if sys.version_info >= (3, 12) or not sys.platform.startswith("linux"):
        return False
    policy = asyncio.get_event_loop_policy()
    if not isinstance(policy, asyncio.DefaultEventLoopPolicy):
        return False
    current = policy.get_child_watcher()
    if isinstance(current, _PidfdChildWatcher):
        return True
    if type(current) is not asyncio.ThreadedChildWatcher:
        return False
    try:
        os.close(os.pidfd_open(os.getpid()))
    except (AttributeError, OSError):
        return False  # a kernel older than 5.3, or a sandbox refusing the call
    policy.set_child_watcher(_PidfdChildWatcher())
    return True
