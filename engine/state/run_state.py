"""The reducer: a run's state is a pure fold of its events.

The engine, ``phaseboard status``, the reports and the TUI all build their view
with :meth:`RunState.apply`, so they can never disagree, and resuming after a
crash is "fold the events, then carry on". No I/O here.
"""

from __future__ import annotations

import contextlib
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from engine.consolidation.merge import set_path
from engine.state.events import Event
from engine.workflow.loader import parse_workflow
from engine.workflow.models import (
    AgentsStage,
    CheckpointStage,
    ConsolidationStage,
    CriteriaMode,
    Workflow,
)

DONE = ("succeeded", "skipped")
MESSAGE_TAIL = 200
"""Agent messages the state keeps. No handler but :meth:`RunState._on_agent_message` reads
them, so folding every other event and only the last ``MESSAGE_TAIL`` messages
(:meth:`engine.store.database.Store.state_events`) builds the same state as folding them all."""


@dataclass
class AttemptState:
    n: int
    scope: str = "full"
    status: str = "running"
    category: str | None = None
    exit_code: int | None = None
    duration_s: float = 0.0
    peak_rss_mb: float = 0.0
    cpu_s: float = 0.0
    throttled_s: float = 0.0
    cpu_limit: str | None = None
    """How ``cpu_percent`` was enforced: ``cgroup v2``, ``cgroup v1``, ``signals``, or None."""
    error: str | None = None
    tokens: int = 0
    cost_usd: float = 0.0
    started_at: float = 0.0
    ended_at: float | None = None
    pid: int | None = None
    pgid: int | None = None
    create_time: float | None = None
    host: str = ""
    rolled_back: bool = False
    partial: bool = False
    memory_mb: int | None = None
    """The memory limit the attempt ran with; None: none (or not recorded, in older runs)."""
    budget_tokens: int | None = None
    budget_cost_usd: float | None = None
    limits_reason: str = ""
    """Why its limits are not the workflow's: see :class:`engine.state.events.AttemptStarted`."""
    exhausted: str | None = None
    """For ``resource_exhausted``: ``memory``, ``tokens`` or ``cost_usd``."""


@dataclass
class AgentState:
    id: str
    stage: str
    title: str
    standby: bool = False
    extended: bool = False
    status: str = "pending"
    backup_of: str | None = None
    result: Any = None
    reason: str = ""
    retry_mode: str = "same"
    """How the next run of this agent goes, after an operator's retry (same, reduced, backup)."""
    retry_memory_mb: int | None = None
    """The memory of the next attempt, raised by an operator's ``retry --more-memory``."""
    retry_limits_reason: str = ""
    attempts: list[AttemptState] = field(default_factory=list)

    @property
    def current(self) -> AttemptState | None:
        return self.attempts[-1] if self.attempts else None

    @property
    def duration_s(self) -> float:
        return round(sum(a.duration_s for a in self.attempts if not a.rolled_back), 3)


@dataclass
class StageState:
    id: str
    kind: str
    title: str
    status: str = "pending"
    started_at: float | None = None
    ended_at: float | None = None
    reason: str = ""
    agents: dict[str, AgentState] = field(default_factory=dict)
    changes: dict[str, list[str]] = field(default_factory=dict)
    document: dict[str, Any] | None = None
    criteria: list[dict[str, Any]] = field(default_factory=list)
    passed: bool | None = None
    mode: str | None = None
    decision: dict[str, Any] | None = None
    accepted: dict[str, Any] | None = None
    retry_used: bool = False
    """A checkpoint's retry_failed action has been spent (once per evaluation round)."""

    def primaries(self) -> list[AgentState]:
        """The agents that count: not standby backups, and extended ones only once they ran."""
        return [
            a
            for a in self.agents.values()
            if not a.standby
            and (not a.extended or a.attempts or a.status not in ("pending", "skipped"))
        ]

    def covered(self, agent: AgentState) -> bool:
        """An agent counts as done when it, or a backup on its behalf, succeeded."""
        return agent.status == "succeeded" or agent.id in self.backed_up()

    def backed_up(self) -> set[str]:
        """Agents a backup succeeded for. One pass: callers that check every agent of a large
        stage (its progress, shown every second) ask once, not once per agent."""
        return {
            b.backup_of for b in self.agents.values() if b.backup_of and b.status == "succeeded"
        }

    @property
    def total(self) -> int:
        return len(self.primaries())

    @property
    def succeeded(self) -> int:
        backed = self.backed_up()
        return sum(1 for a in self.primaries() if a.status == "succeeded" or a.id in backed)

    @property
    def failed(self) -> int:
        backed = self.backed_up()
        return sum(
            1 for a in self.primaries() if a.status in ("failed", "missing") and a.id not in backed
        )


@dataclass
class ConflictState:
    id: str
    stage: str
    path: str
    severity: str
    candidates: dict[str, Any]
    resolved: bool = False
    resolution: dict[str, Any] | None = None
    rolled_back: bool = False
    reason: str = ""
    """Why the candidates cannot all hold (empty in runs recorded before reasons were kept)."""
    evidence: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Agent key -> where it found its value (see :mod:`engine.consolidation.evidence`)."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "stage": self.stage,
            "path": self.path,
            "severity": self.severity,
            "candidates": self.candidates,
            "reason": self.reason,
            "evidence": self.evidence,
            "resolved": self.resolved,
            "resolution": self.resolution,
        }


@dataclass
class RollbackPoint:
    id: str
    stage: str
    agent: str | None
    manifest_id: int
    files: int
    bytes: int
    at: str
    seq: int
    verified: bool = False


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
        self.workflow = parse_workflow(self.workflow_text, self.workflow_path)
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

    def _agent(self, d: dict[str, Any]) -> AgentState:
        return self.stages[d["stage"]].agents[d["agent"]]

    def _on_attempt_started(self, event: Event, d: dict[str, Any]) -> None:
        agent = self._agent(d)
        agent.status = "running"
        agent.reason = ""
        if d.get("backup_of"):
            agent.backup_of = d["backup_of"]
        agent.retry_mode = "same"
        agent.retry_memory_mb = None
        agent.retry_limits_reason = ""
        agent.attempts.append(
            AttemptState(
                n=d["attempt"],
                scope=d.get("scope", "full"),
                started_at=event.ts,
                pid=d.get("pid"),
                pgid=d.get("pgid"),
                create_time=d.get("create_time"),
                host=d.get("host", ""),
                memory_mb=d.get("memory_mb"),
                budget_tokens=d.get("budget_tokens"),
                budget_cost_usd=d.get("budget_cost_usd"),
                limits_reason=d.get("limits_reason", ""),
            )
        )

    def _on_attempt_finished(self, event: Event, d: dict[str, Any]) -> None:
        agent = self._agent(d)
        attempt = next((a for a in reversed(agent.attempts) if a.n == d["attempt"]), None)
        if attempt is None:
            attempt = AttemptState(n=d["attempt"], started_at=event.ts)
            agent.attempts.append(attempt)
        attempt.status = d["status"]
        attempt.category = d.get("category")
        attempt.exit_code = d.get("exit_code")
        attempt.duration_s = d.get("duration_s", 0.0)
        attempt.peak_rss_mb = d.get("peak_rss_mb", 0.0)
        attempt.cpu_s = d.get("cpu_s", 0.0)
        attempt.throttled_s = d.get("throttled_s", 0.0)
        attempt.cpu_limit = d.get("cpu_limit")
        attempt.error = d.get("error")
        attempt.tokens = d.get("tokens", 0)
        attempt.cost_usd = d.get("cost_usd", 0.0)
        attempt.partial = d.get("partial", False)
        attempt.exhausted = d.get("exhausted")
        attempt.ended_at = event.ts

    def _on_agent_message(self, event: Event, d: dict[str, Any]) -> None:
        self.messages.append({**d, "ts": event.ts, "seq": event.seq})

    def _on_agent_finished(self, event: Event, d: dict[str, Any]) -> None:
        agent = self._agent(d)
        agent.status = d["status"]
        agent.result = d.get("result")
        agent.reason = d.get("reason", "")
        if d.get("backup_of"):
            agent.backup_of = d["backup_of"]

    def _on_agent_reset(self, event: Event, d: dict[str, Any]) -> None:
        st = self.stages[d["stage"]]
        agent = st.agents[d["agent"]]
        agent.status = "pending"
        agent.result = None
        agent.retry_mode = d.get("mode", "same")
        agent.retry_memory_mb = d.get("memory_mb")
        agent.retry_limits_reason = d.get("limits_reason", "")
        more = f", {agent.retry_memory_mb} MB" if agent.retry_memory_mb else ""
        agent.reason = f"retry requested ({agent.retry_mode}{more})"
        for other in st.agents.values():
            if other.backup_of == agent.id and other.status != "pending":
                other.status = "rolled_back" if other.status == "succeeded" else other.status
                other.result = None
        if d.get("checkpoint"):
            self.stages[d["checkpoint"]].retry_used = True
        else:
            self.decisions_log.append(
                {
                    "kind": "retry",
                    "agent": f"{st.id}.{agent.id}",
                    "mode": agent.retry_mode,
                    "by": d.get("by", ""),
                    "at": event.ts,
                    **({"memory_mb": agent.retry_memory_mb} if agent.retry_memory_mb else {}),
                }
            )
        if st.status != "running":
            st.status = "pending"
        self._invalidate_after(st.id)

    def _invalidate_after(self, stage_id: str) -> None:
        """Stages that read a re-run stage's results must run again too."""
        order = list(self.stages)
        changed = {stage_id}
        for sid in order[order.index(stage_id) + 1 :]:
            later = self.stages[sid]
            spec = self.workflow.stage(sid) if self.workflow else None
            if later.status == "pending":
                continue
            if isinstance(spec, ConsolidationStage) and changed.intersection(spec.inputs):
                later.status = "pending"
                changed.add(sid)
            elif isinstance(spec, CheckpointStage):
                later.status = "pending"

    def _on_consolidated(self, event: Event, d: dict[str, Any]) -> None:
        st = self.stages[d["stage"]]
        st.document = d["document"]
        seen = set()
        for c in d.get("conflicts", []):
            seen.add(c["id"])
            old = self.conflicts.get(c["id"])
            keep = old is not None and old.resolved and not old.rolled_back
            self.conflicts[c["id"]] = ConflictState(
                id=c["id"],
                stage=c["stage"],
                path=c["path"],
                severity=c["severity"],
                candidates=c["candidates"],
                reason=c.get("reason", ""),
                evidence=c.get("evidence") or {},
                resolved=keep,
                resolution=old.resolution if keep and old else None,
            )
        for cid, conflict in list(self.conflicts.items()):
            if conflict.stage == st.id and cid not in seen:
                conflict.rolled_back = True

    def _on_conflict_resolved(self, event: Event, d: dict[str, Any]) -> None:
        conflict = self.conflicts[d["conflict"]]
        conflict.resolved = True
        conflict.resolution = {
            "value": d.get("value"),
            "picked": d.get("picked"),
            "note": d.get("note", ""),
            "by": d.get("by", ""),
            "at": d.get("at", ""),
        }
        st = self.stages.get(conflict.stage)
        if st is not None and st.document is not None:
            st.document = resolved_document(
                st.document, conflict.id, conflict.path, conflict.resolution
            )
        self.decisions_log.append(
            {"kind": "resolve", "conflict": conflict.id, **conflict.resolution}
        )

    def _on_checkpoint_evaluated(self, event: Event, d: dict[str, Any]) -> None:
        st = self.stages[d["stage"]]
        st.criteria = d["criteria"]
        st.passed = d["passed"]
        st.mode = d.get("mode")
        st.decision = d.get("decision")

    def _on_checkpoint_accepted(self, event: Event, d: dict[str, Any]) -> None:
        st = self.stages[d["stage"]]
        st.accepted = {"note": d["note"], "by": d.get("by", ""), "at": d.get("at", "")}
        self.decisions_log.append({"kind": "accept", "checkpoint": st.id, **st.accepted})

    def _on_rollback_point(self, event: Event, d: dict[str, Any]) -> None:
        self.rollback_points.append(
            RollbackPoint(
                id=d["id"],
                stage=d["stage"],
                agent=d.get("agent"),
                manifest_id=d["manifest_id"],
                files=d["files"],
                bytes=d.get("bytes", 0),
                at=d["at"],
                seq=event.seq,
                verified=d.get("verified", False),
            )
        )

    def _on_rolled_back(self, event: Event, d: dict[str, Any]) -> None:
        self.rollbacks.append({**d, "seq": event.seq})
        self.decisions_log.append(
            {"kind": "rollback", "point": d["point"], "by": d.get("by", ""), "at": d.get("at", "")}
        )
        order = list(self.stages)
        start = order.index(d["stage"])
        for sid in order[start:]:
            st = self.stages[sid]
            agent_from = d.get("agent") if sid == d["stage"] else None
            self._roll_back_stage(st, agent_from)
        self.decision = None

    def _roll_back_stage(self, st: StageState, agent_from: str | None) -> None:
        names = list(st.agents)
        first = names.index(agent_from) if agent_from in names else 0
        for name in names[first:]:
            agent = st.agents[name]
            for attempt in agent.attempts:
                attempt.rolled_back = True
            agent.status = "rolled_back" if agent.attempts else "pending"
            agent.result = None
        if st.status != "pending":
            st.status = "rolled_back"
        st.changes = {}
        st.retry_used = False
        if agent_from is None:
            st.document = None
            st.criteria = []
            st.passed = None
            st.decision = None
            st.accepted = None
            for conflict in self.conflicts.values():
                if conflict.stage == st.id:
                    conflict.rolled_back = True

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


def resolved_document(
    document: dict[str, Any], conflict_id: str, path: str, resolution: dict[str, Any]
) -> dict[str, Any]:
    """The synthesis document with a conflict's chosen value merged in and the conflict marked."""
    doc = dict(document)
    synthesis = dict(doc.get("synthesis") or {})
    findings = synthesis.get("findings")
    if isinstance(findings, dict):
        with contextlib.suppress(TypeError, KeyError):
            synthesis["findings"] = set_path(findings, path, resolution.get("value"))
    synthesis["conflicts"] = [
        {**c, "resolved": True, "resolution": resolution} if c.get("id") == conflict_id else c
        for c in synthesis.get("conflicts") or []
    ]
    doc["synthesis"] = synthesis
    return doc
