"""Run agent attempts as local processes, each in its own session and process group.

Why a :class:`asyncio.SubprocessProtocol` and not ``create_subprocess_exec``'s
streams: on Python 3.11, ``Process.wait()`` only returns once every pipe is
closed, so a grandchild holding stdout would hide the leader's exit; the protocol
reports the exit on its own (``process_exited``) and hands us raw chunks with no
``StreamReader`` copy and no 64 KiB line limit; :class:`~engine.execution.attempt_output.AttemptOutput`
queues them and splits them into lines in batches.

Memory is enforced by sampling, not ``RLIMIT_AS`` (runtimes such as the JVM, Go
and Node reserve far more virtual memory than they use), and never through
``preexec_fn``, which is unsafe once threads exist. ``cpu_percent`` is a cgroup's CPU quota
where a controller is writable (:mod:`engine.execution.cpu_cgroup`), else a
:class:`~engine.execution.cpu_throttle.CpuThrottle` that pauses and resumes the group.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence

from engine.execution import cpu_cgroup, process_groups
from engine.execution.attempt_sampler import AttemptSampler
from engine.execution.child_watcher import use_pidfd_child_watcher
from engine.execution.executor import (
    AttemptSpec,
    Needs,
    ProcessInfo,
)
from engine.execution.group_watcher import GroupWatcher
from engine.execution.local_attempt import STOP_SCAN_S, LocalAttempt


class LocalExecutor:
    """Starts attempts as local processes; see :class:`engine.execution.executor.Executor`."""

    def __init__(self, *, reap_orphans: bool = True, orphan_grace_s: float = 2.0) -> None:
        """Args:
        reap_orphans: make this process a child subreaper (Linux), so killed grandchildren
            are re-parented to us and reaped at once instead of lingering as zombies under an
            init that reaps late or never (common in containers). Process-wide.
        orphan_grace_s: SIGTERM-to-SIGKILL delay used by :meth:`kill_orphan`.
        """
        self.host = socket.gethostname()
        self._orphan_grace_s = orphan_grace_s
        self._sampler = AttemptSampler()
        self._watcher = GroupWatcher(STOP_SCAN_S)
        if reap_orphans:
            process_groups.become_subreaper()
        use_pidfd_child_watcher()
        cpu_cgroup.clean_leftovers_once()

    async def start(self, spec: AttemptSpec) -> LocalAttempt:
        attempt = LocalAttempt(spec, self.host, self._sampler, self._watcher)
        await attempt.spawn()
        return attempt

    def kill_orphan(self, info: ProcessInfo) -> bool:
        """Stop a group left by an earlier engine if it is provably the same one (see
        :func:`engine.execution.process_groups.is_same_group` for how a reused pid is told apart).

        Blocks up to ``orphan_grace_s`` + 2 s: call it through ``asyncio.to_thread`` from the
        event loop.
        """
        if info.host and info.host != self.host:
            return False
        if info.pid <= 1 or info.pgid <= 1:
            return False
        if not process_groups.is_same_group(info.pid, info.pgid, info.create_time):
            return False
        process_groups.terminate_group(info.pgid, self._orphan_grace_s)
        found = cpu_cgroup.controller()
        if found is not None:
            found.clean_leftovers()  # the dead engine's cgroup for this attempt, now empty
        return True

    async def prepare(self, needs: Sequence[Needs]) -> str | None:
        """Nothing to check: limits are held on this machine as each attempt runs."""
        return None

    async def close(self) -> None:
        return None
