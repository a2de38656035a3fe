"""The typed events that make up a run's history.

Everything that happens to a run is one of these, appended to the store's event
log. The state of a run is a fold of its events (``engine.state.run_state``), so the
engine, ``phaseboard status``, the reports and the TUI all see the same thing.

Each payload is a frozen pydantic model; the store keeps ``kind`` plus the
payload as JSON, and readers fold plain dicts (fast) after the write side has
been checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from engine.execution.executor import CpuLimit

RunStatus = Literal["running", "paused", "interrupted", "completed", "failed", "stopped"]
NodeStatus = Literal[
    "pending", "running", "succeeded", "failed", "skipped", "missing", "rolled_back"
]
Category = Literal[
    "agent_failure", "timeout", "data_corruption", "resource_exhausted", "integration_failure"
]
Verdict = Literal["PROCEED", "CONDITIONAL_PROCEED", "BLOCK"]
Exhausted = Literal["memory", "tokens", "cost_usd", "agent"]
"""The limit that stopped a ``resource_exhausted`` attempt: ``memory_mb``, its budget's, or one
of the agent's own that it reported by exiting 75 (an LLM CLI's turn limit)."""


class Payload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: str


class RunCreated(Payload):
    kind: Literal["run_created"] = "run_created"
    workflow: str
    workflow_path: str
    workflow_text: str
    """The workflow file as it was when the run started, so a resume never reads a changed file."""
    workspace: str
    run_dir: str
    params: dict[str, Any] = {}
    criteria_override: Literal["strict", "lenient"] | None = None
    from_stage: str | None = None
    until_stage: str | None = None
    executor: dict[str, str] = {}
    """Where the run's attempts run, chosen when it was created and kept for every resume:
    ``{kind: dask, scheduler: ADDRESS}``; empty (or ``{kind: local}``): on the engine's machine."""


class RunStatusChanged(Payload):
    kind: Literal["run_status"] = "run_status"
    status: RunStatus
    reason: str = ""
    decision: Verdict | None = None
    awaiting: list[str] = []
    """What the operator must do to unblock a paused run (one line each)."""


class StageStarted(Payload):
    kind: Literal["stage_started"] = "stage_started"
    stage: str


class StageFinished(Payload):
    kind: Literal["stage_finished"] = "stage_finished"
    stage: str
    status: NodeStatus
    reason: str = ""
    changes: dict[str, list[str]] = {}
    """Workspace files the stage added, modified and deleted (agents stages)."""


class AttemptStarted(Payload):
    kind: Literal["attempt_started"] = "attempt_started"
    stage: str
    agent: str
    attempt: int
    scope: Literal["full", "reduced"] = "full"
    backup_of: str | None = None
    argv: list[str] = []
    pid: int | None = None
    pgid: int | None = None
    create_time: float | None = None
    host: str = ""
    memory_mb: int | None = None
    """The memory limit the attempt ran with (None: none, or a run recorded before limits were
    kept)."""
    budget_tokens: int | None = None
    """The token budget it ran with (None: none)."""
    budget_cost_usd: float | None = None
    """The cost budget it ran with (None: none)."""
    limits_reason: str = ""
    """Why its limits are not the workflow's (or the attempt before's): raised by
    ``on_exhausted`` after an exhaustion, left at a cap, or raised by an operator's retry."""
    cached_from: str | None = None
    """Set when the attempt reuses an earlier attempt's result instead of running:
    ``RUN/STAGE.AGENT#N`` (see :mod:`engine.run.result_cache`)."""


class AttemptFinished(Payload):
    kind: Literal["attempt_finished"] = "attempt_finished"
    stage: str
    agent: str
    attempt: int
    status: Literal["succeeded", "failed"]
    category: Category | None = None
    exit_code: int | None = None
    duration_s: float = 0.0
    peak_rss_mb: float = 0.0
    cpu_s: float = 0.0
    throttled_s: float = 0.0
    """Time held back to keep the attempt to its ``cpu_percent`` (paused, or throttled by the
    kernel: see :attr:`engine.execution.executor.AttemptExit.throttled_s`)."""
    cpu_limit: CpuLimit | None = None
    """How ``cpu_percent`` was enforced (``cgroup v2``, ``cgroup v1`` or ``signals``); None
    without a CPU limit, and in runs recorded before it was kept."""
    error: str | None = None
    tokens: int = 0
    cost_usd: float = 0.0
    partial: bool = False
    exhausted: Exhausted | None = None
    """For ``resource_exhausted``: the limit that stopped the attempt (None in runs recorded
    before it was kept)."""
    session_id: str | None = None
    """The LLM session the attempt used, as its messages said (``metadata.session_id``)."""
    resumed_session: str | None = None
    """The session it continued (``metadata.resumed_session``): the attempt before's."""
    cached_from: str | None = None
    """``RUN/STAGE.AGENT#N`` whose result a cached attempt reused."""
    saved_tokens: int = 0
    saved_cost_usd: float = 0.0
    """Not spent again: by a cached attempt, what its source spent; by one that resumed a
    session, what the attempt it continued spent (an estimate)."""
    cache_key: str | None = None
    """Of an attempt of a ``cache: true`` agent: what a later attempt must match to reuse it."""
    cost_estimated: bool = False
    """Its cost is an estimate (``metadata.cost_estimated``): priced from tokens."""


class AgentMessage(Payload):
    """A warning, error or info message an agent sent in the message format of docs/agents.md."""

    kind: Literal["agent_message"] = "agent_message"
    stage: str
    agent: str
    attempt: int
    message_type: str
    priority: str = "normal"
    content: Any = None


class AgentFinished(Payload):
    kind: Literal["agent_finished"] = "agent_finished"
    stage: str
    agent: str
    status: NodeStatus
    result: Any = None
    backup_of: str | None = None
    reason: str = ""


class AgentReset(Payload):
    """An agent is to run again (operator retry or a checkpoint's retry_failed)."""

    kind: Literal["agent_reset"] = "agent_reset"
    stage: str
    agent: str
    mode: Literal["same", "reduced", "backup"] = "same"
    by: str = ""
    checkpoint: str | None = None
    """Set when a checkpoint's retry_failed asked for it, rather than an operator."""
    memory_mb: int | None = None
    """The memory limit of the next attempt, raised by the operator (``retry --more-memory``);
    None: the agent's own."""
    limits_reason: str = ""
    """Why, as the next attempt records it."""


class Consolidated(Payload):
    kind: Literal["consolidated"] = "consolidated"
    stage: str
    document: dict[str, Any]
    """The synthesis document (``STAGE_synthesis.json``)."""
    conflicts: list[dict[str, Any]] = []


class ConflictResolved(Payload):
    kind: Literal["conflict_resolved"] = "conflict_resolved"
    conflict: str
    stage: str
    path: str
    value: Any = None
    picked: str | None = None
    note: str = ""
    by: str = ""
    at: str = ""


class CheckpointEvaluated(Payload):
    kind: Literal["checkpoint_evaluated"] = "checkpoint_evaluated"
    stage: str
    mode: Literal["strict", "lenient"]
    passed: bool
    criteria: list[dict[str, Any]]
    decision: dict[str, Any] | None = None


class CheckpointAccepted(Payload):
    kind: Literal["checkpoint_accepted"] = "checkpoint_accepted"
    stage: str
    note: str
    by: str = ""
    at: str = ""


class RollbackPointSaved(Payload):
    kind: Literal["rollback_point"] = "rollback_point"
    id: str
    stage: str
    """The stage about to start when the point was saved."""
    agent: str | None = None
    """In a sequential phase, the agent about to start."""
    manifest_id: int
    files: int
    bytes: int = 0
    at: str
    verified: bool = False
    """Every file of the snapshot was read back from the store after saving."""


class RolledBack(Payload):
    kind: Literal["rolled_back"] = "rolled_back"
    point: str
    stage: str
    agent: str | None = None
    restored: dict[str, list[str]] = {}
    commands: list[dict[str, Any]] = []
    verify: list[dict[str, Any]] = []
    by: str = ""
    at: str = ""


class CommandApplied(Payload):
    kind: Literal["command_applied"] = "command_applied"
    command_id: int
    command: str
    ok: bool
    message: str = ""
    by: str = ""


class NotificationSent(Payload):
    """The engine told the operator, through the notify hook, that the run needs them or ended
    (``engine.run.notify``): once per such ``run_status`` event, by the engine that recorded it."""

    kind: Literal["notification_sent"] = "notification_sent"
    about: int
    """The seq of the ``run_status`` event it tells of."""
    event: Literal["paused", "finished"]
    status: RunStatus
    source: str = ""
    """Where the hook came from: ``--notify``, ``PHASEBOARD_NOTIFY`` or ``workflow``."""
    ok: bool = True
    exit_code: int | None = None
    duration_s: float = 0.0
    error: str = ""
    """Why the hook failed (its exit code and last line of stderr, or the timeout)."""


PAYLOAD_TYPES: dict[str, type[Payload]] = {
    cls.model_fields["kind"].default: cls
    for cls in (
        RunCreated,
        RunStatusChanged,
        StageStarted,
        StageFinished,
        AttemptStarted,
        AttemptFinished,
        AgentMessage,
        AgentFinished,
        AgentReset,
        Consolidated,
        ConflictResolved,
        CheckpointEvaluated,
        CheckpointAccepted,
        RollbackPointSaved,
        RolledBack,
        CommandApplied,
        NotificationSent,
    )
}


@dataclass(frozen=True, slots=True)
class Event:
    """One stored event, as read back from the store.

    A plain dataclass, not a model: a run's history can hold a million of these and
    they are built on every attach and resume (payloads were validated when written).
    """

    run_id: str
    seq: int
    ts: float
    kind: str
    operator: str
    data: dict[str, Any]

    def payload(self) -> Payload:
        return PAYLOAD_TYPES[self.kind].model_validate(self.data)
