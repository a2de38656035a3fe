"""What the operator can do next, and what stands in the run's way, from the run's current state.

The engine names the actions when it pauses, but a paused run changes while it waits: a conflict
is resolved by another console, an agent is reset for a retry, a checkpoint is accepted. So the
actions and blockers are computed from the folded state every time they are shown (``status``,
the console's banner, the continuity file, the headless closing lines), never read back from the
pause event: once a paused checkpoint would pass as the state stands, the one thing left is
``resume``.

Each action is one line, ``what to do: the command that does it``.
"""

from __future__ import annotations

from dataclasses import dataclass

from engine.checkpoints.evaluate import evaluate_checkpoint
from engine.state.records import AgentState, StageState
from engine.state.run_state import RunState
from engine.support.text import command
from engine.workflow.models import CheckpointStage

WAITING = ("paused", "interrupted", "stopped")
"""Statuses in which the run waits for someone to act."""


@dataclass(frozen=True)
class Blocker:
    kind: str
    """``conflict``, ``criterion`` or ``exhausted``."""
    text: str


def waiting_checkpoint(state: RunState) -> StageState | None:
    """The checkpoint the run is paused at: failed (or still evaluating), not accepted, the first
    such in the slice."""
    for sid in state.stage_order():
        st = state.stages[sid]
        if state.in_slice(sid) and st.kind == "checkpoint" and st.status in ("failed", "running"):
            return st if st.accepted is None else None
    return None


def failing_now(state: RunState, st: StageState) -> list[str]:
    """The criteria of checkpoint ``st`` that fail when evaluated on the state as it stands."""
    spec = state.workflow.stage(st.id) if state.workflow else None
    if not isinstance(spec, CheckpointStage):
        return [str(c.get("id")) for c in st.criteria if not c.get("passed")]
    evaluation = evaluate_checkpoint(spec, state, state.criteria_override)
    mode = evaluation.mode
    return [
        str(c["id"])
        for c in evaluation.criteria
        if not c["passed"] and (mode == "strict" or c.get("severity") == "critical")
    ]


def failed_agents_before(state: RunState, checkpoint: str) -> list[tuple[str, str]]:
    """(stage, agent) of the agents that failed, uncovered, since the checkpoint before this one."""
    order = [sid for sid in state.stage_order() if state.in_slice(sid)]
    found: list[tuple[str, str]] = []
    for sid in reversed(order[: order.index(checkpoint)]):
        st = state.stages[sid]
        if st.kind == "checkpoint":
            break
        if st.kind != "agents":
            continue
        for agent in st.primaries():
            if agent.status in ("failed", "missing") and not st.covered(agent):
                found.append((sid, agent.id))
    return found


def next_actions(state: RunState, pausing: bool = False) -> list[str]:
    """What the operator can do now, most useful first; [] while the run needs no one.
    ``pausing``: the engine is about to pause the run (its status still says running)."""
    status = "paused" if pausing else state.status
    if status not in WAITING:
        return []
    run = state.run_id
    actions = []
    for conflict in state.open_conflicts():
        names = list(conflict.candidates)
        pick = command(
            "phaseboard", "resolve", run, conflict.id, "--pick", names[0] if names else "AGENT"
        )
        actions.append(
            f"resolve conflict {conflict.id} ({conflict.path}, {conflict.severity}; "
            f"candidates {', '.join(names)}): {pick}"
        )
    checkpoint = waiting_checkpoint(state) if status == "paused" else None
    if checkpoint is not None:
        for sid, aid in failed_agents_before(state, checkpoint.id):
            agent = state.stages[sid].agents[aid]
            more = ["--more-memory"] if _last_exhausted(agent) == "memory" else []
            retry = command("phaseboard", "retry", run, f"{sid}.{aid}", *more)
            why = " with more memory" if more else ""
            actions.append(f"retry {sid}.{aid}{why}: {retry}")
        still = failing_now(state, checkpoint)
        if still:
            accept = command("phaseboard", "accept", run, checkpoint.id, "--note", "TEXT")
            actions.append(f"or accept the failed criteria ({', '.join(still)}): {accept}")
            return actions
    resume = command("phaseboard", "resume", run)
    if checkpoint is not None and not actions:
        actions.append(f"resume: checkpoint {checkpoint.id} now passes: {resume}")
    elif not actions:
        actions.append(f"resume the run: {resume}")
    return actions


def blockers(state: RunState) -> list[Blocker]:
    """What stands in the way as the state stands: open critical conflicts, criteria of the
    waiting checkpoint that still fail, agents stopped at a limit or budget with no way on."""
    found = [
        Blocker("conflict", f"critical conflict {c.id} at {c.path}")
        for c in state.open_conflicts()
        if c.severity == "critical"
    ]
    checkpoint = waiting_checkpoint(state)
    if checkpoint is not None:
        for criterion in failing_now(state, checkpoint):
            found.append(Blocker("criterion", f"{checkpoint.id}: criterion {criterion} fails"))
    for st in state.stages.values():
        for agent in st.primaries():
            if _exhausted(agent) and not st.covered(agent):
                found.append(Blocker("exhausted", f"{st.id}.{agent.id}: {_why(agent)}"))
    return found


def _last_exhausted(agent: AgentState) -> str | None:
    """What stopped the agent's last attempt: ``memory``, ``tokens``, ``cost_usd`` or None."""
    live = [a for a in agent.attempts if not a.rolled_back]
    return live[-1].exhausted if live and live[-1].category == "resource_exhausted" else None


def _exhausted(agent: AgentState) -> bool:
    live = [a for a in agent.attempts if not a.rolled_back]
    return agent.status == "failed" and bool(live) and live[-1].category == "resource_exhausted"


def _why(agent: AgentState) -> str:
    last = [a for a in agent.attempts if not a.rolled_back][-1]
    return f"resource exhausted ({last.error or 'limit reached'})"
