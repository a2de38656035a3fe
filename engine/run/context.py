"""What the stage and agent runners need from the engine that drives them, passed to them
rather than inherited: the run's session (state, events, store), the executor, the report
writer, the stop flag, and the runners at work (so a stop or a collect timeout reaches them)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.execution.executor import Executor
from engine.reports.writer import ReportWriter
from engine.run.log_sink import LogSink
from engine.run.session import RunSession
from engine.state.events import Event, Payload
from engine.state.run_state import RunState
from engine.workflow.models import Workflow

if TYPE_CHECKING:
    from engine.run.agent_runner import AgentRunner


@dataclass
class RunContext:
    session: RunSession
    executor: Executor
    reports: ReportWriter
    sink: LogSink
    """Where the attempts' output lines go (the store's logs and the run folder's files)."""
    stop: asyncio.Event
    """Set once the run is to stop: runners start nothing more and end what runs."""
    vanished: Callable[[], str | None]
    """Why the workspace can no longer be used (it disappeared or was replaced), or None."""
    use_cache: bool = True
    """Agents marked ``cache: true`` may reuse an earlier attempt's result (off: ``--no-cache``)."""
    runners: dict[tuple[str, str], AgentRunner] = field(default_factory=dict)
    """The agent runners at work, by (stage, agent)."""
    _attempt_dirs: dict[str, Path] = field(default_factory=dict)

    @property
    def state(self) -> RunState:
        return self.session.state

    @property
    def workflow(self) -> Workflow:
        return self.session.workflow

    @property
    def run_dir(self) -> Path:
        return self.session.run_dir

    async def emit(self, *payloads: Payload, **kwargs: Any) -> list[Event]:
        return await self.session.emit(*payloads, **kwargs)

    def attempt_dir(self, stage_id: str) -> Path:
        """``STAGE/attempts`` in the run folder, where agents write their output files: made on
        the stage's first attempt, not asked of the filesystem again on every one."""
        path = self._attempt_dirs.get(stage_id)
        if path is None:
            path = self.run_dir / stage_id / "attempts"
            path.mkdir(parents=True, exist_ok=True, mode=0o700)
            self._attempt_dirs[stage_id] = path
        return path

    async def wait_or_stop(self, seconds: float) -> bool:
        """Sleep unless stopped first; False when stopped."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), seconds)
        return not self.stop.is_set()
