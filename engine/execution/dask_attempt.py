"""One attempt as a task on a Dask worker, seen from the engine; implements
:class:`engine.execution.executor.RunningAttempt`.

Its lines arrive as events of the engine's topic, in the order the worker sent them, and are
handed on a batch at a time; as they are taken, acks go back to the worker, which never sends
more than a window ahead (:data:`~engine.execution.dask_wire.WINDOW_LINES`): an engine that lags
pauses the agent's pipes on the worker, as it would locally. Its exit is the task's result, or
what became of the task: its worker went away (``lost``), the scheduler did (``unreachable``).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from typing import Any

from distributed.client import FutureCancelledError
from distributed.scheduler import KilledWorker

from engine.execution.dask_wire import (
    WINDOW_CHARS,
    WINDOW_LINES,
    decode_block,
    exit_from_payload,
)
from engine.execution.executor import AttemptExit, AttemptSpec, ExitReason, LogBlock, ProcessInfo

Send = Callable[[str, dict[str, Any]], Awaitable[Any]]
"""Sends a request to the control handler of a worker (by address); its answer."""


class DaskAttempt:
    def __init__(self, key: str, spec: AttemptSpec, scheduler: str, send: Send) -> None:
        self.key = key
        self.info: ProcessInfo | None = None
        self.worker = ""
        """The address of the worker it runs on, once started."""
        self.future: Any = None
        self.started = asyncio.Event()
        """Set once the process runs on a worker, or the attempt ended without it."""
        self._spec = spec
        self._scheduler = scheduler
        self._send = send
        self._batches: deque[LogBlock] = deque()
        self._ready = asyncio.Event()
        self._closed = False
        self._received = 0
        self._exited: AttemptExit | None = None
        """The exit, until the task's result brings the stdout (``output: json``)."""
        self._taken = [0, 0]
        self._acked = [0, 0]
        self._acking: asyncio.Task[None] | None = None
        self._began = time.monotonic()
        self._exit: asyncio.Future[AttemptExit] = asyncio.get_running_loop().create_future()
        self._follower: asyncio.Task[None] | None = None
        self.on_finish: Callable[[], object] | None = None
        """Called once, when the attempt has ended."""

    # -- RunningAttempt ----------------------------------------------------------------------

    async def lines(self) -> AsyncIterator[list[LogBlock]]:
        while True:
            if self._batches:
                batch = list(self._batches)
                self._batches.clear()
                yield batch
                self._take(sum(b.count for b in batch), sum(len(b.text) + 1 for b in batch))
            elif self._closed:
                return
            else:
                self._ready.clear()
                await self._ready.wait()

    async def wait(self) -> AttemptExit:
        return await asyncio.shield(self._exit)

    async def stop(self, reason: ExitReason = "stopped") -> None:
        """Stop the process group on its worker (SIGTERM, grace, SIGKILL, as locally); an
        attempt still waiting for a worker is taken off the queue."""
        if self._exit.done():
            return
        if not self.worker:
            self.cancel_task()
            self.finish(AttemptExit(reason, None, 0.0, 0.0, 0.0, "stopped before it started"))
            return
        with contextlib.suppress(Exception):  # a worker that is gone: its loss ends the attempt
            await self._send(self.worker, {"do": "stop", "key": self.key, "reason": reason})

    # -- what the executor tells it (on the event loop, never blocking) ----------------------

    @property
    def ended(self) -> bool:
        return self._exit.done()

    def follow(self, future: Any) -> None:
        self.future = future
        self._follower = asyncio.create_task(self._follow(), name=f"dask-{self.key}")

    def on_started(self, pid: int, pgid: int, create_time: float, host: str, worker: str) -> None:
        if self._exit.done():
            return
        self.info = ProcessInfo(pid, pgid, create_time, host, self.key)
        self.worker = worker
        self._began = time.monotonic()
        self.started.set()

    def on_lines(self, text: str, count: int, ts: float, marks: bytes | None) -> None:
        if self._closed:
            return
        self._batches.append(decode_block(text, count, ts, marks))
        self._received += count
        self._ready.set()

    def lose(self, why: str) -> None:
        """Its worker went away while it ran: nothing more will come of it."""
        self.cancel_task()
        self.finish(self._ended("lost", why))

    def unreachable(self) -> None:
        self.finish(
            self._ended("unreachable", f"the Dask scheduler at {self._scheduler} went away")
        )

    def finish(self, exit_: AttemptExit) -> None:
        if not self._exit.done():
            self._exit.set_result(exit_)
            if self.on_finish is not None:
                self.on_finish()
        self._closed = True
        self._ready.set()
        self.started.set()

    def cancel_task(self) -> None:
        future, self.future = self.future, None
        if future is not None:
            future.release()

    # -- inside ------------------------------------------------------------------------------

    def _ended(self, reason: ExitReason, error: str) -> AttemptExit:
        took = time.monotonic() - self._began if self.worker else 0.0
        return AttemptExit(reason, None, took, 0.0, 0.0, error)

    def on_exited(self, payload: dict[str, Any], lines: int, stdout_in_result: bool) -> None:
        """The attempt ended; every line it sent came before this."""
        exit_ = exit_from_payload(payload)
        if self._received < lines:  # cannot happen on one stream; said rather than hidden
            error = f"{lines - self._received} lines lost on the way from the worker"
            exit_ = replace(exit_, error=exit_.error or error)
        if stdout_in_result:
            self._exited = exit_
        else:
            self.cancel_task()
            self.finish(exit_)

    async def _follow(self) -> None:
        """What became of the task, when its exit did not come as an event: its worker went
        away, it failed on the worker, the scheduler went away; or its stdout is its result."""
        future = self.future
        while future.status == "pending":  # as distributed's own done_callback waits: the
            await future._state.wait()  # result is not fetched (the exit came as an event)
        if self._exit.done():
            return
        try:
            result = await future
        except FutureCancelledError as exc:
            if exc.reason == "scheduler-connection-lost":
                self.unreachable()
            else:
                self.finish(self._ended("stopped", "its Dask task was cancelled"))
            return
        except KilledWorker as exc:
            self.lose(f"the Dask workers running it died ({exc.args[1]})")
            return
        except Exception as exc:
            error = f"the Dask worker could not run it: {type(exc).__name__}: {exc}"
            self.finish(self._ended("spawn_failed", error[:1000]))
            return
        finally:
            if self.future is future:
                self.cancel_task()
        if "lost" in result:
            self.lose(f"its Dask worker {result['lost']} went away while it ran")
        elif self._exited is not None:
            self.finish(replace(self._exited, stdout=result["stdout"]))
        else:
            self.finish(self._ended("lost", "its Dask worker ended it without a word"))

    def _take(self, lines: int, chars: int) -> None:
        self._taken[0] += lines
        self._taken[1] += chars
        behind = (self._taken[0] - self._acked[0], self._taken[1] - self._acked[1])
        if behind[0] < WINDOW_LINES // 2 and behind[1] < WINDOW_CHARS // 2:
            return
        if self._acking is None or self._acking.done():
            self._acking = asyncio.create_task(self._ack())

    async def _ack(self) -> None:
        """Tell the worker what was taken; one request at a time, each with the latest count."""
        while self._acked != self._taken and not self._exit.done() and self.worker:
            taken = list(self._taken)
            request = {"do": "ack", "key": self.key, "lines": taken[0], "chars": taken[1]}
            try:
                await self._send(self.worker, request)
            except Exception:
                return  # the worker is gone; its loss ends the attempt
            self._acked = taken
