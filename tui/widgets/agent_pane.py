"""One live pane per agent of the selected stage, laid out to fit the room there is."""

from __future__ import annotations

import math

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Vertical
from textual.css.query import NoMatches
from textual.events import Resize
from textual.widgets import Log, Static

from engine.state import AgentState, StageState
from engine.store import StoredLog
from engine.workflow import Workflow
from tui.widgets.formatting import (
    agent_text,
    duration,
    result_summary,
    show_text,
    status_style,
    status_text,
    theme_colors,
)

PANE_LINES = 500
"""Lines a pane keeps: a bounded window onto the full log, which stays in the store."""
MIN_PANE_W = 26
MIN_PANE_H = 6
"""Below this many rows per stacked pane, the panes fold to one line but the current one."""


def max_attempts(workflow: Workflow | None, stage_id: str, agent_id: str) -> int | None:
    if workflow is None:
        return None
    try:
        spec = workflow.effective(workflow.agent(stage_id, agent_id))
    except (KeyError, LookupError, ValueError):
        return None
    retries = getattr(spec, "retries", None)
    return None if retries is None else int(retries) + 1


class AgentLog(Log, can_focus=False):
    """The pane's tail (the pane itself takes the focus and scrolls it)."""

    ALLOW_MAXIMIZE = False

    def _update_size(self, updates: int, lines: list[str]) -> None:  # type: ignore[override]
        """No width tracking: a pane never scrolls sideways (``Log`` starts a thread for it on
        every write, which under a flood of lines competes with the event loop)."""


class AgentPane(Vertical, can_focus=True):
    """Title, status, attempt n/N, elapsed time, peak memory, result, and the log tail."""

    ALLOW_MAXIMIZE = True
    DEFAULT_CSS = """
    AgentPane { height: 1fr; min-height: 1; }
    AgentPane .pane-title, AgentPane .pane-info {
        height: 1; text-wrap: nowrap; text-overflow: ellipsis;
    }
    AgentPane AgentLog { height: 1fr; }
    AgentPane.-collapsed .pane-info, AgentPane.-collapsed AgentLog { display: none; }
    """
    BINDINGS = [
        Binding("up", "scroll_log('up')", "Scroll up", show=False),
        Binding("down", "scroll_log('down')", "Scroll down", show=False),
        Binding("pageup", "scroll_log('page_up')", "Page up", show=False),
        Binding("pagedown", "scroll_log('page_down')", "Page down", show=False),
        Binding("home", "scroll_log('home')", "Top", show=False),
        Binding("end", "scroll_log('end')", "End", show=False),
        Binding("enter", "screen.log", "full log", show=False),
    ]

    def __init__(self, stage_id: str, agent_id: str) -> None:
        super().__init__(id=f"pane-{agent_id}", classes="agent-pane")
        self.stage_id = stage_id
        self.agent_id = agent_id
        self._attempt_shown = 0
        self._max_attempts: int | None = None
        self._max_known = False

    def compose(self) -> ComposeResult:
        yield Static(classes="pane-title")
        yield Static(classes="pane-info")
        yield AgentLog(max_lines=PANE_LINES, auto_scroll=True, highlight=False)

    @property
    def log_widget(self) -> AgentLog:
        return self.query_one(AgentLog)

    def action_scroll_log(self, how: str) -> None:
        log = self.log_widget
        moves = {
            "up": log.scroll_up,
            "down": log.scroll_down,
            "page_up": log.scroll_page_up,
            "page_down": log.scroll_page_down,
            "home": log.scroll_home,
            "end": log.scroll_end,
        }
        moves[how](animate=False)

    def show(self, agent: AgentState, workflow: Workflow | None, now: float) -> None:
        variables = theme_colors(self.app)
        title = Text(no_wrap=True, overflow="ellipsis")
        title.append_text(status_text(agent.status, variables, word=False))
        title.append(" " + agent_text(agent.title or agent.id, 60), style="bold")
        if agent.title and agent.title != agent.id:
            title.append(f" ({agent.id})", style="dim")
        if agent.backup_of:
            title.append(f" backup of {agent.backup_of}", style="dim italic")
        try:
            title_widget = self.query_one(".pane-title", Static)
            info_widget = self.query_one(".pane-info", Static)
        except NoMatches:
            return  # being mounted or removed as the followed stage changes; the next tick shows it
        show_text(title_widget, title)
        show_text(info_widget, self._info(agent, workflow, now, variables))
        self.set_class(agent.status == "failed", "-failed")
        self.set_class(agent.status == "running", "-running")

    def _info(
        self, agent: AgentState, workflow: Workflow | None, now: float, variables: dict[str, str]
    ) -> Text:
        info = Text(no_wrap=True, overflow="ellipsis")
        info.append(agent.status, style=status_style(agent.status, variables))
        live = [a for a in agent.attempts if not a.rolled_back]
        current = live[-1] if live else None
        if not self._max_known:
            self._max_attempts = max_attempts(workflow, self.stage_id, self.agent_id)
            self._max_known = workflow is not None
        total = self._max_attempts
        if current is not None:
            of = f"/{total}" if total and len(live) <= total else ""
            scope = " reduced" if current.scope == "reduced" else ""
            info.append(f"  #{len(live)}{of}{scope}")
            end = current.ended_at if current.ended_at is not None else now
            took = current.duration_s if current.ended_at is not None else end - current.started_at
            info.append(f"  {duration(took)}")
            peak = max((a.peak_rss_mb for a in live), default=0.0)
            info.append(f"  {peak:.0f}MB" if peak else "  -MB", style="dim")
        if agent.status == "succeeded" and agent.result is not None:
            info.append("  " + result_summary(agent.result), style="italic")
        elif current is not None and current.status == "failed":
            why = current.category or "failed"
            detail = f": {agent_text(current.error, 80)}" if current.error else ""
            info.append(f"  {why}{detail}", style=status_style("failed", variables))
        elif agent.reason:
            info.append("  " + agent_text(agent.reason, 80), style="dim")
        return info

    def write_rows(self, rows: list[StoredLog], *, reset: bool, skipped: bool) -> None:
        """One ``write_lines`` per batch: line-by-line writes are far slower under load."""
        log = self.log_widget
        if reset:
            log.clear()
            self._attempt_shown = 0
        lines: list[str] = []
        if skipped:
            lines.append("… lines skipped here (press l for the full log)")
        for row in rows[-PANE_LINES:]:
            if row.attempt != self._attempt_shown:
                self._attempt_shown = row.attempt
                lines.append(f"── attempt {row.attempt} ──")
            lines.append(agent_text(row.text))
        if lines:
            log.write_lines(lines)


class AgentGrid(Container):
    """The panes of one stage: side by side when wide enough, else stacked; when stacked panes
    would be too short to read, only the current one keeps its log (the others show one line)."""

    DEFAULT_CSS = """
    AgentGrid { layout: grid; grid-size: 1; grid-gutter: 0 1; height: 1fr; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.stage_id: str | None = None
        self.agent_ids: list[str] = []
        self.current: str | None = None
        """The agent whose pane stays open when the panes are folded."""

    def panes(self) -> list[AgentPane]:
        return list(self.query(AgentPane))

    def pane(self, agent_id: str) -> AgentPane | None:
        return next((p for p in self.panes() if p.agent_id == agent_id), None)

    async def set_agents(self, stage: StageState | None, agent_ids: list[str]) -> bool:
        """Mount one pane per agent; False when nothing changed."""
        stage_id = stage.id if stage else None
        if stage_id == self.stage_id and agent_ids == self.agent_ids:
            return False
        self.stage_id = stage_id
        self.agent_ids = list(agent_ids)
        if self.current not in agent_ids:
            self.current = agent_ids[0] if agent_ids else None
        await self.remove_children()
        if stage_id is not None:
            await self.mount_all([AgentPane(stage_id, aid) for aid in agent_ids])
        self._layout()
        return True

    def set_current(self, agent_id: str | None) -> None:
        if agent_id != self.current and agent_id in self.agent_ids:
            self.current = agent_id
            self._layout()

    def on_resize(self, event: Resize) -> None:
        self._layout()

    def _layout(self) -> None:
        width, height = self.size
        count = max(1, len(self.agent_ids))
        columns = max(1, min(count, width // MIN_PANE_W)) if width else 1
        rows = math.ceil(count / columns)
        fold = rows > 1 and bool(height) and height // rows < MIN_PANE_H
        if fold:
            columns, rows = 1, count
        self.styles.grid_size_columns = columns
        self.styles.grid_size_rows = rows
        if fold:
            self.styles.grid_rows = " ".join(
                "1fr" if aid == self.current else "1" for aid in self.agent_ids
            )
        else:
            self.styles.grid_rows = "1fr"
        for pane in self.panes():
            pane.set_class(bool(fold) and pane.agent_id != self.current, "-collapsed")
