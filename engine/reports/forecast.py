"""Where a run stands: progress, the estimated time to completion, the active agents and what
blocks it (a dashboard's current phase, progress percentage, estimated completion,
active agents, blockers).

Progress counts the run's work: each agent of an agents stage (its primaries: standby backups
only when they ran), each consolidation and each checkpoint of the stages the run covers. The
estimate comes from this database's history of the same workflow: the median duration of each
stage over its earlier completed runs, less the time the running stage has already taken. With
no earlier run, or no history for a stage still to come, the estimate is ``None`` and says why:
it is never made up.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from engine.reports.next_actions import Blocker, blockers
from engine.state.records import StageState
from engine.state.run_state import RunState
from engine.store.history import RunDurations

DONE = ("succeeded", "skipped", "failed", "missing", "rolled_back")
"""Agent statuses that count as work done (a failed agent is finished work, not work to come)."""


@dataclass(frozen=True)
class History:
    """Median durations over the earlier completed runs of a workflow."""

    runs: int = 0
    stages: dict[str, float] = field(default_factory=dict)
    agents: dict[str, float] = field(default_factory=dict)

    @classmethod
    def of(cls, records: Sequence[RunDurations]) -> History:
        stages: dict[str, list[float]] = {}
        agents: dict[str, list[float]] = {}
        for record in records:
            for sid, seconds in record.stages.items():
                stages.setdefault(sid, []).append(seconds)
            for key, seconds in record.agents.items():
                agents.setdefault(key, []).append(seconds)
        return cls(
            len(records),
            {sid: statistics.median(v) for sid, v in stages.items()},
            {key: statistics.median(v) for key, v in agents.items()},
        )


@dataclass(frozen=True)
class Forecast:
    percent: int
    done: int
    total: int
    current: list[str]
    """Stages running now (the current phase)."""
    active: list[str]
    """``STAGE.AGENT`` of the agents with an attempt running."""
    eta_s: float | None
    """Seconds to completion, or None when it cannot be estimated (``basis`` says why)."""
    basis: str
    blockers: list[Blocker]
    waiting: bool = False
    """The run is not running: the estimate counts from when it is resumed."""

    def as_dict(self, now: float) -> dict[str, object]:
        return {
            "percent": self.percent,
            "done": self.done,
            "total": self.total,
            "current": self.current,
            "active_agents": self.active,
            "eta_s": None if self.eta_s is None else round(self.eta_s, 1),
            "eta_at": None if self.eta_s is None or self.waiting else round(now + self.eta_s, 1),
            "eta_basis": self.basis,
            "blockers": [{"kind": b.kind, "text": b.text} for b in self.blockers],
        }


def _units(st: StageState) -> tuple[int, int]:
    """(done, total) work units of one stage."""
    if st.kind != "agents":
        return (1 if st.status in ("succeeded", "skipped") else 0), 1
    agents = st.primaries()
    if st.status in ("succeeded", "skipped"):
        return len(agents), len(agents)
    return sum(1 for a in agents if a.status in DONE), len(agents)


def forecast(
    state: RunState, history: History, now: float, found: list[Blocker] | None = None
) -> Forecast:
    """Where ``state`` stands at ``now``; ``found``: its blockers when the caller has them
    (they change only with the state, the estimate with the clock)."""
    order = [sid for sid in state.stage_order() if state.in_slice(sid)]
    done = total = 0
    for sid in order:
        d, t = _units(state.stages[sid])
        done, total = done + d, total + t
    current = [sid for sid in order if state.stages[sid].status == "running"]
    active = [
        f"{sid}.{agent.id}"
        for sid in current
        for agent in state.stages[sid].agents.values()
        if agent.attempts and agent.attempts[-1].status == "running"
    ]
    eta, basis = _eta(state, order, history, now)
    percent = 100 if state.status == "completed" else int(100 * done / total) if total else 0
    found = blockers(state) if found is None else found
    waiting = state.status not in ("running", "completed", "failed")
    return Forecast(percent, done, total, current, active, eta, basis, found, waiting)


def _eta(
    state: RunState, order: list[str], history: History, now: float
) -> tuple[float | None, str]:
    if state.status in ("completed", "failed"):
        return 0.0, f"the run is {state.status}"
    if not history.runs:
        return None, "unknown: no earlier completed run of this workflow in this database"
    remaining = 0.0
    for sid in order:
        st = state.stages[sid]
        if st.status in ("succeeded", "skipped") or (
            st.status == "failed" and st.kind != "checkpoint"
        ):
            continue
        median = history.stages.get(sid)
        if median is None:
            return None, f"unknown: no earlier run of stage {sid}"
        spent = now - st.started_at if st.status == "running" and st.started_at else 0.0
        remaining += max(0.0, median - spent)
    runs = "run" if history.runs == 1 else "runs"
    basis = f"median of {history.runs} earlier {runs} of {state.workflow_name}"
    if state.status != "running":
        basis += f", from when the run is resumed (it is {state.status})"
    return remaining, basis
