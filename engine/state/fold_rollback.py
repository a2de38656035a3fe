"""Folding rollback: points saved before stages and agents, and rollbacks, which mark what
they undo as rolled back (kept in the history, never deleted)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.state.events import Event
from engine.state.records import RollbackPoint, StageState

if TYPE_CHECKING:
    from engine.state.run_state import RunState


def on_rollback_point(state: RunState, event: Event, d: dict[str, Any]) -> None:
    state.rollback_points.append(
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


def on_rolled_back(state: RunState, event: Event, d: dict[str, Any]) -> None:
    state.rollbacks.append({**d, "seq": event.seq})
    state.decisions_log.append(
        {"kind": "rollback", "point": d["point"], "by": d.get("by", ""), "at": d.get("at", "")}
    )
    order = list(state.stages)
    start = order.index(d["stage"])
    for sid in order[start:]:
        st = state.stages[sid]
        agent_from = d.get("agent") if sid == d["stage"] else None
        roll_back_stage(state, st, agent_from)
    state.decision = None


def roll_back_stage(state: RunState, st: StageState, agent_from: str | None) -> None:
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
        for conflict in state.conflicts.values():
            if conflict.stage == st.id:
                conflict.rolled_back = True
