"""Find and measure (:class:`TreeMeter`) the processes of an agent's process group; signalling
them and judging a group is :mod:`engine.execution.process_groups`.

Hot paths read ``/proc`` directly: ``psutil``'s ``children(recursive=True)`` scans
every process on the machine, while walking ``/proc/PID/task/TID/children`` only
touches the tree. A full scan is still needed to find group members that left the
tree (double-forked daemons); callers do it rarely and off the event loop. Where
``/proc`` is missing, psutil does the same work more slowly.

Zombies count as gone: after a group is killed its members are zombies until
their new parent reaps them, and some container inits reap late or never. When
this process is a child subreaper (:func:`~engine.execution.process_groups.become_subreaper`), the orphans of an
agent become our children, and :func:`live_members`, :func:`live_among` and
:class:`~engine.execution.group_watcher.GroupWatcher` reap them.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass

import psutil

_PROC = os.path.isdir("/proc/self/task")
_CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
_CHILDREN = _PROC and os.path.exists(f"/proc/self/task/{os.getpid()}/children")


@dataclass(frozen=True, slots=True)
class ProcStat:
    pid: int
    ppid: int
    pgid: int
    sid: int
    zombie: bool
    start: float
    """Start time in an opaque unit, only to tell a reused pid from the same process."""
    cpu_s: float
    """User plus system time of the process itself (not of its reaped children)."""
    rss_bytes: int
    threads: int = 1


def read_stat(pid: int) -> ProcStat | None:
    """The current state of ``pid``, or None if it does not exist."""
    if not _PROC:
        return _psutil_stat(pid)
    try:
        raw = _read_proc(f"/proc/{pid}/stat", whole=False)
    except OSError:
        return None
    return _parse_stat(pid, raw)


def _read_proc(path: str, whole: bool = True) -> bytes:
    """A ``/proc`` file, without a file object: a third cheaper than ``open()``, which counts
    with hundreds of trees sampled a second. With ``whole`` false, only what one read returns:
    all of a file made in one piece, such as ``stat`` (a list such as ``children`` may come in
    several)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        chunks = [os.read(fd, 4096)]
        while whole and chunks[-1]:
            chunks.append(os.read(fd, 65536))
        return b"".join(chunks)
    finally:
        os.close(fd)


def _parse_stat(pid: int, raw: bytes) -> ProcStat | None:
    # The command name may hold spaces and parentheses: fields start after the last ")".
    fields = raw[raw.rfind(b")") + 2 :].split()
    if len(fields) < 22:
        return None
    return ProcStat(
        pid=pid,
        ppid=int(fields[1]),
        pgid=int(fields[2]),
        sid=int(fields[3]),
        zombie=fields[0] in (b"Z", b"X"),
        start=int(fields[19]) / _CLK_TCK,
        cpu_s=(int(fields[11]) + int(fields[12])) / _CLK_TCK,
        rss_bytes=int(fields[21]) * _PAGE,
        threads=int(fields[17]),
    )


def _psutil_stat(pid: int) -> ProcStat | None:
    try:
        proc = psutil.Process(pid)
        with proc.oneshot():
            times = proc.cpu_times()
            return ProcStat(
                pid=pid,
                ppid=proc.ppid(),
                pgid=os.getpgid(pid),
                sid=os.getsid(pid),
                zombie=proc.status() in (psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD),
                start=proc.create_time(),
                cpu_s=times.user + times.system,
                rss_bytes=proc.memory_info().rss,
                threads=proc.num_threads(),
            )
    except (psutil.Error, OSError):
        return None


def descendants(pid: int) -> list[int]:
    """All processes below ``pid`` (children, grandchildren, ...), without ``pid``."""
    return [stat.pid for stat in tree_stats(pid)[1:]]


def tree_stats(pid: int) -> list[ProcStat]:
    """The state of ``pid`` and of every process below it, in one walk: each process's stat,
    then its children (its task list is read only when it has several threads)."""
    if not _CHILDREN:
        return [s for p in [pid, *_psutil_descendants(pid)] if (s := read_stat(p)) is not None]
    found: list[ProcStat] = []
    todo = [pid]
    while todo:
        stat = read_stat(todo.pop())
        if stat is None:
            continue
        found.append(stat)
        try:
            tids = [stat.pid] if stat.threads == 1 else os.listdir(f"/proc/{stat.pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                todo.extend(
                    int(k) for k in _read_proc(f"/proc/{stat.pid}/task/{tid}/children").split()
                )
            except OSError:
                continue
    return found


def _psutil_descendants(pid: int) -> list[int]:
    try:
        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except psutil.Error:
        return []


def group_members(pgid: int) -> list[ProcStat]:
    """Every process of group ``pgid``, zombies included. Scans all processes: keep it rare."""
    if not _PROC:
        return [s for pid in psutil.pids() if (s := _psutil_stat(pid)) and s.pgid == pgid]
    members = []
    for name in os.listdir("/proc"):
        if name.isdigit() and (stat := read_stat(int(name))) is not None and stat.pgid == pgid:
            members.append(stat)
    return members


_table_lock = threading.Lock()
_table: tuple[float, dict[int, list[ProcStat]]] = (float("-inf"), {})


def groups_cached(max_age: float) -> dict[int, list[ProcStat]]:
    """Every process by group (pgid -> members, zombies included), from one scan of the process
    table shared by every caller and at most ``max_age`` seconds old: with many agents
    running, the engine scans the table once per period, not once per agent. Read-only."""
    global _table
    with _table_lock:
        taken, groups = _table
        if time.monotonic() - taken > max_age:
            groups = {}
            for stat in _all_stats():
                groups.setdefault(stat.pgid, []).append(stat)
            _table = (time.monotonic(), groups)
        return groups


def _all_stats() -> list[ProcStat]:
    if not _PROC:
        return [s for pid in psutil.pids() if (s := _psutil_stat(pid))]
    return [
        stat
        for name in os.listdir("/proc")
        if name.isdigit() and (stat := read_stat(int(name))) is not None
    ]


def live_members(pgid: int) -> list[ProcStat]:
    """The group's members that are not zombies, reaping the zombies that are our children.

    The group leader (pid == pgid) is never reaped here: whoever spawned it owns its exit status.
    """
    me = os.getpid()
    live = []
    for stat in group_members(pgid):
        if not stat.zombie:
            live.append(stat)
        elif stat.ppid == me and stat.pid != pgid:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(stat.pid, os.WNOHANG)
    return live


def live_among(pgids: Collection[int], pids: Mapping[int, float]) -> tuple[set[int], set[int]]:
    """Which of the groups ``pgids`` have a live member, and which of the processes ``pids``
    (pid -> :attr:`ProcStat.start`) still run, from one scan of the process table.

    Like :func:`live_members` for many groups at once: the zombies of those groups that are our
    children are reaped on the way (never a group leader), and so are those among ``pids``.
    """
    me = os.getpid()
    live_groups: set[int] = set()
    live_pids: set[int] = set()
    for stat in _all_stats():
        watched = stat.pgid in pgids
        known = pids.get(stat.pid) == stat.start
        if not (watched or known):
            continue
        if not stat.zombie:
            if watched:
                live_groups.add(stat.pgid)
            if known:
                live_pids.add(stat.pid)
        elif stat.ppid == me and (known or stat.pid != stat.pgid):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(stat.pid, os.WNOHANG)
    return live_groups, live_pids


def still_running(pid: int, start: float) -> bool:
    """Whether the process ``pid`` that started at ``start`` runs; reaps it if it is our zombie.

    ``start`` (from :attr:`ProcStat.start`) guards against a reused pid, whose exit status
    belongs to someone else.
    """
    stat = read_stat(pid)
    if stat is None or stat.start != start:
        return False
    if not stat.zombie:
        return True
    if stat.ppid == os.getpid():
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
    return False


class TreeMeter:
    """Resident memory and CPU time of an agent's processes, sample after sample.

    Measured: the leader, its descendants, and members of its group found by a scan (see
    :meth:`add_members`). CPU time is kept per process at its highest reading, so a process
    that has exited still counts (one that lives and dies between two samples is missed).
    """

    def __init__(self, leader: int, pgid: int) -> None:
        self.leader = leader
        self.pgid = pgid
        self.peak_rss_bytes = 0
        self.escaped: dict[int, float] = {}
        """Descendants seen outside the group (pid -> start), to be signalled with it."""
        self._ended: dict[int, float] = {}
        """Escapees seen ended, maybe not reaped (see :meth:`reap_ended_escapees`)."""
        self._strays: set[int] = set()
        self._cpu_live: dict[tuple[int, float], float] = {}
        self._cpu_done = 0.0

    @property
    def cpu_s(self) -> float:
        return self._cpu_done + sum(self._cpu_live.values())

    def add_members(self, members: list[ProcStat]) -> None:
        """Group members from :func:`group_members`: measured from now on, even outside the tree."""
        self._strays.update(m.pid for m in members if not m.zombie)

    def sample(self) -> int:
        """Measure now; returns the resident bytes of all processes found."""
        stats = tree_stats(self.leader)
        tree = {stat.pid for stat in stats}
        for pid in [p for p in self._strays if p not in tree]:
            stat = read_stat(pid)
            if stat is None or stat.pgid != self.pgid:
                self._strays.discard(pid)
            else:
                stats.append(stat)
        rss = 0
        cpu: dict[tuple[int, float], float] = {}
        for stat in stats:
            self._note_escapee(stat)
            rss += stat.rss_bytes
            key = (stat.pid, stat.start)
            cpu[key] = max(stat.cpu_s, self._cpu_live.get(key, 0.0))
        self._cpu_done += sum(v for k, v in self._cpu_live.items() if k not in cpu)
        self._cpu_live = cpu
        self.peak_rss_bytes = max(self.peak_rss_bytes, rss)
        return rss

    def find_escapees(self) -> None:
        """Walk the tree for descendants that moved to another group (leader still alive)."""
        for stat in tree_stats(self.leader):
            self._note_escapee(stat)

    def running_escapees(self) -> list[int]:
        """Escapees still running; reaps those that are our zombies."""
        running = []
        for pid, start in self.escaped.items():
            if still_running(pid, start):
                running.append(pid)
            else:
                self._ended[pid] = start
        self.escaped = {pid: self.escaped[pid] for pid in running}
        return running

    def reap_ended_escapees(self) -> None:
        """Reap the escapees that ended as zombies of their parent in the group: they are our
        children (we are their subreaper) only once that parent has exited, after the scans
        that saw them end."""
        for pid, start in self._ended.items():
            still_running(pid, start)
        self._ended.clear()

    def _note_escapee(self, stat: ProcStat) -> None:
        if stat.pgid != self.pgid and not stat.zombie:
            self.escaped[stat.pid] = stat.start
