"""What the run state is made of: a stage, its agents and their attempts, a conflict, a
rollback point. Plain records; :mod:`engine.state.run_state` folds events into them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DONE = ("succeeded", "skipped")


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
    """For ``resource_exhausted``: ``memory``, ``tokens``, ``cost_usd`` or ``agent``."""
    session_id: str | None = None
    resumed_session: str | None = None
    cached_from: str | None = None
    saved_tokens: int = 0
    saved_cost_usd: float = 0.0
    cost_estimated: bool = False
    """See :class:`engine.state.events.AttemptFinished`."""


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
    no_cache: bool = False
    """An operator asked for the next run of this agent: it runs, whatever a cache holds."""
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
    """A checkpoint's retry_failed action has been spent: it is used once, and is available
    again only after a rollback to this checkpoint or before it."""

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
