"""The worker side of the Dask executor: an attempt is an async task on a Dask worker, started
by a :class:`~engine.execution.local_executor.LocalExecutor` in the worker's event loop (its
own process group, time, memory and CPU limits, line cap, stop with SIGTERM, grace, SIGKILL:
all as on the engine's machine), its lines sent to the engine as events of the engine's topic.

The engine reaches a worker through the scheduler (``Scheduler.broadcast``) with requests for
the handler :data:`~engine.execution.dask_wire.CONTROL_OP` that :func:`admit` installs: acks of
the lines it took (without them the worker stops reading the output: backpressure), stop an
attempt, stop an orphan. Runs on workers; the engine imports it only as the Dask executor does,
to name the task's function.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from typing import Any

from distributed import get_worker
from distributed.worker import Worker

from engine.execution.dask_wire import (
    CLAIMS,
    CONTROL_OP,
    EVENT_CHARS,
    EXITED,
    LINES,
    STARTED,
    WINDOW_CHARS,
    WINDOW_LINES,
    encode_blocks,
    exit_payload,
    spec_from_payload,
)
from engine.execution.executor import ProcessInfo, RunningAttempt
from engine.execution.local_executor import LocalExecutor

WATCH_S = 0.5
"""How often a running attempt checks that a client still wants its task: one whose engine
left (crashed, or lost the scheduler) is stopped, not left running for nobody."""
_WANTED = ("executing", "long-running")

_local: LocalExecutor | None = None
_running: dict[str, Forwarder] = {}
"""The attempts running on this worker, by task key."""


def local_executor() -> LocalExecutor:
    """One per worker process: it makes the worker the subreaper of the agents' orphans."""
    global _local
    if _local is None:
        _local = LocalExecutor()
    return _local


def admit(marker: str, token: str, dask_worker: Worker) -> dict[str, str]:
    """Run once per worker and engine (``Client.run``): install the control handler, say which
    host this is, and whether the engine's marker file reads the same here (a shared
    filesystem at the same path)."""
    dask_worker.handlers[CONTROL_OP] = control
    problem = ""
    try:
        with open(marker, encoding="utf-8") as f:
            if f.read() != token:
                problem = f"{marker} holds another engine's marker"
    except OSError as exc:
        problem = f"cannot read {marker}: {exc.strerror or exc}"
    return {"host": socket.gethostname(), "problem": problem}


async def run_attempt(payload: dict[str, Any]) -> dict[str, Any]:
    """The task: start the attempt, send its lines, return how it ended. A task the scheduler
    runs again after its first worker died returns ``{"lost": ...}`` at once: the attempt may
    have done part of its work; the engine decides whether it runs again, as a new attempt."""
    worker = get_worker()
    worker.handlers[CONTROL_OP] = control
    key = payload["key"]
    claim = [CLAIMS, payload["session"], key]
    earlier = await worker.scheduler.get_metadata(keys=claim, default=None)
    if earlier is not None:
        return {"lost": earlier}
    await worker.scheduler.set_metadata(keys=claim, value=worker.address)
    attempt = await local_executor().start(spec_from_payload(payload["spec"]))
    forwarder = Forwarder(worker, key, payload["topic"], attempt)
    _running[key] = forwarder
    try:
        return await forwarder.run()
    finally:
        _running.pop(key, None)


class Forwarder:
    """Sends one attempt's lines to the engine, at most a window ahead of what it took."""

    def __init__(self, worker: Worker, key: str, topic: str, attempt: RunningAttempt) -> None:
        self.worker = worker
        self.key = key
        self.topic = topic
        self.attempt = attempt
        self.sent_lines = self.sent_chars = 0
        self.taken_lines = self.taken_chars = 0
        self._taken = asyncio.Event()

    async def run(self) -> dict[str, Any]:
        info = self.attempt.info
        if info is not None:
            host = socket.gethostname()
            message = [STARTED, self.key, info.pid, info.pgid, info.create_time, host]
            self.worker.log_event(self.topic, [*message, self.worker.address])
        watch = asyncio.create_task(self._watch())
        try:
            async for batch in self.attempt.lines():
                for text, count, ts, marks in encode_blocks(batch):
                    self.worker.log_event(self.topic, [LINES, self.key, text, count, ts, marks])
                    self.sent_lines += count
                    self.sent_chars += len(text) + 1
                while (
                    self.sent_lines - self.taken_lines > WINDOW_LINES
                    or self.sent_chars - self.taken_chars > WINDOW_CHARS
                ):
                    self._taken.clear()
                    await self._taken.wait()
            exit_ = await self.attempt.wait()
        except asyncio.CancelledError:  # the worker is closing: leave nothing behind
            await _stop_quickly(self.attempt)
            raise
        finally:
            watch.cancel()
        payload = exit_payload(exit_)
        big = exit_.stdout is not None and len(exit_.stdout) > EVENT_CHARS
        if big:
            payload["stdout"] = None
        self.worker.log_event(self.topic, [EXITED, self.key, payload, self.sent_lines, big])
        return {"stdout": exit_.stdout} if big else {}

    def taken(self, lines: int, chars: int) -> None:
        self.taken_lines = max(self.taken_lines, lines)
        self.taken_chars = max(self.taken_chars, chars)
        self._taken.set()

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(WATCH_S)
            task = self.worker.state.tasks.get(self.key)
            if task is None or task.state not in _WANTED:
                self.taken(1 << 62, 1 << 62)  # nobody takes them now: read to the end
                await self.attempt.stop("stopped")
                return


async def _stop_quickly(attempt: RunningAttempt) -> None:
    with contextlib.suppress(Exception):
        await asyncio.wait_for(asyncio.shield(attempt.stop("stopped")), 5.0)


async def control(do: str, key: str = "", **kw: Any) -> Any:
    """The engine's requests: ``ack`` (lines taken), ``stop`` (an attempt, by key: True if it
    ran here), ``orphan`` (a process group left by a worker that died, on this host)."""
    forwarder = _running.get(key)
    if do == "ack":
        if forwarder is not None:
            forwarder.taken(kw["lines"], kw["chars"])
        return None
    if do == "stop":
        if forwarder is None:
            return False
        await forwarder.attempt.stop(kw.get("reason", "stopped"))
        return True
    if do == "orphan":
        info = ProcessInfo(kw["pid"], kw["pgid"], kw["create_time"], kw["host"])
        return await asyncio.to_thread(local_executor().kill_orphan, info)
    raise ValueError(f"unknown request {do!r}")
