"""What the agents area shows for a stage without agents: a consolidation or a checkpoint."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text

from engine.state.records import StageState
from engine.state.run_state import RunState
from tui.console.widgets.formatting import agent_text, duration, json_short


def stage_summary(st: StageState, state: RunState) -> RenderableType:
    lines: list[RenderableType] = []
    head = Text(no_wrap=True, overflow="ellipsis")
    head.append(f"{st.kind} {st.id}", style="bold")
    head.append(f"  {st.status}")
    if st.started_at is not None and st.ended_at is not None:
        head.append(f"  {duration(st.ended_at - st.started_at)}")
    lines.append(head)
    if st.title and st.title != st.id:
        lines.append(Text(agent_text(st.title, 120), style="italic"))
    if st.reason:
        lines.append(Text(agent_text(st.reason, 200), style="dim"))
    if st.kind == "consolidation":
        lines += _consolidation(st, state)
    elif st.kind == "checkpoint":
        lines += _checkpoint(st)
    if len(lines) == 1 and st.status == "pending":
        lines.append(Text("not started yet", style="dim"))
    return Group(*lines)


def _consolidation(st: StageState, state: RunState) -> list[RenderableType]:
    if st.document is None:
        return []
    doc = st.document
    synthesis = doc.get("synthesis") or {}
    conflicts = [c for c in state.live_conflicts() if c.stage == st.id]
    open_ = [c for c in conflicts if not c.resolved]
    risks = (synthesis.get("risk_assessment") or {}).get("risks") or []
    out: list[RenderableType] = [
        Text(f"inputs: {agent_text(', '.join(map(str, doc.get('inputs') or [])), 200)}"),
        Text(f"merged findings: {len(synthesis.get('findings') or {})}  risks: {len(risks)}"),
        Text(f"conflicts: {len(conflicts)} ({len(open_)} open)  — c resolves, tab 1 shows all"),
    ]
    for c in open_[:5]:
        out.append(Text(f"  ! {c.id} {agent_text(c.path, 60)} ({c.severity})", style="bold"))
    return out


def _checkpoint(st: StageState) -> list[RenderableType]:
    out: list[RenderableType] = []
    for c in st.criteria:
        mark = "✔" if c.get("passed") else "✘"
        value = json_short(c.get("value"), 30)
        out.append(Text(f"  {mark} {agent_text(c.get('id', ''), 40)} = {value}", no_wrap=True))
    if st.decision:
        d = st.decision
        out.append(
            Text(
                f"decision: {d.get('verdict')} (critical {'pass' if d.get('critical_pass') else 'FAIL'},"
                f" warnings {d.get('warning_count')})",
                style="bold",
            )
        )
    if st.accepted:
        out.append(Text(f"accepted: {agent_text(st.accepted.get('note', ''), 100)}"))
    return out
