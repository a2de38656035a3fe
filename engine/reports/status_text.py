"""``phaseboard status`` for a person at an 80-column terminal: every line fits, agent text is
made safe, and the commands shown stay pasteable (a long one is split with a backslash)."""

from __future__ import annotations

import json
import re
import shlex
import textwrap
from typing import Any

from engine.consolidation.evidence import evidence_line
from engine.reports.forecast import Forecast
from engine.reports.next_actions import next_actions
from engine.state.metrics import run_metrics
from engine.state.records import AttemptState, StageState
from engine.state.run_state import RunState
from engine.support.text import duration_between, iso, plain

WIDTH = 80
NOTE = '"..."'
"""Stands for the operator's note in the commands shown; pasted as it is, it still runs."""
MAX_EVIDENCE_SHOWN = 3
"""Evidence lines shown per candidate of a conflict; ``status --json`` has them all."""
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
    if state.executor:
        where = f"{state.executor.get('kind')} {state.executor.get('scheduler', '')}"
        lines.append(f"executor {plain(where)}")
    if state.reason:
        lines += _wrap(f"reason: {plain(state.reason)}", "  ")
    if outlook is not None:
        lines += progress_lines(outlook)
    lines += ["", "stages"]
    for st in state.stages.values():
        lines += _stage_lines(st, remote=bool(state.executor))
    lines += _metrics_lines(state)
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


def _stage_lines(st: StageState, *, remote: bool = False) -> list[str]:
    """A stage and its agents; ``remote``: each agent's last attempt says the host it ran on."""
    icon = _ICONS.get(st.status, "[  ]")
    took = duration_between(st.started_at, st.ended_at)
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
        last = live[-1] if live else None
        if remote and last is not None and last.host:
            row += f"  on {plain(last.host)}"
        lines.append(row)
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
            for text in _saved(attempt):
                lines += _wrap(f"attempt {attempt.n}: {text}", " " * 12, first=" " * 10)
    return lines


def _saved(attempt: AttemptState) -> list[str]:
    """A cached attempt's source, or the session a resumed one continued, and what it saved."""
    spent = f"{attempt.saved_tokens} tokens, ${attempt.saved_cost_usd:.4f} not spent again"
    if attempt.cached_from:
        return [f"cached from {plain(attempt.cached_from)}", spent]
    if attempt.resumed_session:
        return [f"resumed session {plain(attempt.resumed_session, 40)}", f"about {spent}"]
    return []


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
    checkpoints = [
        st
        for st in state.stages.values()
        if st.kind == "checkpoint" and (st.criteria or st.decision or st.passed is not None)
    ]
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
        for check in (st.decision or {}).get("critical") or []:
            if not check.get("passed"):
                lines += _wrap(f"x critical: {plain(check_words(check))}", "      ", first="    ")
        for check in (st.decision or {}).get("warnings") or []:
            if check.get("count"):
                lines += _wrap(f"! warning: {plain(check_words(check))}", "      ", first="    ")
        if not st.passed and not st.accepted:
            words = ["phaseboard", "accept", state.run_id, st.id, "--note", NOTE]
            lines += _command_lines(words, "    ")
    return lines


def check_words(check: dict[str, Any]) -> str:
    """A go/no-go check as the operator reads it: its description, else its expression."""
    said = str(check.get("description") or check.get("expr") or "?")
    value = check.get("value")
    return said if value is None or isinstance(value, bool) else f"{said} (value {_short(value)})"


def _metrics_lines(state: RunState) -> list[str]:
    """The run's main figures on one line (``status --json`` has every metric)."""
    m = run_metrics(state)
    if not m["attempts"]:
        return []
    figures = (
        f"metrics  {m['attempts']} attempts, {m['retries']} retries, "
        f"success {round(100 * m['success_rate'])}%, peak {m['peak_rss_mb']:.0f} MB, "
        f"cpu {m['cpu_s']:.1f}s"
    )
    if m["tokens"]:
        figures += f", {m['tokens']} tokens"
    lines = ["", figures]
    if m["tokens_saved"]:
        lines.append(
            f"saved    {m['tokens_saved']} tokens, ${m['cost_saved_usd']:.4f} "
            f"({m['cached_attempts']} cached, {m['resumed_sessions']} resumed)"
        )
    return lines


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else text[:59] + "…"
