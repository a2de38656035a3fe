"""Signal and judge the process groups of agents: send a signal, stop a group (SIGTERM, grace,
SIGKILL), tell whether a group is alive, and whether a group recorded before a crash is still
ours (:func:`is_same_group`). Reading the processes is :mod:`engine.execution.process_tree`."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import sys
import time

import psutil

from engine.execution.process_tree import live_members, read_stat

_PR_SET_CHILD_SUBREAPER = 36


def group_exists(pgid: int) -> bool:
    """Whether any process (zombies included) is in the group; cheap, one system call."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def group_alive(pgid: int) -> bool:
    """Whether a non-zombie process is in the group. Scans all processes if the group exists."""
    return group_exists(pgid) and bool(live_members(pgid))


def signal_group(pgid: int, sig: int) -> bool:
    """Send ``sig`` to the group; False if it no longer exists."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def signal_pids(pids: list[int], sig: int) -> None:
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)


def terminate_group(pgid: int, grace_s: float, kill_wait_s: float = 2.0) -> bool:
    """SIGTERM the group, wait up to ``grace_s`` for it to be gone, then SIGKILL it.

    Blocking (it polls): for callers outside the event loop, such as resume after a crash.
    Returns True when the group is gone at the end.
    """
    if not signal_group(pgid, signal.SIGTERM):
        return True
    signal_group(pgid, signal.SIGCONT)  # a group left paused (``cpu_percent``) must see SIGTERM
    if _wait_gone(pgid, grace_s):
        return True
    signal_group(pgid, signal.SIGKILL)
    return _wait_gone(pgid, kill_wait_s)


def _wait_gone(pgid: int, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while group_alive(pgid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


def create_time(pid: int) -> float | None:
    """Start time as psutil reports it (seconds since the epoch), stable across processes."""
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def become_subreaper() -> bool:
    """Make orphaned descendants re-parent to this process instead of init (Linux only).

    Without it, killed grandchildren stay zombies until init reaps them, late or never in
    some containers, and their process group looks alive meanwhile.
    """
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    return libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0


def is_same_group(pid: int, pgid: int, leader_started: float) -> bool:
    """Whether group ``pgid`` is still the one whose leader ``pid`` started at ``leader_started``
    (a :func:`create_time`).

    With the leader alive, its start time must match (to 0.01 s) and it must still lead the
    group. With the leader gone, the kernel cannot have reused its pid as a new group id while
    a member of the old group lives, but a later group may have taken it after ours emptied;
    so it counts as ours only if every live member is in session ``pgid`` (ours all are: the
    leader called ``setsid``) and started no earlier than the leader.
    """
    now_started = create_time(pid)
    if now_started is not None:
        stat = read_stat(pid)
        return abs(now_started - leader_started) <= 0.01 and stat is not None and stat.pgid == pgid
    if not group_exists(pgid):
        return False
    members = live_members(pgid)
    return bool(members) and all(
        m.sid == pgid
        and (started := create_time(m.pid)) is not None
        and started >= leader_started - 0.01
        for m in members
    )
