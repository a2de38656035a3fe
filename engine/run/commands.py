"""Operator commands: durable requests applied exactly once, by the live engine or the CLI.

Each command is a row in the store; applying it writes its effect events and marks
the row applied in the same transaction, so a command is never lost and never
applied twice, whoever applies it.
"""

from __future__ import annotations

import json
from typing import Any

from engine.checkpoints.evaluate import evaluate_checkpoint
from engine.run.command_types import COMMAND_KINDS, CommandRejected, Outcome
from engine.run.exhaustion import more_memory
from engine.run.rollback import find_point, roll_back
from engine.run.session import RunSession, now_iso
from engine.state.events import (
    AgentReset,
    CheckpointAccepted,
    CommandApplied,
    ConflictResolved,
    Payload,
    RunStatusChanged,
)
from engine.store.database import Command
from engine.workflow.models import AgentsStage, CheckpointStage, CriteriaMode

__all__ = ["COMMAND_KINDS", "CommandRejected", "Outcome", "apply_command"]


async def apply_command(session: RunSession, cmd: Command, *, live: bool) -> Outcome:
    """Apply one command row; ``live`` is True inside a running engine."""
    try:
        payloads, message = await _effects(session, cmd, live=live)
    except CommandRejected as exc:
        outcome = Outcome(False, str(exc))
        await _record(session, cmd, [], outcome)
        return outcome
    outcome = Outcome(True, message)
    await _record(session, cmd, payloads, outcome)
    return outcome


async def _record(
    session: RunSession, cmd: Command, payloads: list[Payload], outcome: Outcome
) -> None:
    applied = CommandApplied(
        command_id=cmd.id, command=cmd.kind, ok=outcome.ok, message=outcome.message, by=cmd.operator
    )
    await session.emit(
        *payloads, applied, command=(cmd.id, outcome.as_dict()), operator=cmd.operator
    )


async def _effects(session: RunSession, cmd: Command, *, live: bool) -> tuple[list[Payload], str]:
    handler = {
        "retry": _retry,
        "resolve": _resolve,
        "accept": _accept,
        "rollback": _rollback,
        "stop": _stop,
        "pause": _pause,
        "resume": _resume,
    }.get(cmd.kind)
    if handler is None:
        raise CommandRejected(f"unknown command {cmd.kind!r}")
    return await handler(session, cmd, live)


def _paused_hint(session: RunSession, live: bool, what: str) -> list[Payload]:
    """Without a live engine the run stays paused until `resume`."""
    if live or session.state.status in ("paused",):
        return []
    return [
        RunStatusChanged(
            status="paused",
            reason=f"{what}; run `phaseboard resume {session.run_id}` to continue",
        )
    ]


async def _retry(session: RunSession, cmd: Command, live: bool) -> tuple[list[Payload], str]:
    ref = str(cmd.args.get("agent", ""))
    mode = str(cmd.args.get("mode", "same"))
    stage_id, _, agent_id = ref.partition(".")
    state = session.state
    if stage_id not in state.stages or not agent_id:
        raise CommandRejected(f"unknown agent {ref!r} (use STAGE.AGENT)")
    spec = session.workflow.stage(stage_id)
    if not isinstance(spec, AgentsStage):
        raise CommandRejected(
            f"stage {stage_id!r} is a {spec.kind} stage; only agents can be retried"
        )
    agents = {a.id: a for a in spec.agents}
    agents.update({a.id: a for a in (spec.extended.agents if spec.extended else [])})
    agent = agents.get(agent_id)
    if agent is None or agent_id not in state.stages[stage_id].agents:
        raise CommandRejected(f"unknown agent {ref!r}: stage {stage_id!r} has {', '.join(agents)}")
    if agent.standby:
        raise CommandRejected(
            f"{ref} is a standby backup; retry the agent it backs up with --backup"
        )
    current = state.stages[stage_id].agents[agent_id]
    if current.status == "running":
        raise CommandRejected(f"{ref} is running now")
    if mode == "backup" and not agent.backup:
        raise CommandRejected(f"{ref} has no backup agent")
    if mode == "reduced" and agent.reduced_scope is None:
        raise CommandRejected(f"{ref} has no reduced_scope")
    reset = AgentReset(stage=stage_id, agent=agent_id, mode=mode, by=cmd.operator)  # type: ignore[arg-type]
    how = mode
    if cmd.args.get("more_memory"):
        if mode == "backup":
            raise CommandRejected(f"more memory is for {ref} itself, not with its backup")
        plan = more_memory(session.workflow.effective(agent), current, cmd.operator)
        if plan.refused:
            raise CommandRejected(f"{ref} cannot get more memory: {plan.refused}")
        reset = reset.model_copy(update={"memory_mb": plan.memory_mb, "limits_reason": plan.reason})
        how += f", memory {plan.current} → {plan.memory_mb} MB"
    payloads: list[Payload] = [reset, *_paused_hint(session, live, f"retry of {ref} requested")]
    return payloads, f"{ref} will run again ({how})"


def _candidate(candidates: dict[str, Any], pick: str) -> str:
    if pick in candidates:
        return pick
    short = [k for k in candidates if k.partition(".")[2] == pick]
    if len(short) == 1:
        return short[0]
    raise CommandRejected(f"{pick!r} is not a candidate; choose one of: {', '.join(candidates)}")


async def _resolve(session: RunSession, cmd: Command, live: bool) -> tuple[list[Payload], str]:
    cid = str(cmd.args.get("conflict", ""))
    conflict = session.state.conflicts.get(cid)
    if conflict is None or conflict.rolled_back:
        known = ", ".join(c.id for c in session.state.live_conflicts()) or "none"
        raise CommandRejected(f"unknown conflict {cid!r} (conflicts of this run: {known})")
    if conflict.resolved and conflict.resolution:
        r = conflict.resolution
        raise CommandRejected(
            f"conflict {cid} was already resolved by {r.get('by')} at {r.get('at')}"
        )
    picked: str | None = None
    if cmd.args.get("pick"):
        picked = _candidate(conflict.candidates, str(cmd.args["pick"]))
        value = conflict.candidates[picked]
    elif "value" in cmd.args:
        raw = cmd.args["value"]
        try:
            value = json.loads(raw) if isinstance(raw, str) else raw
        except json.JSONDecodeError as exc:
            raise CommandRejected(
                f"--value is not valid JSON: {exc.msg} at column {exc.colno}"
            ) from None
    else:
        raise CommandRejected("give --pick AGENT or --value JSON")
    payloads: list[Payload] = [
        ConflictResolved(
            conflict=cid,
            stage=conflict.stage,
            path=conflict.path,
            value=value,
            picked=picked,
            note=str(cmd.args.get("note", "")),
            by=cmd.operator,
            at=now_iso(),
        )
    ]
    return payloads, f"conflict {cid} ({conflict.path}) resolved"


async def _accept(session: RunSession, cmd: Command, live: bool) -> tuple[list[Payload], str]:
    sid = str(cmd.args.get("checkpoint", ""))
    note = str(cmd.args.get("note", "")).strip()
    st = session.state.stages.get(sid)
    if st is None or st.kind != "checkpoint":
        names = [s.id for s in session.state.stages.values() if s.kind == "checkpoint"]
        raise CommandRejected(f"unknown checkpoint {sid!r} (checkpoints: {', '.join(names)})")
    if not note:
        raise CommandRejected("accept needs a --note saying why")
    if st.passed is None:
        raise CommandRejected(f"checkpoint {sid} has not been evaluated yet")
    if st.passed:
        raise CommandRejected(f"checkpoint {sid} passed; there is nothing to accept")
    if st.accepted:
        raise CommandRejected(f"checkpoint {sid} was already accepted by {st.accepted.get('by')}")
    payloads: list[Payload] = [
        CheckpointAccepted(stage=sid, note=note, by=cmd.operator, at=now_iso())
    ]
    return payloads, f"checkpoint {sid} accepted as a documented exception"


async def _rollback(session: RunSession, cmd: Command, live: bool) -> tuple[list[Payload], str]:
    ref = str(cmd.args.get("point", ""))
    point = find_point(session, ref)
    if point is None:
        known = ", ".join(f"{p.id} ({p.stage})" for p in session.state.rollback_points) or "none"
        raise CommandRejected(f"unknown rollback point {ref!r} (points: {known})")
    running = [
        f"{st.id}.{a.id}"
        for st in session.state.stages.values()
        for a in st.agents.values()
        if a.status == "running"
    ]
    if running:
        raise CommandRejected(f"agents are still running: {', '.join(running)}")
    event = await roll_back(session, point)
    hold = RunStatusChanged(
        status="paused",
        reason=f"rolled back to {point.id}; run `phaseboard resume {session.run_id}` to continue",
    )
    return [event, hold], f"rolled back to {point.id} (before {point.stage})"


async def _stop(session: RunSession, cmd: Command, live: bool) -> tuple[list[Payload], str]:
    if session.state.status in ("completed", "failed", "stopped"):
        raise CommandRejected(f"run is already {session.state.status}")
    payloads: list[Payload] = (
        [] if live else [RunStatusChanged(status="stopped", reason="stopped by operator")]
    )
    return payloads, "run stopped"


async def _pause(session: RunSession, cmd: Command, live: bool) -> tuple[list[Payload], str]:
    if session.state.status != "running":
        raise CommandRejected(f"run is {session.state.status}, not running")
    return [], "run will pause after the current stage"


async def _resume(session: RunSession, cmd: Command, live: bool) -> tuple[list[Payload], str]:
    if not live:
        raise CommandRejected(f"no engine is running; use `phaseboard resume {session.run_id}`")
    return [], "run resumed"


async def reevaluate_paused_checkpoints(
    session: RunSession, criteria_override: CriteriaMode | None
) -> None:
    """After a resolution or acceptance, show what the failed checkpoints now say."""
    for st in session.state.stages.values():
        if st.kind == "checkpoint" and st.passed is False and st.status == "failed":
            spec = session.workflow.stage(st.id)
            assert isinstance(spec, CheckpointStage)
            await session.emit(evaluate_checkpoint(spec, session.state, criteria_override))
