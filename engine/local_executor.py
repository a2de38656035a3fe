"""Run agent attempts as local processes, each in its own session and process group.

Why a :class:`asyncio.SubprocessProtocol` and not ``create_subprocess_exec``'s
streams: on Python 3.11, ``Process.wait()`` only returns once every pipe is
closed, so a grandchild holding stdout would hide the leader's exit; the protocol
reports the exit on its own (``process_exited``) and hands us raw chunks with no
``StreamReader`` copy and no 64 KiB line limit. Lines are split by
:class:`~engine.line_splitter.LineSplitter` and queued in one list that
:meth:`LocalAttempt.lines` swaps out whole, so a flood gives big batches.

Memory is enforced by sampling, not ``RLIMIT_AS`` (runtimes such as the JVM, Go
and Node reserve far more virtual memory than they use), and never through
``preexec_fn``, which is unsafe once threads exist.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator
from typing import BinaryIO

from engine import process_tree
from engine.executor import AttemptExit, AttemptSpec, ExitReason, LogLine, ProcessInfo, Stream
from engine.line_splitter import LineSplitter

_STREAMS: dict[int, Stream] = {1: "stdout", 2: "stderr"}
_MIB = 1024 * 1024
DRAIN_MAX_S = 2.0
"""Longest wait for the pipes after the leader exited (capped further by ``grace_s``)."""
KILL_WAIT_S = 2.0
"""Longest wait for the group to vanish after SIGKILL."""
CLOSE_WAIT_S = 0.5
"""Longest wait for the pipes once the group is gone, before they are abandoned."""
GROUP_SCAN_S = 2.0
GROUP_SCAN_MAX_S = 32.0
SETTLE_AFTER_S = 5.0
"""After this long an attempt is sampled less often."""
SETTLED_SAMPLE_S = 1.0
SETTLED_LIMIT_SAMPLE_S = 0.5
"""The settled sampling interval when a memory limit must be enforced."""
"""How often the whole process table is scanned for group members that left the tree."""
POLL_S = 0.02
MAX_PENDING_LINES = 50_000
MAX_PENDING_BYTES = 8 * _MIB
"""Past either bound, reading pauses until ``lines()`` takes the batch (backpressure)."""


class LocalExecutor:
    """Starts attempts as local processes; see :class:`engine.executor.Executor`."""

    def __init__(self, *, reap_orphans: bool = True, orphan_grace_s: float = 2.0) -> None:
        """Args:
        reap_orphans: make this process a child subreaper (Linux), so killed grandchildren
            are re-parented to us and reaped at once instead of lingering as zombies under an
            init that reaps late or never (common in containers). Process-wide.
        orphan_grace_s: SIGTERM-to-SIGKILL delay used by :meth:`kill_orphan`.
        """
        self.host = socket.gethostname()
        self._orphan_grace_s = orphan_grace_s
        if reap_orphans:
            process_tree.become_subreaper()

    async def start(self, spec: AttemptSpec) -> LocalAttempt:
        attempt = LocalAttempt(spec, self.host)
        await attempt.spawn()
        return attempt

    def kill_orphan(self, info: ProcessInfo) -> bool:
        """Stop a group left by an earlier engine if it is provably the same one (see
        :func:`engine.process_tree.is_same_group` for how a reused pid is told apart).

        Blocks up to ``orphan_grace_s`` + 2 s: call it through ``asyncio.to_thread`` from the
        event loop.
        """
        if info.host and info.host != self.host:
            return False
        if info.pid <= 1 or info.pgid <= 1:
            return False
        if not process_tree.is_same_group(info.pid, info.pgid, info.create_time):
            return False
        process_tree.terminate_group(info.pgid, self._orphan_grace_s)
        return True


class _Protocol(asyncio.SubprocessProtocol):
    def __init__(self, attempt: LocalAttempt) -> None:
        self._attempt = attempt

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.SubprocessTransport)
        self._attempt.on_connected(transport)

    def pipe_data_received(self, fd: int, data: bytes | str) -> None:
        assert isinstance(data, bytes)
        self._attempt.on_data(fd, data)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        self._attempt.on_pipe_closed(fd)

    def process_exited(self) -> None:
        self._attempt.on_exited()


class LocalAttempt:
    """One attempt as a local process group; implements :class:`engine.executor.RunningAttempt`.

    ``lines()`` must be consumed while the attempt runs: past a few MiB of unread output,
    reading pauses and the agent blocks on its writes, so ``wait()`` alone would not return.
    """

    def __init__(self, spec: AttemptSpec, host: str) -> None:
        self.info: ProcessInfo | None = None
        self._spec = spec
        self._host = host
        self._splitters = {fd: LineSplitter(spec.max_line_chars) for fd in _STREAMS}
        self._pending: list[LogLine] = []
        self._pending_bytes = 0
        self._ready = asyncio.Event()
        self._open_pipes = set(_STREAMS)
        self._paused: set[int] = set()
        self._pipes_closed = asyncio.Event()
        self._leader_exited = asyncio.Event()
        self._transport: asyncio.SubprocessTransport | None = None
        self._returncode: int | None = None
        self._tee: BinaryIO | None = None
        self._started = time.monotonic()
        self._last_output = self._started
        self._reason: ExitReason | None = None
        self._error: str | None = None
        self._meter: process_tree.TreeMeter | None = None
        self._terminating: asyncio.Task[None] | None = None
        self._supervisor: asyncio.Task[None] | None = None
        self._exit: asyncio.Future[AttemptExit] = asyncio.get_running_loop().create_future()

    async def spawn(self) -> None:
        spec = self._spec
        if not spec.argv or (spec.shell and len(spec.argv) != 1):
            self._fail_spawn("a shell command must be one string" if spec.argv else "empty command")
            return
        argv = ("/bin/sh", "-c", spec.argv[0]) if spec.shell else spec.argv
        if spec.stdout_tee is not None:
            try:
                self._tee = open(spec.stdout_tee, "wb")  # noqa: SIM115 - closed in _finish
            except OSError as exc:
                self._fail_spawn(f"cannot write stdout file {spec.stdout_tee}: {exc.strerror}")
                return
        self._started = self._last_output = time.monotonic()
        try:
            transport, _ = await asyncio.get_running_loop().subprocess_exec(
                lambda: _Protocol(self),
                *argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                cwd=spec.cwd,
                env=dict(spec.env),
                start_new_session=True,
            )
        except OSError as exc:
            self._fail_spawn(_spawn_error(exc, spec.argv[0], spec.cwd))
            return
        except (ValueError, TypeError) as exc:
            self._fail_spawn(f"cannot start {spec.argv[0]}: {exc}")
            return
        pid = transport.get_pid()
        started = process_tree.create_time(pid)
        self.info = ProcessInfo(pid, pid, time.time() if started is None else started, self._host)
        self._meter = process_tree.TreeMeter(pid, pid)
        self._supervisor = asyncio.create_task(self._supervise(), name=f"attempt-{pid}")

    async def lines(self) -> AsyncIterator[list[LogLine]]:
        while True:
            if self._pending:
                batch, self._pending = self._pending, []
                self._pending_bytes = 0
                self._resume_reading()
                yield batch
            elif self._pipes_closed.is_set():
                return
            else:
                self._ready.clear()
                await self._ready.wait()

    async def wait(self) -> AttemptExit:
        return await asyncio.shield(self._exit)

    async def stop(self, reason: ExitReason = "stopped") -> None:
        if self._exit.done():
            return
        await asyncio.shield(self._request_stop(reason))

    # Protocol callbacks (event loop thread, never blocking).

    def on_connected(self, transport: asyncio.SubprocessTransport) -> None:
        self._transport = transport

    def on_data(self, fd: int, data: bytes) -> None:
        self._last_output = time.monotonic()
        if fd == 1 and self._tee is not None:
            self._write_tee(data)
        pieces = self._splitters[fd].feed(data)
        if pieces:
            ts = time.time()
            stream = _STREAMS[fd]
            self._pending += [LogLine(stream, text, ts, partial) for text, partial in pieces]
            self._ready.set()
        self._pending_bytes += len(data)
        if (
            self._pending_bytes > MAX_PENDING_BYTES or len(self._pending) > MAX_PENDING_LINES
        ) and fd not in self._paused:
            pipe = self._pipe(fd)
            if pipe is not None:
                pipe.pause_reading()
                self._paused.add(fd)

    def on_pipe_closed(self, fd: int) -> None:
        if fd not in self._open_pipes:
            return
        self._open_pipes.discard(fd)
        self._paused.discard(fd)
        pieces = self._splitters[fd].flush()
        if pieces:
            ts = time.time()
            self._pending += [LogLine(_STREAMS[fd], text, ts, part) for text, part in pieces]
        if not self._open_pipes:
            self._pipes_closed.set()
        self._ready.set()

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
        except asyncio.CancelledError:
            # The event loop is shutting down: no grace, but leave nothing behind.
            self._reason = self._reason or "stopped"
            self._signal(signal.SIGKILL)
            await _wait_event(self._leader_exited, KILL_WAIT_S)
            raise
        finally:
            self._finish()

    async def _monitor(self) -> None:
        """Sample resources and enforce the limits until the leader exits.

        Sampling backs off once an attempt has run a while: two hundred agents sleeping
        must cost the engine next to nothing. The full process-table scan (for members
        that left the tree) starts every ``GROUP_SCAN_S`` and doubles its gap up to
        ``GROUP_SCAN_MAX_S``.
        """
        spec = self._spec
        fast = max(spec.sample_interval_s, 0.01)
        slow = max(fast, SETTLED_SAMPLE_S if spec.memory_mb is None else SETTLED_LIMIT_SAMPLE_S)
        scan_gap = GROUP_SCAN_S
        next_scan = self._started + scan_gap
        next_sample = self._started
        while not self._leader_exited.is_set():
            now = time.monotonic()
            if now >= next_sample:
                scan = now >= next_scan
                if scan:
                    scan_gap = min(scan_gap * 2, GROUP_SCAN_MAX_S)
                    next_scan = now + scan_gap
                await self._sample(scan_group=scan)
                settled = now - self._started >= SETTLE_AFTER_S
                next_sample = now + (slow if settled else fast)
            wake = min(next_sample, self._check_deadlines())
            await _wait_event(self._leader_exited, max(wake - time.monotonic(), 0.001))

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
        if spec.idle_timeout_s is not None and not self._paused:
            if now - self._last_output >= spec.idle_timeout_s:
                self._request_stop("idle_timeout", f"no output for {spec.idle_timeout_s:g} s")
            wake = min(wake, self._last_output + spec.idle_timeout_s)
        return wake

    async def _sample(self, *, scan_group: bool) -> None:
        """Measure the processes; stop the attempt past ``memory_mb``.

        The tree walk is cheap and runs inline; the full process-table scan that finds members
        re-parented away from the tree runs in a thread, every ``GROUP_SCAN_S``.
        """
        assert self._meter is not None
        if scan_group:
            self._meter.add_members(
                await asyncio.to_thread(
                    process_tree.group_members_cached, self._meter.pgid, GROUP_SCAN_S
                )
            )
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
        await _wait_event(self._pipes_closed, min(self._spec.grace_s, DRAIN_MAX_S))
        if self._terminating is None and await self._anything_alive():
            self._terminating = asyncio.create_task(self._terminate())
        if self._terminating is not None:
            await self._terminating
        if not await _wait_event(self._pipes_closed, CLOSE_WAIT_S):
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
        self._signal(signal.SIGTERM)
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
        if not self._leader_exited.is_set() or process_tree.group_exists(pgid):
            process_tree.signal_group(pgid, sig)
        process_tree.signal_pids(self._meter.running_escapees(), sig)

    async def _wait_gone(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while True:
            if self._leader_exited.is_set() and not await self._anything_alive():
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            if self._leader_exited.is_set():
                await asyncio.sleep(min(POLL_S, remaining))
            else:
                await _wait_event(self._leader_exited, remaining)

    async def _anything_alive(self) -> bool:
        """Whether a process of the group, or a known escapee, still runs (zombies reaped)."""
        assert self._meter is not None
        if self._meter.running_escapees():
            return True
        if not process_tree.group_exists(self._meter.pgid):
            return False
        return bool(await asyncio.to_thread(process_tree.live_members, self._meter.pgid))

    def _abandon_pipes(self) -> None:
        """A process outside the group still holds the pipes: stop reading them."""
        if self._transport is not None:
            self._transport.close()
        for fd in list(self._open_pipes):
            self.on_pipe_closed(fd)

    def _finish(self) -> None:
        if not self._leader_exited.is_set() and self.info is not None:
            process_tree.signal_group(self.info.pgid, signal.SIGKILL)
            self._reason = self._reason or "stopped"
        if not self._pipes_closed.is_set():
            self._abandon_pipes()
        if self._transport is not None:
            self._transport.close()
        if self._tee is not None:
            with contextlib.suppress(OSError):
                self._tee.close()
            self._tee = None
        if not self._exit.done():
            self._exit.set_result(
                AttemptExit(
                    reason=self._reason or "exited",
                    exit_code=self._returncode,
                    duration_s=time.monotonic() - self._started,
                    peak_rss_mb=self._meter.peak_rss_bytes / _MIB if self._meter else 0.0,
                    cpu_s=self._meter.cpu_s if self._meter else 0.0,
                    error=self._error,
                )
            )

    def _fail_spawn(self, error: str) -> None:
        if self._tee is not None:
            self._tee.close()
            self._tee = None
        self._reason = "spawn_failed"
        self._open_pipes.clear()
        self._pipes_closed.set()
        self._ready.set()
        self._exit.set_result(AttemptExit("spawn_failed", None, 0.0, 0.0, 0.0, error))

    def _write_tee(self, data: bytes) -> None:
        assert self._tee is not None
        try:
            self._tee.write(data)
        except OSError as exc:
            self._error = self._error or f"cannot write stdout file: {exc.strerror}"
            with contextlib.suppress(OSError):
                self._tee.close()
            self._tee = None

    def _pipe(self, fd: int) -> asyncio.ReadTransport | None:
        if self._transport is None:
            return None
        pipe = self._transport.get_pipe_transport(fd)
        return pipe if isinstance(pipe, asyncio.ReadTransport) else None

    def _resume_reading(self) -> None:
        if not self._paused:
            return
        for fd in self._paused:
            pipe = self._pipe(fd)
            if pipe is not None and not pipe.is_closing():
                pipe.resume_reading()
        self._paused.clear()
        self._last_output = time.monotonic()


def _spawn_error(exc: OSError, command: str, cwd: str) -> str:
    if exc.filename is not None and exc.filename == cwd and exc.filename != command:
        if isinstance(exc, FileNotFoundError):
            return f"working directory does not exist: {cwd}"
        if isinstance(exc, NotADirectoryError):
            return f"working directory is not a directory: {cwd}"
        return f"cannot enter working directory {cwd}: {exc.strerror}"
    if isinstance(exc, FileNotFoundError | NotADirectoryError):
        return f"command not found: {command}"
    if isinstance(exc, PermissionError):
        return f"permission denied: {command}"
    return f"cannot start {command}: {exc.strerror or exc}"


async def _wait_event(event: asyncio.Event, timeout_s: float) -> bool:
    """Wait for ``event`` at most ``timeout_s``; whether it is set."""
    if event.is_set():
        return True
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout_s):
            await event.wait()
    return event.is_set()
