"""``SESSION_CONTINUITY.md``: where a run stands and the commands that take it further."""

from __future__ import annotations

import json
from typing import Any

from engine.consolidation.evidence import evidence_line
from engine.reports.issues import FAILED, decisions
from engine.reports.next_actions import next_actions
from engine.reports.summary import stage_duration
from engine.reports.text import as_text, decisions_md, md, md_code, md_row, tidy
from engine.state.run_state import RunState
from engine.support.text import command, iso


def render_continuity(state: RunState) -> str:
    run = state.run_id
    lines = [f"# Session continuity: {md(run)}", ""]
    lines.append(f"- Workflow: {md(state.workflow_name)} ({md_code(state.workflow_path)})")
    lines.append(f"- Workspace: {md_code(state.workspace)}")
    lines.append(f"- As of: {iso(state.last_ts or None) or '-'} (event {state.last_seq})")
    lines += _where(state)
    awaiting = next_actions(state)
    if awaiting:
        lines += ["", "## Awaiting the operator", ""]
        lines += [f"- {md(item, 300)}" for item in awaiting]
    lines += _open_conflicts_md(state)
    lines += _failed_checkpoints_md(state)
    lines += _failed_agents_md(state)
    lines += decisions_md(decisions(state))
    lines += ["", "## Rollback points", ""]
    for p in state.rollback_points:
        where = f"{p.stage}.{p.agent}" if p.agent else p.stage
        verified = "verified" if p.verified else "not verified"
        lines.append(
            f"- {md(p.id)}: before {md(where)}, {md(p.at)}, {p.files} files, {verified}: "
            + md_code(command("phaseboard", "rollback", run, p.id))
        )
    if not state.rollback_points:
        lines.append("_None saved yet._")
    lines += ["", "## Next action", "", _next_action(state)]
    return "\n".join(tidy(lines)) + "\n"


def _where(state: RunState) -> list[str]:
    order = [st for sid, st in state.stages.items() if state.in_slice(sid)]
    current = next((st for st in order if st.status == "running"), None)
    completed = [st for st in order if st.status in ("succeeded", "skipped")]
    after = order.index(current) + 1 if current else 0
    upcoming = next(
        (st for st in order[after:] if st.status not in ("succeeded", "skipped", "running")), None
    )
    status = state.status + (f" ({md(state.reason, 200)})" if state.reason else "")
    lines = ["", "## Where the run stands", "", f"- Status: {status}"]
    lines.append(f"- Decision: {state.decision or 'none yet'}")
    lines.append(f"- Last completed stage: {completed[-1].id if completed else 'none'}")
    lines.append(f"- Current stage: {current.id if current else 'none'}")
    lines.append(f"- Next stage: {upcoming.id if upcoming else 'none'}")
    lines += ["", "| Stage | Kind | Status | Duration (s) |", "|---|---|---|---|"]
    for st in state.stages.values():
        took = stage_duration(st)
        lines.append(md_row(st.id, st.kind, st.status, "" if took is None else f"{took:.1f}"))
    return lines


def _open_conflicts_md(state: RunState) -> list[str]:
    lines = ["", "## Open conflicts", ""]
    conflicts = state.open_conflicts()
    if not conflicts:
        return [*lines, "_None._"]
    run = state.run_id
    for c in conflicts:
        lines += [f"### {md(c.id)}: {md(c.path)} ({c.severity}, stage {c.stage})", ""]
        if c.reason:
            lines += [md(c.reason), ""]
        for agent, value in c.candidates.items():
            pick = command("phaseboard", "resolve", run, c.id, "--pick", agent)
            lines.append(f"- {md(agent)} says {md_code(as_text(value))}: {md_code(pick)}")
            for item in c.evidence.get(agent, [])[:3]:
                lines.append(f"  - from {md_code(evidence_line(item))}")
        example = json.dumps(next(iter(c.candidates.values()), None), default=str)
        value = command("phaseboard", "resolve", run, c.id, "--value", example) + ' --note "..."'
        lines += ["", f"Or set a value of your own: {md_code(value)}", ""]
    return lines


def _failed_checkpoints_md(state: RunState) -> list[str]:
    lines = ["", "## Failed checkpoints", ""]
    failed = [
        st
        for st in state.stages.values()
        if st.kind == "checkpoint" and st.passed is False and st.accepted is None
    ]
    if not failed:
        return [*lines, "_None._"]
    for st in failed:
        bad = [c for c in st.criteria if not c.get("passed")]
        names = ", ".join(f"{c.get('id')} ({c.get('severity')})" for c in bad) or "none"
        accept = command("phaseboard", "accept", state.run_id, st.id) + ' --note "..."'
        lines.append(f"- {md(st.id)}: failed criteria {md(names)}.")
        lines.append(f"  To accept it as a documented exception: {md_code(accept)}")
    return lines


def _failed_agents_md(state: RunState) -> list[str]:
    lines = ["", "## Failed agents", ""]
    run = state.run_id
    found = False
    for st in state.stages.values():
        for agent in st.agents.values():
            if agent.status not in FAILED:
                continue
            found = True
            ref = f"{st.id}.{agent.id}"
            live = [a for a in agent.attempts if not a.rolled_back]
            last = live[-1] if live else None
            why = (last.error if last else None) or agent.reason or agent.status
            category = (last.category if last else None) or agent.status
            lines.append(f"- {md(ref)} ({category}): {md(why, 300)}")
            if agent.backup_of:  # a standby backup runs again only through its primary
                primary = f"{st.id}.{agent.backup_of}"
                again = md_code(command("phaseboard", "retry", run, primary))
                lines.append(f"  the backup of {md(primary)}: retry that agent: {again}")
                continue
            retries = [command("phaseboard", "retry", run, ref)]
            spec = _agent_spec(state, st.id, agent.id)
            if spec is not None and spec.reduced_scope is not None:
                retries.append(command("phaseboard", "retry", run, ref, "--reduced-scope"))
            if spec is not None and spec.backup:
                retries.append(command("phaseboard", "retry", run, ref, "--backup"))
            lines.append("  retry: " + " or ".join(md_code(r) for r in retries))
    return lines if found else [*lines, "_None._"]


def _agent_spec(state: RunState, stage_id: str, agent_id: str) -> Any:
    if state.workflow is None:
        return None
    try:
        return state.workflow.agent(stage_id, agent_id)
    except KeyError:
        return None


def _next_action(state: RunState) -> str:
    resume = md_code(command("phaseboard", "resume", state.run_id))
    report = md_code(command("phaseboard", "report", state.run_id))
    attach = md_code(command("phaseboard", "attach", state.run_id))
    if state.status == "running":
        return f"The run is in progress; watch it with {attach}."
    if state.status == "completed":
        return (
            f"Nothing: the run is finished ({state.decision or 'no decision'}). Report: {report}."
        )
    if state.status == "paused":
        return f"Deal with what is listed above, then {resume}."
    if state.status == "failed":
        return f"Retry the failed agents or roll back (commands above), then {resume}."
    return resume + "."
