"""The reducer: a run's state is a pure fold of its events.

The engine, ``phaseboard status``, the reports and the TUI all build their view
with :meth:`RunState.apply`, so they can never disagree, and resuming after a
crash is "fold the events, then carry on". No I/O here. The records the state is made of are in
:mod:`engine.state.records`; the events of agents, of judgement (conflicts, checkpoints) and of
rollback are folded in :mod:`engine.state.fold_agents`, :mod:`engine.state.fold_judgement` and
:mod:`engine.state.fold_rollback`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from engine.state import fold_agents, fold_judgement, fold_rollback
from engine.state.events import Event
from engine.state.records import (
    DONE,
    AgentState,
    ConflictState,
    RollbackPoint,
    StageState,
)
from engine.workflow.loader import parse_workflow
from engine.workflow.models import (
    AgentsStage,
    CheckpointStage,
    ConsolidationStage,
    CriteriaMode,
    Workflow,
)

MESSAGE_TAIL = 200
"""Agent messages the state keeps. No handler but :func:`engine.state.fold_agents.on_agent_message` reads
them, so folding every other event and only the last ``MESSAGE_TAIL`` messages
(:meth:`engine.store.database.Store.state_events`) builds the same state as folding them all."""


@dataclass
class RunState:
    run_id: str
    workflow: Workflow | None = None
    workflow_name: str = ""
    workflow_path: str = ""
    workflow_text: str = ""
    workspace: str = ""
    run_dir: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    criteria_override: CriteriaMode | None = None
    from_stage: str | None = None
    until_stage: str | None = None
    executor: dict[str, str] = field(default_factory=dict)
    """``RunCreated.executor``: where attempts run (empty: locally)."""
    status: str = "pending"
    reason: str = ""
    awaiting: list[str] = field(default_factory=list)
    decision: str | None = None
    started_at: float | None = None
    ended_at: float | None = None
    stages: dict[str, StageState] = field(default_factory=dict)
    conflicts: dict[str, ConflictState] = field(default_factory=dict)
    rollback_points: list[RollbackPoint] = field(default_factory=list)
    rollbacks: list[dict[str, Any]] = field(default_factory=list)
    decisions_log: list[dict[str, Any]] = field(default_factory=list)
    """Operator decisions (resolutions, acceptances, retries, rollbacks), in order."""
    messages: deque[dict[str, Any]] = field(default_factory=lambda: deque(maxlen=MESSAGE_TAIL))
    last_seq: int = 0
    last_ts: float = 0.0

    # -- folding ---------------------------------------------------------------------------

    @classmethod
    def fold(cls, run_id: str, events: list[Event]) -> RunState:
        state = cls(run_id)
        for event in events:
            state.apply(event)
        return state

    def apply(self, event: Event) -> None:
        handler = getattr(self, f"_on_{event.kind}", None)
        if handler is not None:
            handler(event, event.data)
        elif (fold := FOLDS.get(event.kind)) is not None:
            fold(self, event, event.data)
        self.last_seq = event.seq
        self.last_ts = event.ts

    def _on_run_created(self, event: Event, d: dict[str, Any]) -> None:
        self.workflow_name = d["workflow"]
        self.workflow_path = d["workflow_path"]
        self.workflow_text = d["workflow_text"]
        self.workspace = d["workspace"]
        self.run_dir = d["run_dir"]
        self.params = dict(d.get("params") or {})
        self.criteria_override = d.get("criteria_override")
        self.from_stage = d.get("from_stage")
        self.until_stage = d.get("until_stage")
        self.executor = dict(d.get("executor") or {})
        self.workflow = parse_workflow(self.workflow_text, self.workflow_path, recheck=False)
        for stage in self.workflow.stages:
            st = StageState(stage.id, stage.kind, stage.title or stage.id)
            if isinstance(stage, AgentsStage):
                for agent in stage.agents:
                    st.agents[agent.id] = AgentState(
                        agent.id, stage.id, agent.display_title, standby=agent.standby
                    )
                for agent in stage.extended.agents if stage.extended else []:
                    st.agents[agent.id] = AgentState(
                        agent.id, stage.id, agent.display_title, extended=True
                    )
            elif isinstance(stage, ConsolidationStage) and stage.synthesizer is not None:
                synth = stage.synthesizer
                st.agents[synth.id] = AgentState(synth.id, stage.id, synth.display_title)
            self.stages[stage.id] = st

    def _on_run_status(self, event: Event, d: dict[str, Any]) -> None:
        self.status = d["status"]
        self.reason = d.get("reason", "")
        self.awaiting = list(d.get("awaiting") or [])
        if d.get("decision"):
            self.decision = d["decision"]
        if self.started_at is None and self.status == "running":
            self.started_at = event.ts
        self.ended_at = event.ts if self.status in ("completed", "failed", "stopped") else None

    def _on_stage_started(self, event: Event, d: dict[str, Any]) -> None:
        st = self.stages[d["stage"]]
        st.status = "running"
        st.started_at = event.ts
        st.ended_at = None
        st.reason = ""
        for agent in st.agents.values():
            if agent.status not in DONE:
                agent.status = "pending"
                agent.reason = ""
        if st.kind == "checkpoint":
            st.passed = None
            st.criteria = []
            st.decision = None

    def _on_stage_finished(self, event: Event, d: dict[str, Any]) -> None:
        st = self.stages[d["stage"]]
        st.status = d["status"]
        st.ended_at = event.ts
        st.reason = d.get("reason", "")
        if d.get("changes"):
            st.changes = d["changes"]
        for agent in st.agents.values():
            if agent.status == "pending" and (st.status == "skipped" or agent.extended):
                agent.status = "skipped"

    # -- derived views ---------------------------------------------------------------------

    def open_conflicts(self) -> list[ConflictState]:
        return [c for c in self.conflicts.values() if not c.resolved and not c.rolled_back]

    def live_conflicts(self) -> list[ConflictState]:
        return [c for c in self.conflicts.values() if not c.rolled_back]

    def stage_order(self) -> list[str]:
        return list(self.stages)

    def in_slice(self, stage_id: str) -> bool:
        order = self.stage_order()
        i = order.index(stage_id)
        lo = order.index(self.from_stage) if self.from_stage else 0
        hi = order.index(self.until_stage) if self.until_stage else len(order) - 1
        return lo <= i <= hi

    def point(self, point_id: str) -> RollbackPoint | None:
        return next((p for p in self.rollback_points if p.id == point_id), None)

    def agent_spec_stage(self, stage_id: str) -> AgentsStage | ConsolidationStage | CheckpointStage:
        assert self.workflow is not None
        return self.workflow.stage(stage_id)


Fold = Callable[[RunState, Event, dict[str, Any]], None]
FOLDS: dict[str, Fold] = {
    "attempt_started": fold_agents.on_attempt_started,
    "attempt_finished": fold_agents.on_attempt_finished,
    "agent_message": fold_agents.on_agent_message,
    "agent_finished": fold_agents.on_agent_finished,
    "agent_reset": fold_agents.on_agent_reset,
    "consolidated": fold_judgement.on_consolidated,
    "conflict_resolved": fold_judgement.on_conflict_resolved,
    "checkpoint_evaluated": fold_judgement.on_checkpoint_evaluated,
    "checkpoint_accepted": fold_judgement.on_checkpoint_accepted,
    "rollback_point": fold_rollback.on_rollback_point,
    "rolled_back": fold_rollback.on_rolled_back,
}
"""Events folded by the modules of each concern; the run's own (created, status, stages) are
the methods of :class:`RunState`."""
