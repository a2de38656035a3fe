"""Where this process's cgroups are (``/proc/self/cgroup`` read against
``/proc/self/mountinfo``), and how many CPUs their quotas leave it (:func:`machine_cpus`).

Every reader takes the two files as parameters, so tests can point them at a directory tree
shaped like a cgroup mount.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
from pathlib import Path

PROC_CGROUP = Path("/proc/self/cgroup")
MOUNTINFO = Path("/proc/self/mountinfo")


def own_cgroups(
    proc_cgroup: Path = PROC_CGROUP, mountinfo: Path = MOUNTINFO
) -> list[tuple[int, Path]]:
    """``(version, directory)`` of this process's cgroups: its cgroup v2 first, if a cgroup2
    file system is mounted, then its cgroup in the v1 hierarchy with the ``cpu`` controller."""
    try:
        lines = proc_cgroup.read_text().splitlines()
        mounts = _cgroup_mounts(mountinfo.read_text())
    except OSError:
        return []
    found: list[tuple[int, Path]] = []
    for version in (2, 1):
        for line in lines:
            hierarchy, _, rest = line.partition(":")
            controllers, _, path = rest.partition(":")
            is_v2 = hierarchy == "0" and not controllers
            if (version == 2) != is_v2 or (version == 1 and "cpu" not in controllers.split(",")):
                continue
            for mount_version, root, point in mounts:
                inside = _relative(path, root)
                if mount_version == version and inside is not None:
                    found.append((version, point / inside))
                    break
    return found


def read_words(path: Path) -> list[str]:
    """The words of a small file such as ``cgroup.subtree_control``; none if it cannot be read."""
    with contextlib.suppress(OSError):
        return path.read_text().split()
    return []


@functools.cache
def machine_cpus() -> float:
    """The CPUs this engine may use: its CPU affinity, capped by the quota of its own cgroup and
    of the cgroups above it (a CPU-limited container). ``cpu_percent: 100`` is all of them."""
    cpus = float(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 0)
    cpus = cpus or float(os.cpu_count() or 1)
    quotas = [cpus]
    for version, own in own_cgroups():
        quotas.extend(quota_cores(version, own))
    return max(min(quotas), 0.01)


def quota_cores(version: int, own: Path) -> list[float]:
    """The CPU quotas, in CPUs, of cgroup ``own`` and of those above it on the same mount."""
    found = []
    for directory in (own, *own.parents):
        if version == 2:
            quota, period = [*read_words(directory / "cpu.max"), "max", "0"][:2]
        else:
            quota = "".join(read_words(directory / "cpu.cfs_quota_us")) or "-1"
            period = "".join(read_words(directory / "cpu.cfs_period_us")) or "0"
        if quota.isdigit() and period.isdigit() and int(period) > 0:
            found.append(int(quota) / int(period))
        if os.path.ismount(directory):
            break
    return found


def _cgroup_mounts(text: str) -> list[tuple[int, str, Path]]:
    """``(version, root in the hierarchy, mount point)`` of the cgroup2 mounts and of the v1
    mounts with the ``cpu`` controller, from the text of a ``mountinfo``."""
    mounts = []
    for line in text.splitlines():
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        if tail[0] == "cgroup2":
            mounts.append((2, _unescape(fields[3]), Path(_unescape(fields[4]))))
        elif tail[0] == "cgroup" and "cpu" in tail[2].split(","):
            mounts.append((1, _unescape(fields[3]), Path(_unescape(fields[4]))))
    return mounts


def _relative(path: str, root: str) -> str | None:
    """``path`` (from ``/proc/self/cgroup``) relative to a mount's ``root``; None if outside."""
    root = root.rstrip("/")
    if path != root and not path.startswith(root + "/"):
        return None
    return path[len(root) :].lstrip("/")


def _unescape(field: str) -> str:
    """A ``mountinfo`` field with its octal escapes (``\\040`` for a space) decoded."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)
