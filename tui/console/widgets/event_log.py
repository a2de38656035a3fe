"""The Events tab: the run's event log, one line per event, filtered as you type."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Log

from engine.reports.progress_lines import progress_line
from engine.state.events import Event
from tui.console.widgets.formatting import agent_text, clock_time

KEEP = 20_000
"""Event lines kept for filtering; older ones stay in the store (``phaseboard status``)."""


def event_line(event: Event) -> str:
    """``seq time what happened`` (the kind and where, when there is no progress line for it)."""
    d = event.data
    summary = (progress_line(event) or "").split("\n", 1)[0]
    if not summary:
        where = ".".join(str(d[k]) for k in ("stage", "agent") if d.get(k))
        summary = f"{event.kind} {where}".rstrip()
    who = f" (by {event.operator})" if event.operator else ""
    return agent_text(f"{event.seq:>4} {clock_time(event.ts)} {summary}{who}")


class EventLog(Vertical):
    DEFAULT_CSS = """
    EventLog { height: 1fr; }
    EventLog Input { height: 1; border: none; padding: 0 1; }
    EventLog Log { height: 1fr; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._lines: list[tuple[str, str]] = []
        """(what the filter searches: the kind and the line, lower-cased; the line shown)."""
        self._filter: list[str] = []

    def compose(self) -> ComposeResult:
        yield Input(
            placeholder="filter events (kind, stage, agent, text)", id="event-filter", compact=True
        )
        yield Log(id="event-lines", max_lines=KEEP, highlight=False)

    def add(self, events: list[Event]) -> None:
        if not events:
            return
        lines = []
        for event in events:
            line = event_line(event)
            lines.append((f"{event.kind} {line}".lower(), line))
        self._lines.extend(lines)
        if len(self._lines) > KEEP:
            del self._lines[: len(self._lines) - KEEP]
        shown = [line for haystack, line in lines if self._matches(haystack)]
        if shown:
            self.query_one("#event-lines", Log).write_lines(shown)

    def _matches(self, haystack: str) -> bool:
        return all(word in haystack for word in self._filter)

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._filter = event.value.lower().split()
        log = self.query_one("#event-lines", Log)
        log.clear()
        log.write_lines([line for haystack, line in self._lines if self._matches(haystack)])
