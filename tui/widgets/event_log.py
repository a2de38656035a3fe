"""The Events tab: the run's event log, one line per event, filtered as you type."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Log

from engine.events import Event
from engine.progress import progress_line
from tui.widgets.formatting import agent_text, clock_time

KEEP = 20_000
"""Event lines kept for filtering; older ones stay in the store (``phaseboard status``)."""


def event_line(event: Event) -> str:
    d = event.data
    where = ".".join(str(d[k]) for k in ("stage", "agent") if d.get(k))
    summary = progress_line(event) or ""
    summary = summary.splitlines()[0] if summary else ""
    who = f" by {event.operator}" if event.operator else ""
    text = f"{event.seq:>5} {clock_time(event.ts)} {event.kind:<20} {where:<28} {summary}{who}"
    return agent_text(text.rstrip())


class EventLog(Vertical):
    DEFAULT_CSS = """
    EventLog { height: 1fr; }
    EventLog Input { height: 1; border: none; padding: 0 1; }
    EventLog Log { height: 1fr; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self._lines: list[str] = []
        self._filter = ""

    def compose(self) -> ComposeResult:
        yield Input(
            placeholder="filter events (kind, stage, agent, text)", id="event-filter", compact=True
        )
        yield Log(id="event-lines", max_lines=KEEP, highlight=False)

    def add(self, events: list[Event]) -> None:
        if not events:
            return
        lines = [event_line(e) for e in events]
        self._lines.extend(lines)
        if len(self._lines) > KEEP:
            del self._lines[: len(self._lines) - KEEP]
        shown = [line for line in lines if self._matches(line)]
        if shown:
            self.query_one("#event-lines", Log).write_lines(shown)

    def reset(self) -> None:
        self._lines.clear()
        self.query_one("#event-lines", Log).clear()

    def _matches(self, line: str) -> bool:
        return not self._filter or all(word in line.lower() for word in self._filter.split())

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._filter = event.value.strip().lower()
        log = self.query_one("#event-lines", Log)
        log.clear()
        log.write_lines([line for line in self._lines if self._matches(line)])
