"""``cpu_percent`` held by the kernel: each CPU-limited attempt in a cgroup of its own, with a CFS
bandwidth quota, wherever a cgroup CPU controller is writable (the executor falls back to
:class:`~engine.execution.cpu_throttle.CpuThrottle`, SIGSTOP and SIGCONT, elsewhere).

- cgroup v2: the engine's own cgroup (``0::/PATH`` in ``/proc/self/cgroup``) must hand the
  ``cpu`` controller to its children (``cpu`` in its ``cgroup.subtree_control``) and be
  writable; each attempt gets a child with ``cpu.max``. The engine changes no setting of its
  own cgroup (nor moves itself), and the kernel lets a group that holds processes hand a
  controller to its children only if it is the root cgroup: a delegated group that holds the
  engine does not qualify, and there the signals apply. This path is tested against a
  directory tree shaped like a cgroup2 mount only (the machine it was built on has cgroup v1).
- cgroup v1: the engine's cgroup in the hierarchy with the ``cpu`` controller, writable; each
  attempt gets a child with ``cpu.cfs_period_us`` and ``cpu.cfs_quota_us``. Tested for real.

An attempt enters its cgroup before it runs its command: it starts as ``/bin/sh -c 'echo $$ >
PROCS && shift && exec "$@"' sh PROCS COMMAND...``, so every process it forks is born inside. A
move made after the spawn would race with the agent's first forks; the price is one ``exec`` of
``/bin/sh`` (about 1 ms) per CPU-limited attempt. Cgroups are named ``phaseboard-PID-N`` (PID:
the engine's), so the empty ones a crashed engine left are recognised and removed
(:meth:`CpuController.clean_leftovers`).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import os
import shutil
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from engine.execution.cgroup_mounts import (
    MOUNTINFO,
    PROC_CGROUP,
    machine_cpus,
    own_cgroups,
    read_words,
)
from engine.execution.executor import CpuLimit

FORCE_ENV = "PHASEBOARD_CPU_LIMIT"
"""Set to ``signals`` to hold every attempt to its share with SIGSTOP/SIGCONT, never a cgroup."""
PERIOD_US = 100_000
"""The CFS period: the quota is the attempt's share of this, each period."""
PREFIX = "phaseboard-"
REMOVE_TRIES = 25
REMOVE_RETRY_S = 0.02
"""An attempt's cgroup is removed once its processes are gone; while it is still busy, again
every ``REMOVE_RETRY_S``, up to ``REMOVE_TRIES`` times (its remaining processes are killed after
the first few)."""
WRAPPER = 'echo $$ > "$1" && shift && exec "$@"'
"""Run by ``/bin/sh -c``: enter the cgroup whose ``cgroup.procs`` is ``$1``, then become the
command. Should the write fail, the shell says why on stderr and exits 2: an attempt is never
run unlimited while its limit reads as in force."""

_names = itertools.count(1)


@dataclass(frozen=True, slots=True)
class AttemptCgroup:
    """The cgroup of one attempt: its processes are held to the quota written at creation."""

    path: Path
    version: int

    @property
    def label(self) -> CpuLimit:
        return "cgroup v2" if self.version == 2 else "cgroup v1"

    def wrap(self, argv: Sequence[str]) -> tuple[str, ...]:
        """``argv`` started inside this cgroup (see :data:`WRAPPER`)."""
        return ("/bin/sh", "-c", WRAPPER, "sh", str(self.path / "cgroup.procs"), *argv)

    def throttled_s(self) -> float:
        """Time the kernel held the group throttled (``cpu.stat``), summed over the CPUs it
        ran on: for a multi-threaded agent it may exceed the wall time."""
        key, unit = ("throttled_usec", 1e6) if self.version == 2 else ("throttled_time", 1e9)
        with contextlib.suppress(OSError, ValueError):
            for line in (self.path / "cpu.stat").read_text().splitlines():
                name, _, value = line.partition(" ")
                if name == key:
                    return int(value) / unit
        return 0.0

    def members(self) -> list[int]:
        with contextlib.suppress(OSError, ValueError):
            return [int(p) for p in (self.path / "cgroup.procs").read_text().split()]
        return []

    def remove(self) -> bool:
        """Remove the cgroup; False while processes are still in it."""
        try:
            self.path.rmdir()
        except FileNotFoundError:
            return True
        except OSError:
            return False
        return True

    async def release(self) -> float:
        """The time throttled, read before the cgroup is removed (see :data:`REMOVE_TRIES`)."""
        throttled = self.throttled_s()
        for attempt in range(REMOVE_TRIES):
            if self.remove():
                break
            if attempt >= 3:  # a process that left both group and tree unseen
                for pid in self.members():
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGKILL)
            await asyncio.sleep(REMOVE_RETRY_S)
        return throttled


@dataclass(frozen=True, slots=True)
class CpuController:
    """A writable cgroup CPU controller: ``parent`` is the cgroup attempts' cgroups go in."""

    version: int
    parent: Path

    def create(self, cores: float) -> AttemptCgroup:
        """A new cgroup holding its processes to ``cores`` CPUs; raises OSError if it cannot."""
        quota = max(1000, round(cores * PERIOD_US))
        path = self.parent / f"{PREFIX}{os.getpid()}-{next(_names)}"
        path.mkdir()
        cgroup = AttemptCgroup(path, self.version)
        try:
            if self.version == 2:
                (path / "cpu.max").write_text(f"{quota} {PERIOD_US}\n")
            else:
                (path / "cpu.cfs_period_us").write_text(f"{PERIOD_US}\n")
                (path / "cpu.cfs_quota_us").write_text(f"{quota}\n")
        except OSError:
            cgroup.remove()
            raise
        return cgroup

    def clean_leftovers(self) -> list[str]:
        """Remove the empty attempt cgroups of engines no longer running; their names."""
        removed = []
        with contextlib.suppress(OSError):
            for entry in os.scandir(self.parent):
                engine = entry.name.removeprefix(PREFIX).partition("-")[0]
                ours = entry.name.startswith(PREFIX) and engine.isdigit()
                if ours and not _alive(int(engine)) and self._remove(entry.path):
                    removed.append(entry.name)
        return removed

    def _remove(self, path: str) -> bool:
        return AttemptCgroup(Path(path), self.version).remove()


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def find_controller(
    proc_cgroup: Path = PROC_CGROUP, mountinfo: Path = MOUNTINFO
) -> CpuController | None:
    """The controller attempts' cgroups can be made with, v2 first; None if there is none.

    ``proc_cgroup`` and ``mountinfo`` are this process's, or, in tests, files that describe a
    directory tree shaped like a cgroup mount.
    """
    for version, own in own_cgroups(proc_cgroup, mountinfo):
        if version == 2 and "cpu" not in read_words(own / "cgroup.subtree_control"):
            continue
        if os.access(own, os.W_OK | os.X_OK) and os.access(own / "cgroup.procs", os.W_OK):
            return CpuController(version, own)
    return None


@functools.cache
def _this_machine() -> CpuController | None:
    return find_controller()


def controller() -> CpuController | None:
    """This machine's controller, unless :data:`FORCE_ENV` asks for signals."""
    if os.environ.get(FORCE_ENV, "").strip().lower() == "signals":
        return None
    return _this_machine()


@functools.cache
def clean_leftovers_once() -> list[str]:
    """:meth:`CpuController.clean_leftovers` on this machine's controller, once per process."""
    found = _this_machine()
    return found.clean_leftovers() if found is not None else []


def limited(
    argv: tuple[str, ...], percent: float, env: Mapping[str, str], cwd: str
) -> tuple[tuple[str, ...], AttemptCgroup | None]:
    """What to start for an attempt held to ``percent`` of the machine: ``argv`` wrapped to enter
    a new cgroup with that quota; or, with no controller, or a command ``exec`` would not find
    (it then fails to start as any command would), ``argv`` as it is and no cgroup."""
    found = controller()
    if found is None or not resolvable(argv[0], env, cwd):
        return argv, None
    try:
        cgroup = found.create(cores_for(percent))
    except OSError:
        return argv, None
    return cgroup.wrap(argv), cgroup


def cores_for(percent: float) -> float:
    """``percent`` of the machine, in CPUs."""
    return percent / 100.0 * machine_cpus()


def resolvable(command: str, env: Mapping[str, str], cwd: str) -> bool:
    """Whether ``command`` names an executable as ``exec`` would find it (relative to ``cwd``,
    or on the ``PATH`` of ``env``)."""
    if "/" in command:
        path = os.path.join(cwd, command)
        return os.path.isfile(path) and os.access(path, os.X_OK)
    return shutil.which(command, path=env.get("PATH", os.defpath)) is not None
