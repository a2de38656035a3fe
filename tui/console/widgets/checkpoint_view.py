"""The Checkpoints tab: each criterion with its value, and the go/no-go decision matrix."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from engine.state.records import StageState
from engine.state.run_state import RunState
from tui.console.widgets.formatting import (
    VERDICT_STYLES,
    agent_text,
    json_short,
    resolve_style,
    theme_colors,
)


def _mark(passed: bool | None, variables: dict[str, str]) -> Text:
    if passed is None:
        return Text("-", style="dim")
    if passed:
        return Text("pass", style=resolve_style("$success", variables))
    return Text("FAIL", style=resolve_style("bold $error", variables))


def _value(value: Any, error: str | None = None) -> Text:
    if error:
        return Text(agent_text(f"error: {error}", 60), style="italic")
    return Text(json_short(value, 40))


def criteria_table(st: StageState, variables: dict[str, str]) -> Table:
    table = Table(box=None, padding=(0, 1), show_edge=False, expand=False, header_style="bold")
    for name in ("criterion", "severity", "result", "value"):
        table.add_column(name, no_wrap=True, overflow="ellipsis")
    for c in st.criteria:
        table.add_row(
            Text(agent_text(c.get("id", ""), 40)),
            Text(str(c.get("severity", ""))),
            _mark(bool(c.get("passed")), variables),
            _value(c.get("value"), c.get("error")),
        )
    return table


def decision_table(decision: dict[str, Any], variables: dict[str, str]) -> RenderableType:
    table = Table(box=None, padding=(0, 1), show_edge=False, header_style="bold")
    table.add_column("go/no-go", no_wrap=True, overflow="ellipsis", max_width=60)
    table.add_column("result", no_wrap=True)
    table.add_column("value", no_wrap=True, overflow="ellipsis")
    for check in decision.get("critical", []):
        table.add_row(
            Text("critical: " + agent_text(check.get("description") or check.get("expr", ""), 56)),
            _mark(bool(check.get("passed")), variables),
            _value(check.get("value"), check.get("error")),
        )
    for warn in decision.get("warnings", []):
        table.add_row(
            Text("warning: " + agent_text(warn.get("description") or warn.get("expr", ""), 56)),
            Text(f"+{warn.get('count', 0)}"),
            _value(warn.get("value"), warn.get("error")),
        )
    verdict = str(decision.get("verdict", ""))
    summary = Text()
    summary.append(f"critical {'pass' if decision.get('critical_pass') else 'FAIL'}")
    summary.append(f" · failed warning checks {decision.get('warning_count', 0)}")
    summary.append(
        f" · PROCEED below {decision.get('proceed_below')}, "
        f"CONDITIONAL below {decision.get('conditional_below')}, else BLOCK · verdict "
    )
    style = resolve_style(VERDICT_STYLES.get(verdict, ""), variables)
    summary.append(f" {verdict} ", style=f"bold reverse {style}".strip())
    return Group(table, summary)


class CheckpointView(VerticalScroll):
    """Rendered from the folded state; checkpoints are few, so one rich renderable will do."""

    def compose(self) -> ComposeResult:
        yield Static(id="checkpoint-body")

    def show(self, state: RunState) -> None:
        variables = theme_colors(self.app)
        parts: list[RenderableType] = []
        for st in state.stages.values():
            if st.kind != "checkpoint":
                continue
            head = Text(no_wrap=True)
            head.append(f"◆ {st.id}", style="bold")
            if st.passed is None:
                head.append("  not evaluated yet", style="dim")
            else:
                head.append("  ")
                head.append_text(_mark(st.passed, variables))
            if st.accepted:
                note = agent_text(st.accepted.get("note", ""), 80)
                head.append(f"  accepted by {agent_text(st.accepted.get('by', ''), 40)}: {note}")
            parts.append(head)
            if st.criteria:
                parts.append(criteria_table(st, variables))
            if st.decision:
                parts.append(decision_table(st.decision, variables))
            parts.append(Text(""))
        body = Group(*parts) if parts else Text("this workflow has no checkpoints", style="dim")
        self.query_one("#checkpoint-body", Static).update(body)
