"""Run agent attempts as tasks on a Dask cluster (docs/distributed.md); implements
:class:`engine.execution.executor.Executor`.

Each attempt is an async task (:func:`engine.execution.dask_worker.run_attempt`) that a worker
runs with a local executor of its own; its key is the attempt's
(:func:`~engine.execution.executor.attempt_key`), so an engine that resumes a crashed run finds
it. ``memory_mb`` and ``cpu_percent`` become resource requests, for the resources the workers
declare (``dask worker --resources "memory_mb=16000 cpu_percent=100"``): the scheduler places an
attempt where there is room and queues the rest. Agents see the workspace at the same path on
every worker; :meth:`DaskExecutor.prepare` checks it with a marker file in the run folder.

Imported only when a run chooses Dask (:mod:`engine.run.executors`): ``distributed`` is the
optional extra ``phaseboard[dask]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from distributed import Client

from engine.execution import dask_worker
from engine.execution.dask_attempt import DaskAttempt
from engine.execution.dask_placement import fits, resource_request, too_big
from engine.execution.dask_wire import CLAIMS, CONTROL_OP, EXITED, LINES, STARTED, spec_payload
from engine.execution.executor import AttemptExit, AttemptSpec, Needs, ProcessInfo, spec_key
from engine.support.atomic import write_text_atomic

MARKER = ".dask-shared-check"
"""In the run folder: written by the engine, read back by each worker (a shared filesystem)."""
ORPHAN_WAIT_S = 30.0


class Unreachable(Exception):
    pass


class DaskExecutor:
    def __init__(self, scheduler: str, *, workspace: str, run_dir: str) -> None:
        self.address = scheduler
        self._workspace = workspace
        self._marker = Path(run_dir) / MARKER
        self._token = secrets.token_hex(16)
        self._client: Any = None
        self._attempts: dict[str, DaskAttempt] = {}
        self._workers: dict[str, dict[str, Any]] = {}
        """Workers as the scheduler last described them (``identity``), by address."""
        self._admitted: dict[str, str] = {}
        """Workers that run the control handler for this engine: address -> problem or ''."""
        self._connecting = asyncio.Lock()
        self._background: set[asyncio.Task[None]] = set()
        self._to_submit: list[tuple[dict[str, Any], dict[str, float], DaskAttempt]] = []
        try:
            self._loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._loop = None

    # -- Executor ----------------------------------------------------------------------------

    async def prepare(self, needs: Sequence[Needs]) -> str | None:
        try:
            await self._refresh()
        except Unreachable as exc:
            return str(exc)
        if not self._workers:
            return (
                f"no Dask worker is connected to the scheduler at {self.address}: start one"
                f" (`dask worker {self.address}`), then resume"
            )
        for address, problem in self._admitted.items():
            if problem and address in self._workers:
                return (
                    f"the Dask worker {address} does not see this run's folder as the engine"
                    f" does ({problem}): agents must see the workspace {self._workspace} at the"
                    " same path on every worker, a shared filesystem (docs/distributed.md)"
                )
        for need in needs:
            request = resource_request(self._workers, need.memory_mb, need.cpu_percent)
            if request and not fits(self._workers, request):
                return too_big(self.address, self._workers, need.agent, request)
        return None

    async def start(self, spec: AttemptSpec) -> DaskAttempt:
        key = spec_key(spec) or f"phaseboard-{secrets.token_hex(8)}"
        attempt = DaskAttempt(key, spec, self.address, self._send)
        attempt.on_finish = lambda: self._attempts.pop(key, None)
        try:
            client = await self._connect()
        except Unreachable as exc:
            attempt.finish(AttemptExit("unreachable", None, 0.0, 0.0, 0.0, str(exc)))
            return attempt
        request = resource_request(self._workers, spec.memory_mb, spec.cpu_percent)
        if request and not fits(self._workers, request):
            error = too_big(self.address, self._workers, "", request)
            attempt.finish(AttemptExit("spawn_failed", None, 0.0, 0.0, 0.0, error))
            return attempt
        payload = {"key": key, "session": client.id, "topic": client.id, "spec": spec_payload(spec)}
        self._attempts[key] = attempt
        self._to_submit.append((payload, request, attempt))
        if len(self._to_submit) == 1:
            asyncio.get_running_loop().call_soon(self._submit, client)
        try:
            await attempt.started.wait()
        except asyncio.CancelledError:  # the runner gave up waiting for a worker
            await attempt.stop()
            raise
        return attempt

    def _submit(self, client: Any) -> None:
        """Submit the attempts started in this turn of the event loop together: one graph for
        the scheduler per resource request, instead of one per attempt."""
        batch, self._to_submit = self._to_submit, []
        groups: dict[tuple[tuple[str, float], ...], list[tuple[dict[str, Any], DaskAttempt]]] = {}
        for payload, request, attempt in batch:
            if not attempt.ended:  # not stopped while it waited for this turn
                groups.setdefault(tuple(sorted(request.items())), []).append((payload, attempt))
        for asked, items in groups.items():
            try:
                futures = client.map(
                    dask_worker.run_attempt,
                    [payload for payload, _ in items],
                    key=[payload["key"] for payload, _ in items],
                    resources=dict(asked) or None,
                    pure=False,
                )
            except Exception as exc:
                for _, attempt in items:
                    error = f"cannot submit it to the Dask scheduler: {exc}"
                    attempt.finish(AttemptExit("spawn_failed", None, 0.0, 0.0, 0.0, error))
                continue
            for (_, attempt), future in zip(items, futures, strict=True):
                attempt.follow(future)

    def kill_orphan(self, info: ProcessInfo) -> bool:
        """Stop an attempt a crashed engine left running: by its task key on every worker, and
        by its process group on its host (a worker that died leaves its agents behind).
        Blocking: called through ``asyncio.to_thread`` from the engine's loop."""
        if self._loop is None or not info.key:
            return False
        found = asyncio.run_coroutine_threadsafe(self._kill_orphan(info), self._loop)
        try:
            return bool(found.result(ORPHAN_WAIT_S))
        except Exception:
            return False

    async def close(self) -> None:
        client, self._client = self._client, None
        with contextlib.suppress(OSError):
            self._marker.unlink(missing_ok=True)
        if client is None:
            return
        with contextlib.suppress(Exception):
            await client.scheduler.set_metadata(keys=[CLAIMS, client.id], value=None)
        with contextlib.suppress(Exception):
            await client.close()

    # -- the cluster -------------------------------------------------------------------------

    async def _connect(self) -> Any:
        async with self._connecting:
            client = self._client
            if client is not None and client.status == "running":
                return client
            if client is not None:
                self._client = None
                for attempt in list(self._attempts.values()):
                    attempt.unreachable()
                with contextlib.suppress(Exception):
                    await client.close()
            try:
                client = await Client(
                    self.address, asynchronous=True, set_as_default=False, name="phaseboard"
                )
            except (OSError, TimeoutError, ValueError) as exc:
                raise Unreachable(
                    f"the Dask scheduler at {self.address} cannot be reached ({exc});"
                    " start it (docs/distributed.md), then resume"
                ) from None
            client.subscribe_topic(client.id, self._on_event)
            client.subscribe_topic("all", self._on_cluster_event)
            self._client = client
            self._admitted.clear()
            await asyncio.to_thread(write_text_atomic, self._marker, self._token)
            return client

    async def _refresh(self) -> None:
        """The workers as they are now; those not seen yet get the control handler and read
        the marker."""
        client = await self._connect()
        try:
            identity = await client.scheduler.identity(n_workers=-1)
            self._workers = dict(identity.get("workers", {}))
            new = [w for w in self._workers if w not in self._admitted]
            if not new:
                return
            answers = await client.run(
                dask_worker.admit, str(self._marker), self._token, workers=new, on_error="return"
            )
        except (OSError, TimeoutError) as exc:  # the connection closed under us
            raise Unreachable(f"the Dask scheduler at {self.address} went away ({exc})") from None
        for address, answer in answers.items():
            ok = isinstance(answer, dict)
            self._admitted[address] = answer.get("problem", "") if ok else f"{answer}"

    async def _send(self, worker: str, request: dict[str, Any]) -> Any:
        answers = await self._ask([worker], "raise", **request)
        return answers.get(worker)

    async def _ask(self, workers: list[str], on_error: str, **request: Any) -> dict[str, Any]:
        """A request to the control handler of these workers, through the scheduler."""
        client = self._client
        if client is None:
            raise Unreachable(self.address)
        answers: dict[str, Any] = await client.scheduler.broadcast(
            msg={"op": CONTROL_OP, **request}, workers=workers, on_error=on_error
        )
        return answers

    async def _kill_orphan(self, info: ProcessInfo) -> bool:
        try:
            await self._refresh()
        except Unreachable:
            return False
        workers = list(self._workers)
        if info.key:
            found = await self._ask(workers, "return", do="stop", key=info.key)
            if any(answer is True for answer in found.values()):
                return True
        found = await self._ask(
            workers,
            "return",
            do="orphan",
            pid=info.pid,
            pgid=info.pgid,
            create_time=info.create_time,
            host=info.host,
        )
        return any(answer is True for answer in found.values())

    # -- events (on the event loop, never blocking) ------------------------------------------

    def _on_event(self, event: tuple[float, Any]) -> None:
        message = event[1]
        if not isinstance(message, list | tuple) or len(message) < 2:
            return
        attempt = self._attempts.get(message[1])
        if attempt is None:
            return
        if message[0] == LINES:
            attempt.on_lines(*message[2:6])
        elif message[0] == STARTED:
            attempt.on_started(*message[2:7])
        elif message[0] == EXITED:
            attempt.on_exited(message[2], message[3], message[4])

    def _on_cluster_event(self, event: tuple[float, Any]) -> None:
        message = event[1]
        if not isinstance(message, dict) or message.get("action") != "remove-worker":
            return
        address = message.get("worker", "")
        self._admitted.pop(address, None)
        self._workers.pop(address, None)
        for attempt in list(self._attempts.values()):
            if attempt.worker == address:
                self._lost(attempt, address)

    def _lost(self, attempt: DaskAttempt, address: str) -> None:
        info = attempt.info
        attempt.lose(f"its Dask worker {address} went away while it ran")
        self._attempts.pop(attempt.key, None)
        if info is not None:  # its agents live on where the worker died: stop them
            orphan = ProcessInfo(info.pid, info.pgid, info.create_time, info.host)
            task = asyncio.get_running_loop().create_task(self._stop_orphan(orphan))
            self._background.add(task)
            task.add_done_callback(self._background.discard)

    async def _stop_orphan(self, info: ProcessInfo) -> None:
        with contextlib.suppress(Exception):
            await self._kill_orphan(info)
