"""One attempt as a local process: spawned in its own session and process group, its output
read through a :class:`asyncio.SubprocessProtocol`, its time, memory and CPU limits enforced, and
its whole group stopped (SIGTERM, grace, SIGKILL) when it must end. See
:mod:`engine.execution.local_executor` for why it is built this way.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import time
from collections.abc import AsyncIterator

from engine.execution import cpu_cgroup, process_groups, process_tree
from engine.execution.attempt_output import STREAMS, AttemptOutput, widen_pipe
from engine.execution.attempt_protocol import AttemptProtocol, spawn_error
from engine.execution.attempt_sampler import SETTLED_SAMPLE_S, AttemptSampler
from engine.execution.child_watcher import exit_usage
from engine.execution.cpu_throttle import CpuThrottle
from engine.execution.executor import (
    AttemptExit,
    AttemptSpec,
    CpuLimit,
    ExitReason,
    LogBlock,
    ProcessInfo,
)
from engine.execution.group_watcher import GroupWatcher
from engine.execution.stdout_tee import StdoutTee

_MIB = 1024 * 1024
DRAIN_MAX_S = 2.0
"""Longest wait for the pipes after the leader exited (capped further by ``grace_s``)."""
KILL_WAIT_S = 2.0
"""Longest wait for the group to vanish after SIGKILL."""
CLOSE_WAIT_S = 0.5
"""Longest wait for the pipes once the group is gone, before they are abandoned."""
STOP_SCAN_S = 0.05
"""How often the process table is scanned while attempts wait for their groups to vanish."""
THROTTLE_CHECK_S = 0.1
"""How soon the idle timeout is checked again while the group is paused for ``cpu_percent``
(silence then does not count)."""


class LocalAttempt:
    """One attempt as a local process group; implements :class:`engine.execution.executor.RunningAttempt`.

    ``lines()`` must be consumed while the attempt runs: past a few MiB of unread output,
    reading pauses and the agent blocks on its writes, so ``wait()`` alone would not return.
    """

    def __init__(
        self,
        spec: AttemptSpec,
        host: str,
        sampler: AttemptSampler,
        watcher: GroupWatcher,
    ) -> None:
        self.info: ProcessInfo | None = None
        self._spec = spec
        self._host = host
        self._sampler = sampler
        self._watcher = watcher
        self._output = AttemptOutput(spec.max_line_chars, self._pipe)
        self._leader_exited = asyncio.Event()
        self._transport: asyncio.SubprocessTransport | None = None
        self._returncode: int | None = None
        self._tee: StdoutTee | None = None
        self._started = time.monotonic()
        self._reason: ExitReason | None = None
        self._error: str | None = None
        self._meter: process_tree.TreeMeter | None = None
        self._terminating: asyncio.Task[None] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._throttle: CpuThrottle | None = None
        self._throttling: asyncio.Task[None] | None = None
        self._cgroup: cpu_cgroup.AttemptCgroup | None = None
        self._cpu_limit: CpuLimit | None = None
        self._throttled_s = 0.0
        self._exit: asyncio.Future[AttemptExit] = asyncio.get_running_loop().create_future()

    async def spawn(self) -> None:
        spec = self._spec
        if not spec.argv or (spec.shell and len(spec.argv) != 1):
            self._fail_spawn("a shell command must be one string" if spec.argv else "empty command")
            return
        argv = ("/bin/sh", "-c", spec.argv[0]) if spec.shell else spec.argv
        if spec.cpu_percent is not None and spec.cpu_percent < 100:  # 100: all of the machine
            argv, self._cgroup = cpu_cgroup.limited(argv, spec.cpu_percent, spec.env, spec.cwd)
            self._cpu_limit = self._cgroup.label if self._cgroup else "signals"
        if spec.stdout_tee is not None:
            self._tee = StdoutTee(spec.stdout_tee)
        self._started = self._output.last_output = time.monotonic()
        try:
            transport, _ = await asyncio.get_running_loop().subprocess_exec(
                lambda: AttemptProtocol(self),
                *argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=spec.cwd,
                env=dict(spec.env),
                start_new_session=True,
            )
        except OSError as exc:
            self._fail_spawn(spawn_error(exc, spec.argv[0], spec.cwd))
            return
        except (ValueError, TypeError) as exc:
            self._fail_spawn(f"cannot start {spec.argv[0]}: {exc}")
            return
        pid = transport.get_pid()
        started = process_groups.create_time(pid)
        self.info = ProcessInfo(pid, pid, time.time() if started is None else started, self._host)
        self._meter = process_tree.TreeMeter(pid, pid)
        self._supervisor = asyncio.create_task(self._supervise(), name=f"attempt-{pid}")

    def lines(self) -> AsyncIterator[list[LogBlock]]:
        return self._output.lines()

    async def wait(self) -> AttemptExit:
        return await asyncio.shield(self._exit)

    async def stop(self, reason: ExitReason = "stopped") -> None:
        if self._exit.done():
            return
        await asyncio.shield(self._request_stop(reason))

    # Protocol callbacks (event loop thread, never blocking).

    def on_connected(self, transport: asyncio.SubprocessTransport) -> None:
        self._transport = transport
        for fd in STREAMS:
            widen_pipe(transport.get_pipe_transport(fd))

    def on_data(self, fd: int, data: bytes) -> None:
        if fd == 1 and self._tee is not None:
            self._tee.write(data)
        self._output.on_data(fd, data)

    def on_pipe_closed(self, fd: int) -> None:
        self._output.on_closed(fd)

    def on_exited(self) -> None:
        assert self._transport is not None
        self._returncode = self._transport.get_returncode()
        if self._reason is None:
            self._reason = "exited"
        self._leader_exited.set()

    # Supervision.

    async def _supervise(self) -> None:
        try:
            await self._monitor()
            await self._drain_and_clean()
            if self._cgroup is not None:
                cgroup, self._cgroup = self._cgroup, None
                self._throttled_s = await cgroup.release()
        except asyncio.CancelledError:
            # The event loop is shutting down: no grace, but leave nothing behind.
            self._reason = self._reason or "stopped"
            self._signal(signal.SIGKILL)
            await _wait_event(self._leader_exited, KILL_WAIT_S)
            raise
        finally:
            self._finish()

    async def _monitor(self) -> None:
        """Enforce the time limits until the leader exits; meanwhile the executor's sampler
        measures the tree and enforces the memory limit (see :class:`~engine.execution.attempt_sampler.AttemptSampler`),
        and, without a cgroup, a :class:`~engine.execution.cpu_throttle.CpuThrottle` holds it to
        ``cpu_percent``."""
        self._sampler.add(self)
        if self._cpu_limit == "signals" and self._spec.cpu_percent is not None:
            self._throttle = CpuThrottle(
                self._spec.cpu_percent,
                self._cpu_so_far,
                lambda: self._signal(signal.SIGSTOP),
                lambda: self._signal(signal.SIGCONT),
                on_resumed=self._on_resumed,
            )
            self._throttling = asyncio.create_task(self._throttle.run(), name="cpu-throttle")
        try:
            while not self._leader_exited.is_set():
                wake = self._check_deadlines()
                idle = self._spec.idle_timeout_s
                if idle is not None and self._reason is None:
                    if self._throttled():
                        wake = min(wake, time.monotonic() + min(idle, THROTTLE_CHECK_S))
                    elif self._output.paused:
                        wake = min(wake, time.monotonic() + min(idle, SETTLED_SAMPLE_S))
                await _wait_event(self._leader_exited, max(wake - time.monotonic(), 0.001))
        finally:
            self._sampler.remove(self)
            await self._stop_throttling()

    def _throttled(self) -> bool:
        return self._throttle is not None and self._throttle.paused

    def _cpu_so_far(self) -> float:
        """CPU seconds of the tree so far (a sample, which also enforces ``memory_mb``)."""
        assert self._meter is not None
        self.sample()
        return self._meter.cpu_s

    def _on_resumed(self, paused_at: float, resumed_at: float) -> None:
        """A paused group prints nothing: the idle clock stops with it."""
        if self._output.last_output < paused_at:
            self._output.last_output += resumed_at - paused_at

    async def _stop_throttling(self) -> None:
        """Stop pausing the group, and leave it resumed (a paused group cannot act on SIGTERM)."""
        task, self._throttling = self._throttling, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _check_deadlines(self) -> float:
        """Stop the attempt past its timeouts; the next time a deadline falls due."""
        spec = self._spec
        wake = float("inf")
        if self._reason is not None:
            return wake
        now = time.monotonic()
        if spec.timeout_s is not None:
            if now - self._started >= spec.timeout_s:
                self._request_stop("timeout", f"timed out after {spec.timeout_s:g} s")
            wake = self._started + spec.timeout_s
        if spec.idle_timeout_s is not None and not self._output.paused and not self._throttled():
            if now - self._output.last_output >= spec.idle_timeout_s:
                self._request_stop("idle_timeout", f"no output for {spec.idle_timeout_s:g} s")
            wake = min(wake, self._output.last_output + spec.idle_timeout_s)
        return wake

    @property
    def spec(self) -> AttemptSpec:
        return self._spec

    @property
    def started(self) -> float:
        """When the process was started (``time.monotonic``)."""
        return self._started

    @property
    def pgid(self) -> int:
        assert self._meter is not None
        return self._meter.pgid

    def sample(self, members: list[process_tree.ProcStat] | None = None) -> None:
        """Measure the tree, and ``members`` of the group found by a scan of the process table
        from now on; stop the attempt past ``memory_mb``."""
        assert self._meter is not None
        if members is not None:
            self._meter.add_members(members)
        rss = self._meter.sample()
        limit = self._spec.memory_mb
        if limit is not None and rss > limit * _MIB and self._reason is None:
            self._request_stop(
                "memory",
                f"memory limit exceeded: {rss / _MIB:.0f} MiB resident, limit {limit} MiB",
            )

    async def _drain_and_clean(self) -> None:
        """After the leader's exit: let the pipes drain, kill what is left, close the pipes."""
        assert self.info is not None
        await _wait_event(self._output.closed, min(self._spec.grace_s, DRAIN_MAX_S))
        if self._terminating is None and await self._anything_alive():
            self._terminating = asyncio.create_task(self._terminate())
        if self._terminating is not None:
            await self._terminating
        if not await _wait_event(self._output.closed, CLOSE_WAIT_S):
            self._abandon_pipes()

    def _request_stop(self, reason: ExitReason, error: str | None = None) -> asyncio.Task[None]:
        if self._reason is None:
            self._reason = reason
            self._error = error
        if self._terminating is None:
            self._terminating = asyncio.create_task(self._terminate())
        return self._terminating

    async def _terminate(self) -> None:
        """SIGTERM the group (and descendants that left it), ``grace_s``, then SIGKILL."""
        await self._stop_throttling()
        self._signal(signal.SIGTERM)
        self._signal(signal.SIGCONT)  # a group paused by anyone else acts on SIGTERM too
        if await self._wait_gone(self._spec.grace_s):
            return
        self._signal(signal.SIGKILL)
        await self._wait_gone(KILL_WAIT_S)

    def _signal(self, sig: int) -> None:
        """Signal the group and the descendants known to have left it."""
        assert self._meter is not None
        pgid = self._meter.pgid
        if not self._leader_exited.is_set():
            self._meter.find_escapees()
        # Once the leader is reaped and the group empty, the pgid may be reused: do not signal it.
        if not self._leader_exited.is_set() or process_groups.group_exists(pgid):
            process_groups.signal_group(pgid, sig)
        process_groups.signal_pids(self._meter.running_escapees(), sig)

    async def _wait_gone(self, timeout_s: float) -> bool:
        """Wait for the leader's exit, then for the rest of the group and the escapees."""
        deadline = time.monotonic() + timeout_s
        if not await _wait_event(self._leader_exited, timeout_s):
            return False
        return not await self._anything_alive(deadline - time.monotonic())

    async def _anything_alive(self, wait_s: float = 0.0) -> bool:
        """Whether a process of the group, or a known escapee, still runs after up to ``wait_s``
        (zombies reaped); answered by the executor's :class:`~engine.execution.group_watcher.GroupWatcher`."""
        assert self._meter is not None
        escaped = self._meter.escaped
        return not await self._watcher.wait_gone(self._meter.pgid, escaped, wait_s)

    def _abandon_pipes(self) -> None:
        """A process outside the group still holds the pipes: stop reading them."""
        if self._transport is not None:
            self._transport.close()
        self._output.abandon()

    def _finish(self) -> None:
        if not self._leader_exited.is_set() and self.info is not None:
            process_groups.signal_group(self.info.pgid, signal.SIGKILL)
            self._reason = self._reason or "stopped"
        if self._cgroup is not None:  # cut short: one try, or left for the next engine start
            self._throttled_s = self._cgroup.throttled_s()
            self._cgroup.remove()
            self._cgroup = None
        if not self._output.closed.is_set():
            self._abandon_pipes()
        if self._transport is not None:
            self._transport.close()
        stdout: bytes | None = None
        if self._tee is not None:
            self._tee.close()
            stdout = self._tee.held()
            self._error = self._error or self._tee.error
            self._tee = None
        peak_rss, cpu_s = (
            (self._meter.peak_rss_bytes, self._meter.cpu_s) if self._meter else (0, 0.0)
        )
        if self._meter is not None:
            self._meter.reap_ended_escapees()
        reaped = exit_usage(self.info.pid) if self.info is not None else None
        if reaped is not None:  # exact for an agent too short for any sample
            peak_rss, cpu_s = max(peak_rss, reaped[0]), max(cpu_s, reaped[1])
        if not self._exit.done():
            self._exit.set_result(
                AttemptExit(
                    reason=self._reason or "exited",
                    exit_code=self._returncode,
                    duration_s=time.monotonic() - self._started,
                    peak_rss_mb=peak_rss / _MIB,
                    cpu_s=cpu_s,
                    error=self._error,
                    stdout=stdout,
                    throttled_s=self._throttle.paused_s if self._throttle else self._throttled_s,
                    cpu_limit=self._cpu_limit,
                )
            )

    def _fail_spawn(self, error: str) -> None:
        if self._cgroup is not None:
            self._cgroup.remove()
            self._cgroup = None
        self._reason = "spawn_failed"
        self._output.never_started()
        self._exit.set_result(AttemptExit("spawn_failed", None, 0.0, 0.0, 0.0, error))

    def _pipe(self, fd: int) -> asyncio.ReadTransport | None:
        if self._transport is None:
            return None
        pipe = self._transport.get_pipe_transport(fd)
        return pipe if isinstance(pipe, asyncio.ReadTransport) else None


async def _wait_event(event: asyncio.Event, timeout_s: float) -> bool:
    """Wait for ``event`` at most ``timeout_s`` (which may be infinite); whether it is set."""
    if event.is_set():
        return True
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(None if timeout_s == float("inf") else timeout_s):
            await event.wait()
    return event.is_set()
