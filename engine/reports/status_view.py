"""What ``phaseboard status`` and ``phaseboard runs`` print, built from the folded state.

``status_document`` is the JSON contract of INTERFACE.md section 1 that scripts rely on: keys are
only ever added to it. ``status_lines`` is the same picture for a person at an 80-column terminal.
"""

from __future__ import annotations

import json
import re
import shlex
import textwrap
import time
from datetime import UTC, datetime
from typing import Any

from engine.consolidation.evidence import evidence_line
from engine.reports.forecast import Forecast
from engine.reports.next_actions import next_actions
from engine.state.metrics import run_metrics
from engine.state.records import AgentState, AttemptState, ConflictState, StageState
from engine.state.run_state import RunState
from engine.store.database import RunRow
from engine.support.sanitize import sanitize_line

WIDTH = 80
NOTE = '"..."'
MAX_EVIDENCE_SHOWN = 3
"""Evidence lines shown per candidate of a conflict; ``status --json`` has them all."""
"""Stands for the operator's note in the commands shown; pasted as it is, it still runs."""
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_ICONS = {
    "succeeded": "[ok]",
    "running": "[..]",
    "pending": "[  ]",
    "failed": "[!!]",
    "missing": "[??]",
    "skipped": "[--]",
    "rolled_back": "[rb]",
}


def iso(ts: float | None) -> str | None:
    """An event time as ISO-8601 in UTC, the form of every time phaseboard prints."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def plain(value: Any, limit: int | None = None) -> str:
    """One line of agent-supplied text that cannot drive the terminal: white space collapsed,
    escape sequences removed, other control characters made visible."""
    text = sanitize_line(" ".join(str(value).split()))
    if limit is not None and len(text) > limit:
        text = text[: max(0, limit - 1)] + "…"
    return text


# -- status --json ---------------------------------------------------------------------------


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
        "duration_s": _duration(state.started_at, state.ended_at),
        "reason": state.reason,
        "awaiting": next_actions(state),
        "workflow_path": state.workflow_path,
        "run_dir": state.run_dir,
        "params": dict(state.params),
        "last_seq": state.last_seq,
    }


def _duration(start: float | None, end: float | None) -> float | None:
    if start is None or end is None:
        return None
    return round(end - start, 3)


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
        "duration_s": _duration(st.started_at, st.ended_at),
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


# -- runs --json -----------------------------------------------------------------------------


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
        "duration_s": _duration(started, ended if ended is not None else now),
        "run_dir": run_dir,
    }


# -- status (for people) ---------------------------------------------------------------------


def status_lines(state: RunState, outlook: Forecast | None = None) -> list[str]:
    """A compact plain-text view; every line fits in 80 columns, and commands stay pasteable
    (a long one is split with a trailing backslash). ``outlook`` adds progress and the ETA."""
    run = state.run_id
    lines = [
        f"run {run}  workflow {plain(state.workflow_name)}",
        f"status {state.status}   decision {state.decision or '-'}",
        f"started {iso(state.started_at) or '-'}   ended {iso(state.ended_at) or '-'}",
        f"workspace {plain(state.workspace)}",
    ]
    if state.reason:
        lines += _wrap(f"reason: {plain(state.reason)}", "  ")
    if outlook is not None:
        lines += progress_lines(outlook)
    lines += ["", "stages"]
    for st in state.stages.values():
        lines += _stage_lines(st)
    lines += _conflict_lines(state)
    lines += _checkpoint_lines(state)
    if state.rollback_points:
        lines += ["", "rollback points"]
        for p in state.rollback_points:
            where = f"{p.stage}.{p.agent}" if p.agent else p.stage
            check = "verified" if p.verified else "unverified"
            lines.append(f"  {p.id:<6} before {where}  {p.files} files  {check}  {p.at}")
            lines += _command_lines(["phaseboard", "rollback", run, p.id], "    ")
    awaiting = next_actions(state)
    if awaiting:
        lines += ["", "awaiting the operator"]
        for item in awaiting:
            lines += _wrap(f"- {plain(item)}", "    ", first="  ")
    lines += ["", f"decision: {state.decision or 'none yet'}"]
    return [_fit(line) for line in lines]


def progress_lines(outlook: Forecast) -> list[str]:
    """Progress, the estimate and its basis, the active agents and the blockers."""
    eta = "unknown" if outlook.eta_s is None else _span(outlook.eta_s)
    lines = [
        f"progress {outlook.percent}% ({outlook.done} of {outlook.total} steps)   eta {eta}",
        *_wrap(f"({plain(outlook.basis)})", "  ", first="  "),
    ]
    if outlook.current:
        lines += _wrap(f"current: {', '.join(outlook.current)}", "  ")
    if outlook.active:
        lines += _wrap(f"active: {', '.join(outlook.active)}", "  ")
    for blocker in outlook.blockers:
        lines += _wrap(f"blocker: {plain(blocker.text)}", "  ")
    return lines


def _span(seconds: float) -> str:
    minutes, secs = divmod(round(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def _fit(line: str) -> str:
    line = _UNSAFE.sub("?", line)
    return line if len(line) <= WIDTH else line[: WIDTH - 1] + "…"


def _wrap(text: str, indent: str, first: str = "") -> list[str]:
    return textwrap.wrap(
        text, WIDTH, initial_indent=first, subsequent_indent=indent, break_on_hyphens=False
    ) or [first]


def _command_lines(words: list[str], indent: str) -> list[str]:
    """A command split at word boundaries with `` \\`` continuations, so it pastes as one."""
    lines: list[str] = []
    current = indent
    for word in (w if w == NOTE else shlex.quote(w) for w in words):
        if current.strip() and len(current) + 1 + len(word) + 2 > WIDTH:
            lines.append(current + " \\")
            current = indent + "  " + word
        else:
            current = f"{current} {word}" if current.strip() else current + word
    lines.append(current)
    return lines


def _stage_lines(st: StageState) -> list[str]:
    icon = _ICONS.get(st.status, "[  ]")
    took = _duration(st.started_at, st.ended_at)
    head = f"{icon} {st.id:<24} {st.kind:<13} {st.status:<11}"
    if took is not None:
        head += f" {took:.1f}s"
    lines = [head.rstrip()]
    if st.reason and st.status != "succeeded":
        lines.append(f"       {plain(st.reason)}")
    for agent in st.agents.values():
        if agent.standby and not agent.attempts:
            continue
        live = [a for a in agent.attempts if not a.rolled_back]
        count = len(live)
        tries = f"{count} attempt{'s' if count != 1 else ''}"
        row = f"     {_ICONS.get(agent.status, '[  ]')} {agent.id:<22} {agent.status:<11} {tries}"
        if agent.backup_of:
            row += f"  (backup of {agent.backup_of})"
        lines.append(row)
        last = live[-1] if live else None
        if last is not None and last.status == "failed":
            why = plain(last.error or agent.reason or "")
            lines.append(
                f"          last error: {last.category or 'failed'}{': ' if why else ''}{why}"
            )
        if last is not None and last.cpu_limit:
            held = "paused" if last.cpu_limit == "signals" else "throttled"
            lines.append(f"          cpu limit: {last.cpu_limit} ({held} {last.throttled_s:.1f}s)")
        for attempt in live:  # limits raised (or left at a cap) after an exhaustion
            if attempt.limits_reason:
                text = f"attempt {attempt.n}: {plain(attempt.limits_reason)}"
                lines += _wrap(text, " " * 12, first=" " * 10)
    return lines


def _conflict_lines(state: RunState) -> list[str]:
    open_conflicts = state.open_conflicts()
    if not open_conflicts:
        return []
    lines = ["", f"open conflicts ({len(open_conflicts)})"]
    for c in open_conflicts:
        lines.append(f"  {c.id}  {c.severity:<8}  {c.stage}  {plain(c.path)}")
        if c.reason:
            lines += textwrap.wrap(
                plain(c.reason, 400), WIDTH, initial_indent="    why: ", subsequent_indent=" " * 9
            )
        for agent, value in c.candidates.items():
            lines.append(f"    {agent} = {plain(_short(value))}")
            for item in c.evidence.get(agent, [])[:MAX_EVIDENCE_SHOWN]:
                lines.append(f"      from {plain(evidence_line(item), 100)}")
        first = next(iter(c.candidates), "STAGE.AGENT")
        words = ["phaseboard", "resolve", state.run_id, c.id, "--pick", first]
        lines += _command_lines(words, "    ")
    return lines


def _checkpoint_lines(state: RunState) -> list[str]:
    checkpoints = [st for st in state.stages.values() if st.kind == "checkpoint" and st.criteria]
    if not checkpoints:
        return []
    lines = ["", "checkpoints"]
    for st in checkpoints:
        verdict = f"  decision {st.decision.get('verdict')}" if st.decision else ""
        result = "passed" if st.passed else "failed"
        accepted = "  (accepted)" if st.accepted else ""
        lines.append(f"  {st.id}  {result}{accepted}{verdict}")
        for c in st.criteria:
            if not c.get("passed"):
                value = plain(_short(c.get("value")), 30)
                lines.append(f"    x {c.get('id')} ({c.get('severity')}) value {value}")
        if not st.passed and not st.accepted:
            words = ["phaseboard", "accept", state.run_id, st.id, "--note", NOTE]
            lines += _command_lines(words, "    ")
    return lines


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:59] + "…"
