"""The run's one-line header and the banner that says when the operator is needed."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static

from engine.reports.forecast import Forecast, History, forecast
from engine.reports.next_actions import Blocker, blockers, next_actions
from engine.state.run_state import RunState
from tui.console.widgets.formatting import (
    VERDICT_STYLES,
    agent_text,
    duration,
    resolve_style,
    show_text,
    status_style,
    status_text,
    theme_colors,
)

RESUMABLE = ("paused", "interrupted", "stopped", "running", "pending", "failed")
"""Statuses a run can be resumed from once no engine drives it."""
STALLED = ("paused", "interrupted", "stopped", "running", "pending")
"""Statuses that call for an engine: the banner offers one when none is alive."""


def verdict(state: RunState) -> str | None:
    """The run's go/no-go decision, or the newest checkpoint verdict before the run ends."""
    if state.decision:
        return state.decision
    for st in reversed(list(state.stages.values())):
        if st.decision and st.status != "rolled_back":
            return str(st.decision.get("verdict"))
    return None


def run_elapsed(state: RunState, now: float) -> float | None:
    if state.started_at is None:
        return None
    end = state.ended_at if state.ended_at is not None else now
    return end - state.started_at


class RunHeader(Horizontal):
    """Run name, id, status, elapsed time, progress and estimate, active agents and blockers,
    engine and the go/no-go badge."""

    history = History()
    """Durations of earlier runs of this workflow (set by the app when it opens the run)."""

    DEFAULT_CSS = """
    RunHeader { height: 1; background: $panel; }
    RunHeader #run-title { width: 1fr; text-wrap: nowrap; text-overflow: ellipsis; }
    RunHeader #run-state { width: auto; }
    RunHeader #run-badge { width: auto; }
    """

    def compose(self) -> ComposeResult:
        yield Static(id="run-title")
        yield Static(id="run-state")
        yield Static(id="run-badge")

    def on_mount(self) -> None:
        self._blockers: tuple[tuple[str, int], list[Blocker]] = (("", -1), [])

    def outlook(self, state: RunState, now: float) -> Forecast:
        """The forecast at ``now``; blockers are worked out again only when the state moved."""
        key = (state.run_id, state.last_seq)
        if self._blockers[0] != key:
            self._blockers = (key, blockers(state))
        return forecast(state, self.history, now, self._blockers[1])

    def show(self, state: RunState, now: float, engine: str) -> None:
        """``engine`` is ``live``, ``starting`` or ``none``."""
        variables = theme_colors(self.app)
        title = Text(no_wrap=True, overflow="ellipsis")
        title.append(" " + agent_text(state.workflow_name or "…", 24), style="bold")
        title.append(f"  {state.run_id}")
        show_text(self.query_one("#run-title", Static), title)
        where = Text(no_wrap=True)
        where.append("  ")
        where.append_text(status_text(state.status, variables))
        where.append(f"  {duration(run_elapsed(state, now))}")
        if state.workflow is not None:
            where.append_text(progress_text(self.outlook(state, now), state.status))
        where.append("  ")
        show_text(self.query_one("#run-state", Static), where)
        badge = Text(no_wrap=True)
        marks = {"live": ("⚙ engine", "success"), "starting": ("⚙ starting", "warning")}
        label, color = marks.get(engine, ("⚙ no engine", "text-muted"))
        badge.append(label + " ", style=resolve_style(f"${color}", variables) or "dim")
        decided = verdict(state)
        if decided:
            style = resolve_style(VERDICT_STYLES.get(decided, ""), variables)
            badge.append(f" {decided} ", style=f"bold reverse {style}".strip())
        show_text(self.query_one("#run-badge", Static), badge)


def progress_text(outlook: Forecast, status: str) -> Text:
    """``  43% · eta 2m10s · 2 active · 1 blocker``; the eta only while it can be known."""
    text = Text(f"  {outlook.percent}%")
    if status not in ("completed", "failed"):
        eta = "unknown" if outlook.eta_s is None else duration(outlook.eta_s)
        text.append(
            f" · eta {eta}" + (" once resumed" if outlook.waiting and outlook.eta_s else "")
        )
    if outlook.active:
        text.append(f" · {len(outlook.active)} active")
    if outlook.blockers:
        count = len(outlook.blockers)
        text.append(f" · {count} blocker{'s' if count > 1 else ''}", style="bold")
    return text


class PauseBanner(Static):
    """Shown while the run waits for the operator, or when no engine drives it."""

    DEFAULT_CSS = """
    PauseBanner {
        height: auto; max-height: 7; display: none; padding: 0 1;
        text-wrap: nowrap; text-overflow: ellipsis;
    }
    PauseBanner.-shown { display: block; }
    """

    def show(self, state: RunState, engine: str) -> None:
        variables = theme_colors(self.app)
        text = Text(no_wrap=True, overflow="ellipsis")
        if state.status == "paused":
            text.append("Ⅱ PAUSED ", style=f"bold {status_style('paused', variables)}")
            text.append(agent_text(state.reason or "waiting for the operator", 200))
            for line in next_actions(state)[:4]:
                human = line.split(": phaseboard ", 1)[0]
                text.append("\n  • " + agent_text(human, 200))
            keys = "c resolve · a accept · r retry · b rollback · p resume"
            text.append(f"\n  keys: {keys}", style="bold")
        elif engine == "none" and state.status in STALLED and state.workflow is not None:
            text.append("! NO ENGINE ", style=f"bold {status_style('interrupted', variables)}")
            text.append(f"this run is {state.status} and nothing drives it. ")
            text.append("p: resume it in the background", style="bold")
        else:
            self.set_class(False, "-shown")
            return
        show_text(self, text)
        self.set_class(True, "-shown")
