"""``phaseboard status --json`` and ``phaseboard runs --json``, built from the folded state.

``status_document`` is a contract scripts rely on (docs/cli.md): keys are only ever added to it.
"""

from __future__ import annotations

import time
from typing import Any

from engine.reports.forecast import Forecast
from engine.reports.next_actions import next_actions
from engine.state.metrics import run_metrics
from engine.state.records import AgentState, AttemptState, ConflictState, StageState
from engine.state.run_state import RunState
from engine.store.database import RunRow
from engine.support.text import duration_between, iso


def status_document(
    state: RunState, outlook: Forecast | None = None, now: float | None = None
) -> dict[str, Any]:
    return {
        "run": _run(state),
        "stages": [_stage(st, state) for st in state.stages.values()],
        "conflicts": [conflict_dict(c) for c in state.live_conflicts()],
        "rollback_points": [
            {
                "id": p.id,
                "stage": p.stage,
                "at": p.at,
                "files": p.files,
                "agent": p.agent,
                "bytes": p.bytes,
                "verified": p.verified,
            }
            for p in state.rollback_points
        ],
        "metrics": run_metrics(state),
        "decisions": [decision_entry(d) for d in state.decisions_log],
        "progress": outlook.as_dict(time.time() if now is None else now) if outlook else None,
    }


def _run(state: RunState) -> dict[str, Any]:
    return {
        "id": state.run_id,
        "workflow": state.workflow_name,
        "workspace": state.workspace,
        "status": state.status,
        "decision": state.decision,
        "started_at": iso(state.started_at),
        "ended_at": iso(state.ended_at),
        "duration_s": duration_between(state.started_at, state.ended_at),
        "reason": state.reason,
        "awaiting": next_actions(state),
        "workflow_path": state.workflow_path,
        "run_dir": state.run_dir,
        "params": dict(state.params),
        "last_seq": state.last_seq,
        "executor": dict(state.executor) or {"kind": "local"},
    }


def _stage(st: StageState, state: RunState) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": st.id,
        "kind": st.kind,
        "status": st.status,
        "started_at": iso(st.started_at),
        "ended_at": iso(st.ended_at),
        "agents": [_agent(a) for a in st.agents.values()],
        "criteria": [_criterion(c) for c in st.criteria],
        "title": st.title,
        "reason": st.reason,
        "duration_s": duration_between(st.started_at, st.ended_at),
    }
    if st.kind == "agents":
        out["changes"] = st.changes
        out["succeeded"] = st.succeeded
        out["failed"] = st.failed
        out["total"] = st.total
    elif st.kind == "consolidation":
        out["conflicts"] = [c.id for c in state.live_conflicts() if c.stage == st.id]
    elif st.kind == "checkpoint":
        out["passed"] = st.passed
        out["decision"] = st.decision
        out["accepted"] = st.accepted
    return out


def _agent(agent: AgentState) -> dict[str, Any]:
    return {
        "id": agent.id,
        "status": agent.status,
        "backup_of": agent.backup_of,
        "result": agent.result,
        "attempts": [_attempt(a) for a in agent.attempts],
        "title": agent.title,
        "reason": agent.reason,
        "standby": agent.standby,
        "extended": agent.extended,
        "duration_s": agent.duration_s,
    }


def _attempt(a: AttemptState) -> dict[str, Any]:
    return {
        "n": a.n,
        "status": a.status,
        "category": a.category,
        "exit_code": a.exit_code,
        "duration_s": a.duration_s,
        "peak_rss_mb": a.peak_rss_mb,
        "cpu_s": a.cpu_s,
        "throttled_s": a.throttled_s,
        "cpu_limit": a.cpu_limit,
        "scope": a.scope,
        "error": a.error,
        "tokens": a.tokens,
        "cost_usd": a.cost_usd,
        "partial": a.partial,
        "rolled_back": a.rolled_back,
        "started_at": iso(a.started_at),
        "ended_at": iso(a.ended_at),
        "memory_mb": a.memory_mb,
        "budget_tokens": a.budget_tokens,
        "budget_cost_usd": a.budget_cost_usd,
        "limits_reason": a.limits_reason,
        "exhausted": a.exhausted,
        "host": a.host,
        "session_id": a.session_id,
        "resumed_session": a.resumed_session,
        "cached_from": a.cached_from,
        "saved_tokens": a.saved_tokens,
        "saved_cost_usd": a.saved_cost_usd,
        "cost_estimated": a.cost_estimated,
    }


def _criterion(c: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": c.get("id"),
        "passed": bool(c.get("passed")),
        "value": c.get("value"),
        "severity": c.get("severity"),
        **{k: v for k, v in c.items() if k not in ("id", "passed", "value", "severity")},
    }


def conflict_dict(c: ConflictState) -> dict[str, Any]:
    out = c.as_dict()
    if c.resolution is not None:
        out["resolution"] = {
            key: c.resolution.get(key) for key in ("value", "picked", "note", "by", "at")
        }
    return out


def decision_entry(entry: dict[str, Any]) -> dict[str, Any]:
    """An operator decision with its time as ISO-8601 (retries record the event time)."""
    at = entry.get("at")
    return {**entry, "at": iso(at) if isinstance(at, int | float) else at}


def runs_item(item: RunRow | RunState, now: float | None = None) -> dict[str, Any]:
    """The ``run`` object of one run; ``duration_s`` runs to ``now`` while the run is unfinished."""
    if isinstance(item, RunState):
        run_id, workflow, workspace = item.run_id, item.workflow_name, item.workspace
        status, decision, run_dir = item.status, item.decision, item.run_dir
        started, ended = item.started_at, item.ended_at
    else:
        run_id, workflow, workspace = item.id, item.workflow, item.workspace
        status, decision, run_dir = item.status, item.decision, item.run_dir
        started, ended = item.started_at, item.ended_at
    return {
        "id": run_id,
        "workflow": workflow,
        "workspace": workspace,
        "status": status,
        "decision": decision,
        "started_at": iso(started),
        "ended_at": iso(ended),
        "duration_s": duration_between(started, ended if ended is not None else now),
        "run_dir": run_dir,
    }
