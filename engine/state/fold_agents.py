"""Folding the agents' events: attempts started and finished, messages, results, resets for
a retry (which send the stages that read the agent's results back to pending)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from engine.state.events import Event
from engine.state.records import AgentState, AttemptState
from engine.workflow.models import CheckpointStage, ConsolidationStage

if TYPE_CHECKING:
    from engine.state.run_state import RunState


def agent_of(state: RunState, d: dict[str, Any]) -> AgentState:
    return state.stages[d["stage"]].agents[d["agent"]]


def on_attempt_started(state: RunState, event: Event, d: dict[str, Any]) -> None:
    agent = agent_of(state, d)
    agent.status = "running"
    agent.reason = ""
    if d.get("backup_of"):
        agent.backup_of = d["backup_of"]
    agent.retry_mode = "same"
    agent.retry_memory_mb = None
    agent.retry_limits_reason = ""
    agent.no_cache = False
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
            cached_from=d.get("cached_from"),
        )
    )


def on_attempt_finished(state: RunState, event: Event, d: dict[str, Any]) -> None:
    agent = agent_of(state, d)
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
    attempt.session_id = d.get("session_id")
    attempt.resumed_session = d.get("resumed_session")
    attempt.cached_from = d.get("cached_from")
    attempt.saved_tokens = d.get("saved_tokens", 0)
    attempt.saved_cost_usd = d.get("saved_cost_usd", 0.0)
    attempt.cost_estimated = d.get("cost_estimated", False)
    attempt.ended_at = event.ts


def on_agent_message(state: RunState, event: Event, d: dict[str, Any]) -> None:
    state.messages.append({**d, "ts": event.ts, "seq": event.seq})


def on_agent_finished(state: RunState, event: Event, d: dict[str, Any]) -> None:
    agent = agent_of(state, d)
    agent.status = d["status"]
    agent.result = d.get("result")
    agent.reason = d.get("reason", "")
    if d.get("backup_of"):
        agent.backup_of = d["backup_of"]


def on_agent_reset(state: RunState, event: Event, d: dict[str, Any]) -> None:
    st = state.stages[d["stage"]]
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
        state.stages[d["checkpoint"]].retry_used = True
    else:
        agent.no_cache = True  # an operator's retry runs the agent, whatever a cache holds
        state.decisions_log.append(
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
    invalidate_after(state, st.id)


def invalidate_after(state: RunState, stage_id: str) -> None:
    """Stages that read a re-run stage's results must run again too."""
    order = list(state.stages)
    changed = {stage_id}
    for sid in order[order.index(stage_id) + 1 :]:
        later = state.stages[sid]
        spec = state.workflow.stage(sid) if state.workflow else None
        if later.status == "pending":
            continue
        if isinstance(spec, ConsolidationStage) and changed.intersection(spec.inputs):
            later.status = "pending"
            changed.add(sid)
        elif isinstance(spec, CheckpointStage):
            later.status = "pending"
