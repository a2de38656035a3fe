"""The engine: drives one run through its stages, applying operator commands as it goes.

The loop always runs the first stage of the slice that is not finished, so a fresh
run, a resume after a pause, a retry and a resume after a crash are the same code:
fold the events, then carry on.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from typing import Any

from engine.checkpoints.evaluate import accepted_verdict
from engine.execution.executor import Executor
from engine.reports.next_actions import next_actions
from engine.reports.writer import ReportWriter
from engine.run.command_watch import CommandWatch
from engine.run.commands import apply_command, reevaluate_paused_checkpoints
from engine.run.context import RunContext
from engine.run.executors import executor_for
from engine.run.log_sink import LogSink
from engine.run.notify import Notifier, choose_hook
from engine.run.outcome import RunOutcome
from engine.run.recovery import recover_interrupted
from engine.run.session import RunSession
from engine.run.stages import StageRunner
from engine.state.events import (
    RunStatusChanged,
    StageFinished,
)
from engine.state.records import StageState
from engine.store.database import Store
from engine.store.run_lock import HEARTBEAT_S, acquire
from engine.workflow.models import AgentsStage, CheckpointStage, ConsolidationStage

COMMAND_POLL_S = 1.0
COMMAND_WAKE_S = 0.1
"""How often the engine asks SQLite whether a command row was added."""


class Engine(RunSession):
    """Drives a run. Use :meth:`open` (which takes the run's lock), then :meth:`drive`. The
    stages are run by a :class:`~engine.run.stages.StageRunner`, given what it needs in a
    :class:`~engine.run.context.RunContext`."""

    def __init__(
        self,
        store: Store,
        state: Any,
        executor: Executor | None = None,
        *,
        notify: str | None = None,
        wait_when_paused: bool = False,
        operator: str | None = None,
        use_cache: bool = True,
    ) -> None:
        super().__init__(store, state, operator=operator)
        self._own_executor = executor is None
        executor = executor_for(self.state) if executor is None else executor
        self.executor = executor
        self.wait_when_paused = wait_when_paused
        self.sink = LogSink(store, self.run_id, self.run_dir)
        self.reports = ReportWriter(store, self.state, self.run_dir)
        self._stop = asyncio.Event()
        self._stop_status = "stopped"
        self._stop_reason = ""
        self._hold = False
        self._pause_requested = False
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[Any]] = []
        self._commands_lock = asyncio.Lock()
        self._applied = 0
        self._stage_running = False
        self._lock_lost = False
        self._workspace_identity: tuple[int, int] | None = None
        self.ctx = RunContext(
            self, executor, self.reports, self.sink, self._stop, self._workspace_vanished
        )
        self.ctx.use_cache = use_cache  # off with --no-cache
        self._runners = self.ctx.runners
        self.stages = StageRunner(self.ctx)
        self.notifier = Notifier(self, choose_hook(notify, self.workflow.notify, os.environ))
        """Runs the notify hook when the run needs the operator or ends (``--notify``)."""

    @classmethod
    async def open(
        cls, store: Store, run_id: str, executor: Executor | None = None, **kwargs: Any
    ) -> Engine:
        """``executor`` None: the one the run was created with (``engine.run.executors``),
        closed when :meth:`drive` ends."""
        await acquire(store, run_id)
        try:
            base = await RunSession.load(store, run_id)
            return cls(store, base.state, executor, **kwargs)
        except BaseException:
            from engine.store.run_lock import my_lock_row

            await store.unlock(run_id, my_lock_row().pid)
            raise

    # -- public control --------------------------------------------------------------------

    def request_stop(self, status: str = "stopped", reason: str = "") -> None:
        """Stop from a signal handler or a command: agents are stopped, state is saved."""
        if not self._stop.is_set():
            self._stop_status = status
            self._stop_reason = reason
            self._stop.set()
            self._wake.set()
            for runner in list(self._runners.values()):
                self._tasks.append(asyncio.ensure_future(runner.abort("interrupted")))

    async def after_events(self, events: list[Any]) -> None:
        self.notifier.observe(events)
        if any(e.kind in _CONTINUITY_KINDS for e in events) and not self._workspace_vanished():
            await self.reports.write_continuity()

    # -- the loop --------------------------------------------------------------------------

    async def drive(self) -> RunOutcome:
        try:
            if not self.workspace.is_dir():
                raise FileNotFoundError(f"workspace {self.workspace} does not exist")
            self.run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._workspace_vanished()  # records the workspace's identity
            self.sink.start()
            self._tasks.append(asyncio.create_task(self._heartbeat(), name="heartbeat"))
            self._tasks.append(asyncio.create_task(self._poll_commands(), name="commands"))
            await recover_interrupted(self, self.executor)
            await self._apply_commands()  # requests left by a process that died first
            if self.state.status == "completed" and self._next_stage() is None:
                return RunOutcome("completed", self.state.decision)  # nothing left to do
            return await self._loop()
        finally:
            await self.notifier.drain()  # a paused or finished run's hook, before we let go
            for task in self._tasks:
                task.cancel()
            for task in self._tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            await self.sink.close()
            with contextlib.suppress(OSError):
                await self.reports.flush_results()
            if not self._workspace_vanished():
                await self.reports.write_continuity()
            if self._own_executor:
                with contextlib.suppress(Exception):
                    await self.executor.close()
            with contextlib.suppress(Exception):
                from engine.store.run_lock import my_lock_row

                await self.store.unlock(self.run_id, my_lock_row().pid)

    async def _loop(self) -> RunOutcome:
        while True:
            await self._apply_commands()
            if self._stop.is_set():
                return await self._stopped()
            if self._hold or self._pause_requested:
                outcome = await self._pause(
                    self.state.reason if self._hold else "paused by operator",
                    self.state.awaiting,
                )
                if outcome is not None:
                    return outcome
                continue
            stage_id = self._next_stage()
            if stage_id is None:
                return await self._complete()
            vanished = self._workspace_vanished()
            if vanished:
                await self.emit(RunStatusChanged(status="failed", reason=vanished))
                return RunOutcome("failed", None, vanished)
            blocked = self._blocked_by(stage_id)
            if blocked:
                reason = f"stage {blocked} failed and no checkpoint lies between it and {stage_id}"
                await self.emit(RunStatusChanged(status="failed", reason=reason))
                return RunOutcome("failed", None, reason)
            if self.state.status != "running":
                await self.emit(RunStatusChanged(status="running"))
            self._stage_running = True
            try:
                result = await self._run_stage(stage_id)
            finally:
                self._stage_running = False
            if self._stop.is_set():
                return await self._stopped()
            if result is None:
                continue
            kind, reason, awaiting = result
            if kind == "block":
                for sid in self._slice()[self._slice().index(stage_id) + 1 :]:
                    await self.emit(
                        StageFinished(stage=sid, status="skipped", reason="decision BLOCK")
                    )
                return await self._complete()
            if kind == "fail":
                await self.emit(RunStatusChanged(status="failed", reason=reason))
                return RunOutcome("failed", None, reason)
            if kind == "pause":  # for the operator: it always says what it awaits (notify.py)
                awaiting = awaiting or next_actions(self.state, pausing=True)
                outcome = await self._pause(reason, awaiting)
                if outcome is not None:
                    return outcome

    def _workspace_vanished(self) -> str | None:
        """The workspace must be the same directory for the whole run (same device and inode)."""
        try:
            st = os.stat(self.workspace)
            now = (st.st_dev, st.st_ino)
        except OSError:
            now = None
        if self._workspace_identity is None:
            self._workspace_identity = now
        if now is None or now != self._workspace_identity or not self.run_dir.is_dir():
            return f"workspace {self.workspace} disappeared or was replaced during the run"
        return None

    def _slice(self) -> list[str]:
        return [sid for sid in self.state.stage_order() if self.state.in_slice(sid)]

    def _next_stage(self) -> str | None:
        for sid in self._slice():
            if not _finished(self.state.stages[sid]):
                return sid
        return None

    def _blocked_by(self, stage_id: str) -> str | None:
        """An agents stage may not start after a failed one unless a checkpoint judged it."""
        if self.state.stages[stage_id].kind != "agents":
            return None
        order = self._slice()
        failed: str | None = None
        for sid in order[: order.index(stage_id)]:
            st = self.state.stages[sid]
            if st.kind == "checkpoint":
                failed = None
            elif st.kind == "agents" and st.status == "failed":
                failed = sid
        return failed

    async def _pause(self, reason: str, awaiting: list[str]) -> RunOutcome | None:
        """Pause the run; without `wait_when_paused` the engine returns (exit 4)."""
        if self.state.status != "paused" or self.state.reason != reason:
            await self.emit(RunStatusChanged(status="paused", reason=reason, awaiting=awaiting))
        if not self.wait_when_paused:
            return RunOutcome("paused", self.state.decision, reason)
        self._pause_requested = False
        seen = self._applied
        await self.store.set_waiting(self.run_id, os.getpid(), True)  # resume may hand it to us
        try:
            while True:
                self._wake.clear()
                await self._apply_commands()
                if self._stop.is_set():
                    return await self._stopped()
                if self._applied != seen and not self._hold and not self._pause_requested:
                    return None
                await self._wake.wait()
        finally:
            with contextlib.suppress(Exception):  # the lock may be gone with the engine's end
                await self.store.set_waiting(self.run_id, os.getpid(), False)

    async def _stopped(self) -> RunOutcome:
        for task in self._tasks[2:]:
            with contextlib.suppress(Exception):
                await task
        await self.emit(RunStatusChanged(status=self._stop_status, reason=self._stop_reason))  # type: ignore[arg-type]
        return RunOutcome(self._stop_status, self.state.decision, self._stop_reason)

    async def _complete(self) -> RunOutcome:
        decision = self._final_decision()
        all_ok = all(
            self.state.stages[sid].status in ("succeeded", "skipped") for sid in self._slice()
        )
        status = "completed" if (decision is not None or all_ok) else "failed"
        reason = "" if all_ok or decision else "some stages failed"
        await self.emit(RunStatusChanged(status=status, decision=decision, reason=reason))  # type: ignore[arg-type]
        await self.reports.write_final()
        return RunOutcome(status, decision, reason)

    def _final_decision(self) -> str | None:
        verdict = None
        for sid in self._slice():
            st = self.state.stages[sid]
            if st.kind == "checkpoint" and st.decision is not None and st.status == "succeeded":
                verdict = accepted_verdict(st.decision, st.accepted is not None and not st.passed)
        return verdict

    # -- commands --------------------------------------------------------------------------

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(HEARTBEAT_S)
            from engine.store.run_lock import my_lock_row

            if not await self.store.heartbeat(self.run_id, my_lock_row().pid):
                self._lock_lost = True
                self.request_stop("interrupted", "another engine took over this run")
                return

    async def _poll_commands(self) -> None:
        """Apply new command rows within ``COMMAND_WAKE_S`` of their commit (see
        :class:`~engine.run.command_watch.CommandWatch`), and look every ``COMMAND_POLL_S`` anyway."""
        watch = CommandWatch(self.store.path, self.run_id)
        loop = asyncio.get_running_loop()
        last_look = loop.time()
        try:
            while True:
                await asyncio.sleep(COMMAND_WAKE_S)
                if watch.new_commands() or loop.time() - last_look >= COMMAND_POLL_S:
                    last_look = loop.time()
                    await self._apply_commands()
        finally:
            watch.close()

    async def _apply_commands(self) -> bool:
        """Apply pending commands in order. Between stages all of them; while a stage runs
        only those that cannot disturb it, and a stop or rollback interrupts it."""
        async with self._commands_lock:
            applied = await self._apply_pending()
        if applied:
            self._applied += 1
            self._wake.set()
        return applied

    async def _apply_pending(self) -> bool:
        applied = False
        for cmd in await self.store.pending_commands(self.run_id):
            busy = self._stage_running
            if cmd.kind == "stop":
                outcome = await apply_command(self, cmd, live=True)
                if outcome.ok:
                    self.request_stop("stopped", f"stopped by {cmd.operator}")
                applied = True
                continue
            if cmd.kind == "pause":
                outcome = await apply_command(self, cmd, live=True)
                self._pause_requested = self._pause_requested or outcome.ok
                applied = True
                continue
            if busy and cmd.kind in ("rollback", "retry", "resume"):
                if cmd.kind == "rollback":
                    self._interrupt_stage()
                break  # keep command order: later commands wait for this one
            if cmd.kind == "resume":
                outcome = await apply_command(self, cmd, live=True)
                self._hold = False
                self._pause_requested = False
            else:
                outcome = await apply_command(self, cmd, live=True)
                if cmd.kind == "rollback" and outcome.ok:
                    self._hold = True
                if cmd.kind in ("resolve", "accept") and outcome.ok:
                    await reevaluate_paused_checkpoints(self, self.state.criteria_override)
            applied = True
        return applied

    def _interrupt_stage(self) -> None:
        for runner in list(self._runners.values()):
            self._tasks.append(asyncio.ensure_future(runner.abort("interrupted")))

    # -- stages ----------------------------------------------------------------------------

    async def _run_stage(self, stage_id: str) -> tuple[str, str, list[str]] | None:
        spec = self.workflow.stage(stage_id)
        if isinstance(spec, AgentsStage):
            return await self.stages.run_agents(spec)
        if isinstance(spec, ConsolidationStage):
            return await self.stages.run_consolidation(spec)
        assert isinstance(spec, CheckpointStage)
        return await self.stages.run_checkpoint(spec)


def _finished(st: StageState) -> bool:
    if st.status in ("succeeded", "skipped"):
        return True
    return st.status == "failed" and st.kind != "checkpoint"


_CONTINUITY_KINDS = {
    "stage_finished",
    "run_status",
    "conflict_resolved",
    "checkpoint_accepted",
    "rolled_back",
    "agent_reset",
}
