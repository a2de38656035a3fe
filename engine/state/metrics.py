"""Run metrics derived from the folded state (the run's key performance indicators).

``quality_metrics`` and ``agent_performance`` come from :mod:`engine.state.quality`: each metric there
has a ``value`` (``None`` when the run did not measure it) and its ``source``."""

from __future__ import annotations

from typing import Any

from engine.state.quality import agent_performance, quality_metrics
from engine.state.run_state import RunState


def run_metrics(state: RunState) -> dict[str, Any]:
    attempts = [
        a
        for st in state.stages.values()
        for agent in st.agents.values()
        for a in agent.attempts
        if not a.rolled_back
    ]
    finished = [a for a in attempts if a.status in ("succeeded", "failed")]
    agents = [
        agent
        for st in state.stages.values()
        for agent in st.primaries()
        if agent.status not in ("pending", "rolled_back")
    ]
    succeeded = sum(
        1 for st in state.stages.values() for a in st.primaries() if a.status == "succeeded"
    )
    changed: set[str] = set()
    for st in state.stages.values():
        for paths in st.changes.values():
            changed.update(paths)
    durations = {
        sid: round(st.ended_at - st.started_at, 3)
        for sid, st in state.stages.items()
        if st.started_at is not None and st.ended_at is not None and st.status != "rolled_back"
    }
    agent_count = len(agents)
    return {
        "phase_durations": durations,
        "agents": agent_count,
        "agents_succeeded": succeeded,
        "success_rate": round(succeeded / agent_count, 4) if agent_count else 0.0,
        "attempts": len(attempts),
        "retries": max(0, len(attempts) - agent_count),
        "mean_attempt_s": (
            round(sum(a.duration_s for a in finished) / len(finished), 3) if finished else 0.0
        ),
        "peak_rss_mb": round(max((a.peak_rss_mb for a in attempts), default=0.0), 1),
        "cpu_s": round(sum(a.cpu_s for a in attempts), 3),
        "tokens": sum(a.tokens for a in attempts),
        "cost_usd": round(sum(a.cost_usd for a in attempts), 6),
        "cost_estimated": any(a.cost_estimated for a in attempts),
        "cached_attempts": sum(1 for a in attempts if a.cached_from),
        "resumed_sessions": sum(1 for a in attempts if a.resumed_session),
        "tokens_saved": sum(a.saved_tokens for a in attempts),
        "cost_saved_usd": round(sum(a.saved_cost_usd for a in attempts), 6),
        "failures_by_category": _categories(finished),
        "conflicts": len(state.live_conflicts()),
        "open_conflicts": len(state.open_conflicts()),
        "rollback_points": len(state.rollback_points),
        "rollback_points_verified": sum(1 for p in state.rollback_points if p.verified),
        "rollbacks": len(state.rollbacks),
        "changed_files": len(changed),
        "quality_metrics": quality_metrics(state),
        "agent_performance": agent_performance(state),
    }


def _categories(attempts: list[Any]) -> dict[str, int]:
    out: dict[str, int] = {}
    for a in attempts:
        if a.category:
            out[a.category] = out.get(a.category, 0) + 1
    return out
