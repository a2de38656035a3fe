"""At most one engine drives a run: a lock row with pid, host, process start time and heartbeat."""

from __future__ import annotations

import os
import socket
import time

import psutil

from engine.store.database import LockRow, Store

HEARTBEAT_S = 2.0
STALE_AFTER_S = 30.0
"""A holder on another host is presumed dead when its heartbeat is this old."""


class RunLocked(Exception):
    def __init__(self, holder: LockRow) -> None:
        self.holder = holder
        super().__init__(
            f"run is driven by a live engine (pid {holder.pid} on {holder.host}); "
            "use `phaseboard attach` to watch it, `phaseboard wait` to wait for it, "
            "or `phaseboard stop` to stop it"
        )


def my_lock_row() -> LockRow:
    pid = os.getpid()
    return LockRow(
        run_id="",
        pid=pid,
        host=socket.gethostname(),
        create_time=psutil.Process(pid).create_time(),
        heartbeat=time.time(),
    )


def holder_alive(held: LockRow) -> bool:
    """True while the holder's process is really the one that took the lock."""
    if held.host != socket.gethostname():
        return time.time() - held.heartbeat < STALE_AFTER_S
    try:
        proc = psutil.Process(held.pid)
        if abs(proc.create_time() - held.create_time) > 0.5:
            return False
        return proc.status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return False


async def acquire(store: Store, run_id: str) -> LockRow:
    mine = my_lock_row()
    holder = await store.try_lock(run_id, mine, lambda held: not holder_alive(held))
    if holder is not None:
        raise RunLocked(holder)
    return mine


async def live_holder(store: Store, run_id: str) -> LockRow | None:
    held = await store.lock(run_id)
    if held is None or (held.pid == os.getpid() and held.host == socket.gethostname()):
        return None
    return held if holder_alive(held) else None
