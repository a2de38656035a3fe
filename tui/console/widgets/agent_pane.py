"""One live pane per agent of the selected stage, laid out to fit the room there is."""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich.cells import set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Vertical
from textual.events import MouseScrollDown, MouseScrollUp, Resize
from textual.geometry import Region, Size
from textual.strip import Strip
from textual.widget import Widget
from textual.widgets import Static

from engine.run.exhaustion import limits_change
from engine.state.records import AgentState, StageState
from engine.store.database import StoredLog
from engine.workflow.models import Workflow
from tui.console.widgets.formatting import (
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


class AgentLog(Widget, can_focus=False):
    """The pane's tail: a bounded buffer of which only the rows on screen are rendered, one
    plain segment each, and no scrollbar. It never scrolls in Textual's sense (a scroll costs a
    pass over the whole screen's layout): it follows the tail, or stays ``back`` lines above it
    while the operator reads (the pane takes the focus and the keys)."""

    ALLOW_MAXIMIZE = False
    ALLOW_SELECT = False
    """Text is selected and copied in the full log (``l``), which holds every line."""
    DEFAULT_CSS = """
    AgentLog { height: 1fr; background: $surface; color: $text; }
    """

    def __init__(self, max_lines: int = PANE_LINES) -> None:
        super().__init__()
        self.max_lines = max_lines
        self._lines: list[str] = []
        self._back = 0
        """Lines between the bottom row and the tail (0: following the tail)."""
        self._dropped = 0
        """Lines pruned from the front so far: ``_lines[i]`` is line ``_dropped + i``."""
        self._strips: dict[int, Strip] = {}
        self._strips_for: tuple[int, Style] | None = None
        self._style = Style()
        self._size = Size(0, 0)

    @property
    def lines(self) -> Sequence[str]:
        return self._lines

    @property
    def line_count(self) -> int:
        return len(self._lines)

    @property
    def back(self) -> int:
        return self._back

    def write_lines(self, lines: list[str]) -> None:
        self._lines.extend(lines)
        excess = len(self._lines) - self.max_lines
        if excess > 0:
            del self._lines[:excess]
            self._dropped += excess
        if self._back:
            self._back = min(self._back + len(lines), self._max_back())
        self.refresh()

    def clear(self) -> None:
        self._lines.clear()
        self._strips.clear()
        self._back = 0
        self.refresh()

    def move(self, how: str) -> None:
        """``up``, ``down``, ``page_up``, ``page_down``, ``home`` or ``end``."""
        page = max(1, self.size.height - 1)
        steps = {"up": 1, "down": -1, "page_up": page, "page_down": -page}
        if how == "home":
            back = self._max_back()
        elif how == "end":
            back = 0
        else:
            back = self._back + steps[how]
        back = max(0, min(back, self._max_back()))
        if back != self._back:
            self._back = back
            self.refresh()

    def _max_back(self) -> int:
        """Far enough back to show the first line (above the row that says what is below)."""
        height = max(1, self.size.height)
        return 0 if len(self._lines) <= height else len(self._lines) - height + 1

    def on_mouse_scroll_up(self, event: MouseScrollUp) -> None:
        event.stop()
        for _ in range(3):
            self.move("up")

    def on_mouse_scroll_down(self, event: MouseScrollDown) -> None:
        event.stop()
        for _ in range(3):
            self.move("down")

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()

    def render_lines(self, crop: Region) -> list[Strip]:
        # both cost a walk up the DOM: once per frame, not once per line
        self._style = self.rich_style
        self._size = self.size
        return super().render_lines(crop)

    def render_line(self, y: int) -> Strip:
        width, height = self._size
        style = self._style
        if self._strips_for != (width, style) or len(self._strips) > 4 * height:
            self._strips.clear()
            self._strips_for = (width, style)
        if self._back and y == height - 1:
            more = f"↓ {self._back} newer line{'s' if self._back > 1 else ''} (end)"
            return self._strip(more, width, style + Style(dim=True, italic=True))
        top = max(0, len(self._lines) - height - self._back + (1 if self._back else 0))
        index = top + y
        if index >= len(self._lines):
            return Strip.blank(width, style)
        key = self._dropped + index
        strip = self._strips.get(key)
        if strip is None:
            strip = self._strips[key] = self._strip(self._lines[index], width, style)
        return strip

    @staticmethod
    def _strip(text: str, width: int, style: Style) -> Strip:
        if "\t" in text:
            text = text.expandtabs()
        text = text[:width].ljust(width) if text.isascii() else set_cell_size(text, width)
        return Strip([Segment(text, style)], width)


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
        self._title_widget = Static(classes="pane-title")
        self._info_widget = Static(classes="pane-info")
        self._log_widget = AgentLog(PANE_LINES)

    def compose(self) -> ComposeResult:
        yield self._title_widget
        yield self._info_widget
        yield self._log_widget

    @property
    def log_widget(self) -> AgentLog:
        return self._log_widget

    def action_scroll_log(self, how: str) -> None:
        self.log_widget.move(how)

    def show(
        self, agent: AgentState, workflow: Workflow | None, now: float, *, remote: bool = False
    ) -> None:
        """``remote``: attempts run on other machines (a Dask cluster); the info line names the
        host of the current one."""
        variables = theme_colors(self.app)
        title = Text(no_wrap=True, overflow="ellipsis")
        title.append_text(status_text(agent.status, variables, word=False))
        title.append(" " + agent_text(agent.title or agent.id, 60), style="bold")
        if agent.title and agent.title != agent.id:
            title.append(f" ({agent.id})", style="dim")
        if agent.backup_of:
            title.append(f" backup of {agent.backup_of}", style="dim italic")
        show_text(self._title_widget, title)
        show_text(self._info_widget, self._info_text(agent, workflow, now, variables, remote))
        self.set_class(agent.status == "failed", "-failed")
        self.set_class(agent.status == "running", "-running")

    def _info_text(
        self,
        agent: AgentState,
        workflow: Workflow | None,
        now: float,
        variables: dict[str, str],
        remote: bool = False,
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
            if remote and current.host:
                info.append(f"  on {agent_text(current.host, 40)}", style="dim")
            if current.cached_from:  # reused an earlier attempt's result instead of running
                info.append(f"  cached from {agent_text(current.cached_from, 60)}", style="bold")
            elif current.resumed_session:
                info.append("  resumed session", style="dim")
            if changed := limits_change(live[-2] if len(live) > 1 else None, current):
                info.append(f"  {changed}", style="bold")  # raised after an exhaustion
            if current.throttled_s:  # held to cpu_percent: paused (signals) or throttled (cgroup)
                held = "throttled" if (current.cpu_limit or "").startswith("cgroup") else "paused"
                info.append(f"  {held} {duration(current.throttled_s)}", style="dim")
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
        self._panes: dict[str, AgentPane] = {}
        """The mounted panes by agent (a DOM query for each batch of lines costs more)."""

    def panes(self) -> list[AgentPane]:
        return list(self._panes.values())

    def pane(self, agent_id: str) -> AgentPane | None:
        return self._panes.get(agent_id)

    async def set_agents(self, stage: StageState | None, agent_ids: list[str]) -> bool:
        """Mount one pane per agent; False when nothing changed."""
        stage_id = stage.id if stage else None
        mounted = list(self._panes) == agent_ids  # not so after a remount that was cancelled
        if stage_id == self.stage_id and agent_ids == self.agent_ids and mounted:
            return False
        self.stage_id = stage_id
        self.agent_ids = list(agent_ids)
        if self.current not in agent_ids:
            self.current = agent_ids[0] if agent_ids else None
        self._panes = {}
        await self.remove_children()
        if stage_id is not None:
            panes = [AgentPane(stage_id, aid) for aid in agent_ids]
            await self.mount_all(panes)
            self._panes = {p.agent_id: p for p in panes}
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
