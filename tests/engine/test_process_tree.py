"""process_tree against real processes: one scan for many groups, reaping, the tree walk, and
the pidfd child watcher."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Collection, Iterator, Mapping
from pathlib import Path

import psutil
import pytest

from engine.execution import process_groups, process_tree
from engine.execution.child_watcher import use_pidfd_child_watcher
from engine.execution.group_watcher import GroupWatcher

AGENTS = Path(__file__).parents[1] / "agents"
BOUND_S = 10.0


def read_line(proc: subprocess.Popen[bytes]) -> str:
    """One line of a Popen's stdout; the agents here print it at once."""
    assert proc.stdout is not None
    line = proc.stdout.readline().decode().strip()
    assert line, "the agent ended before printing"
    return line


def start(*argv: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(argv, stdout=subprocess.PIPE, start_new_session=True)


def hang() -> subprocess.Popen[bytes]:
    proc = start(sys.executable, str(AGENTS / "proc_hang.py"))
    assert read_line(proc) == "ready"
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Kill the group and reap all of it: members re-parented to us (the subreaper) included."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=BOUND_S)
    deadline = time.monotonic() + BOUND_S
    while process_groups.group_exists(proc.pid):
        assert time.monotonic() < deadline, "the group outlived SIGKILL"
        process_tree.live_among({proc.pid}, {})
        time.sleep(0.01)
    assert proc.stdout is not None
    proc.stdout.close()


@pytest.fixture
def scans(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[set[int]]]:
    """The groups asked about by each scan of the process table, in order."""
    calls: list[set[int]] = []
    real = process_tree.live_among

    def counting(pgids: Collection[int], pids: Mapping[int, float]) -> tuple[set[int], set[int]]:
        calls.append(set(pgids))
        return real(pgids, pids)

    monkeypatch.setattr(process_tree, "live_among", counting)
    yield calls


def wait_until(condition: Callable[[], object], what: str) -> None:
    deadline = time.monotonic() + BOUND_S
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.01)


def is_zombie(pid: int) -> bool:
    stat = process_tree.read_stat(pid)
    return stat is not None and stat.zombie


def test_live_among_reaps_our_zombie_members_but_never_the_leader() -> None:
    assert process_groups.become_subreaper()
    proc = start(sys.executable, str(AGENTS / "proc_fork_hang.py"), "--exit")
    try:
        lines = [read_line(proc), read_line(proc)]
        grandchild = next(int(t.split()[1]) for t in lines if t.startswith("grandchild "))
        wait_until(lambda: is_zombie(proc.pid), "the leader to exit")
        stat = process_tree.read_stat(grandchild)
        wait_until(
            lambda: (s := process_tree.read_stat(grandchild)) and s.ppid == os.getpid(),
            "the orphan to be re-parented to us",
        )
        assert process_tree.live_among({proc.pid}, {}) == ({proc.pid}, set())
        os.kill(grandchild, signal.SIGKILL)
        wait_until(lambda: is_zombie(grandchild), "the orphan to die")
        assert process_tree.live_among({proc.pid}, {}) == (set(), set())
        assert process_tree.read_stat(grandchild) is None, "the zombie member was not reaped"
        assert is_zombie(proc.pid), "the leader was reaped: its exit status is not ours"
        assert proc.wait(timeout=BOUND_S) == 0
        assert stat is not None and stat.pgid == proc.pid
    finally:
        stop(proc)


def test_live_among_never_reaps_a_zombie_leader() -> None:
    leader = subprocess.Popen(["/bin/true"], start_new_session=True)
    wait_until(lambda: is_zombie(leader.pid), "the leader to exit")
    assert process_tree.live_among({leader.pid}, {}) == (set(), set())
    assert leader.wait(timeout=BOUND_S) == 0, "the leader's exit status was taken"


def test_live_among_follows_escapees_by_start_time() -> None:
    proc = hang()
    try:
        stat = process_tree.read_stat(proc.pid)
        assert stat is not None
        assert process_tree.live_among(set(), {proc.pid: stat.start}) == (set(), {proc.pid})
        assert process_tree.live_among(set(), {proc.pid: stat.start + 1}) == (set(), set())
    finally:
        stop(proc)


async def test_watcher_answers_every_group_from_one_scan(scans: list[set[int]]) -> None:
    procs = [hang() for _ in range(5)]
    try:
        watcher = GroupWatcher(period_s=0.01)
        waits = [asyncio.create_task(watcher.wait_gone(p.pid, {}, BOUND_S)) for p in procs]
        await asyncio.sleep(0)
        for p in procs:
            os.killpg(p.pid, signal.SIGKILL)
        async with asyncio.timeout(BOUND_S):
            assert await asyncio.gather(*waits) == [True] * 5
        assert scans[0] == {p.pid for p in procs}
        assert len(scans) < 5 * 3
    finally:
        for p in procs:
            stop(p)


async def test_watcher_times_out_on_a_live_group_and_asks_once_with_no_time(
    scans: list[set[int]],
) -> None:
    proc = hang()
    try:
        watcher = GroupWatcher(period_s=0.01)
        assert not await watcher.wait_gone(proc.pid, {}, 0)
        assert len(scans) == 1
        started = time.monotonic()
        assert not await watcher.wait_gone(proc.pid, {}, 0.2)
        assert time.monotonic() - started >= 0.2
    finally:
        stop(proc)
    assert await GroupWatcher().wait_gone(proc.pid, {}, BOUND_S)


async def test_watcher_needs_no_scan_for_a_vanished_group(scans: list[set[int]]) -> None:
    proc = subprocess.Popen(["/bin/true"], start_new_session=True)
    proc.wait(timeout=BOUND_S)
    assert await GroupWatcher().wait_gone(proc.pid, {}, BOUND_S)
    assert scans == []


async def test_watcher_waits_for_escapees_too() -> None:
    gone_group = subprocess.Popen(["/bin/true"], start_new_session=True)
    gone_group.wait(timeout=BOUND_S)
    escapee = hang()
    try:
        stat = process_tree.read_stat(escapee.pid)
        assert stat is not None
        watcher = GroupWatcher(period_s=0.01)
        known = {escapee.pid: stat.start}
        assert not await watcher.wait_gone(gone_group.pid, known, 0.05)
        waiting = asyncio.create_task(watcher.wait_gone(gone_group.pid, known, BOUND_S))
        escapee.kill()
        async with asyncio.timeout(BOUND_S):
            assert await waiting
    finally:
        stop(escapee)


def test_tree_stats_finds_children_of_every_thread() -> None:
    code = (
        "import os, signal, sys, threading\n"
        "def fork():\n"
        "    pid = os.fork()\n"
        "    if pid == 0:\n"
        "        signal.pause()\n"
        "    os.write(1, b'%d\\n' % pid)\n"
        "    threading.Event().wait()\n"
        "threading.Thread(target=fork, daemon=True).start()\n"
        "signal.pause()\n"
    )
    proc = start(sys.executable, "-c", code)
    try:
        child = int(read_line(proc))
        stats = process_tree.tree_stats(proc.pid)
        assert [s.pid for s in stats] == [proc.pid, child]
        assert stats[0].threads == psutil.Process(proc.pid).num_threads() == 2
        assert process_tree.descendants(proc.pid) == [child]
        assert process_tree.tree_stats(2**22 + 1) == []
    finally:
        stop(proc)


@pytest.mark.skipif(
    sys.version_info >= (3, 12) or not sys.platform.startswith("linux"),
    reason="the pidfd watcher is installed on Linux with Python 3.11 only",
)
def test_pidfd_child_watcher_reports_exits_in_any_loop_without_a_thread_per_child() -> None:
    assert use_pidfd_child_watcher()
    assert use_pidfd_child_watcher()

    async def exits() -> list[int]:
        threads = threading.active_count()
        procs = [
            await asyncio.create_subprocess_exec("/bin/sh", "-c", f"exit {n}") for n in range(20)
        ]
        killed = await asyncio.create_subprocess_exec("/bin/sleep", "30")
        killed.kill()
        assert threading.active_count() == threads
        async with asyncio.timeout(BOUND_S):
            return [await p.wait() for p in [*procs, killed]]

    for _ in range(2):  # a new event loop each time, as pytest and asyncio.run make them
        assert asyncio.run(exits()) == [*range(20), -signal.SIGKILL]


@pytest.mark.skipif(sys.version_info < (3, 12), reason="Python 3.12 and later")
def test_no_child_watcher_is_touched_from_python_3_12() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not use_pidfd_child_watcher()
