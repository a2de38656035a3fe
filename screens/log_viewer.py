"""An agent's full log: any size, paged from the store; search with the lines around each match."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from tui.console.watcher import RunBatch
from tui.console.widgets.formatting import agent_text
from tui.console.widgets.log_source import LogSource
from tui.console.widgets.log_view import StoreLogView

if TYPE_CHECKING:
    from tui.console.app import PhaseboardApp

CONTEXT = 2
MAX_MATCHES = 100_000


class LogScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "back", "back", id="log.back", tooltip="Back (or close the search)"),
        Binding("slash", "search", "search", id="log.search", tooltip="Search the whole log"),
        Binding("n", "next_match(1)", "next", id="log.next", tooltip="Next match"),
        Binding("N", "next_match(-1)", "prev", id="log.prev", tooltip="Previous match"),
        Binding(
            "y",
            "copy_line",
            "copy line",
            id="log.copy",
            tooltip="Copy the line under the cursor to the clipboard (OSC 52)",
        ),
        Binding(
            "Y",
            "copy_result",
            "copy result",
            id="log.copy_result",
            tooltip="Copy the agent's result (JSON) to the clipboard",
        ),
        Binding("f", "follow", "follow", id="log.follow", tooltip="Follow new lines at the end"),
    ]

    def __init__(self, stage: str, agent: str) -> None:
        super().__init__(classes="log-screen")
        self.stage = stage
        self.agent = agent
        self.matches: list[int] = []
        self.match_index = -1
        self.query_text = ""
        self._reading = False
        self._read_again = False

    @property
    def pb(self) -> PhaseboardApp:
        return cast("PhaseboardApp", self.app)

    def compose(self) -> ComposeResult:
        self.source = LogSource(self.pb.store, self.pb.state.run_id, self.stage, self.agent)
        yield Static(id="log-title")
        yield StoreLogView(self.source, id="log-view")
        yield Input(
            placeholder="search (enter: find all; n/N: next/previous)",
            id="log-search",
            compact=True,
        )
        yield Static(id="log-context")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.query_one("#log-search", Input).display = False
        self.pb.run_changed.subscribe(self, self.on_batch, immediate=True)
        self.query_one(StoreLogView).focus()
        self.on_batch(RunBatch(self.pb.state))

    def on_batch(self, batch: RunBatch) -> None:
        agent = batch.state.stages[self.stage].agents[self.agent]
        self.source.set_attempts([a.n for a in agent.attempts])
        self.read_more()
        self._title()

    def _title(self) -> None:
        agent = self.pb.state.stages[self.stage].agents[self.agent]
        view = self.query_one(StoreLogView)
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f" {self.stage}.{self.agent}", style="bold")
        text.append(f"  {agent_text(agent.title, 40)}  {agent.status}")
        text.append(f"  {len(agent.attempts)} attempts  {self.source.total} lines")
        text.append(f"  line {view.cursor + 1}" if self.source.total else "")
        text.append("  following" if view.follow else "", style="italic")
        self.query_one("#log-title", Static).update(text)

    def read_more(self) -> None:
        if self._reading:
            self._read_again = True
            return
        self._reading = True
        self.run_worker(self._read_more(), group="log-read", exit_on_error=False)

    async def _read_more(self) -> None:
        try:
            while True:
                self._read_again = False
                if await self.source.extend():
                    self.query_one(StoreLogView).grew()
                    self._title()
                if not self._read_again:
                    return
        finally:
            self._reading = False

    def on_store_log_view_cursor_moved(self, event: StoreLogView.CursorMoved) -> None:
        self._title()

    # -- search ----------------------------------------------------------------------------

    def action_search(self) -> None:
        box = self.query_one("#log-search", Input)
        box.display = True
        box.focus()

    def action_back(self) -> None:
        box = self.query_one("#log-search", Input)
        if box.display and self.focused is box:
            box.display = False
            self.query_one(StoreLogView).focus()
            return
        self.dismiss()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.query_text = event.value.strip().lower()
        view = self.query_one(StoreLogView)
        view.match_query = self.query_text
        view.refresh()
        view.focus()
        if self.query_text:
            self.find_all(self.query_text)

    @work(exclusive=True, group="log-search", exit_on_error=False)
    async def find_all(self, needle: str) -> None:
        found = await self.source.find(needle, MAX_MATCHES)
        self.matches = found
        self.match_index = -1
        if not found:
            self.query_one("#log-context", Static).update(Text(f"no match for {needle!r}"))
            return
        cursor = self.query_one(StoreLogView).cursor
        after = [i for i, n in enumerate(found) if n >= cursor]
        self.match_index = (after[0] if after else 0) - 1
        await self._goto(1)

    def action_next_match(self, step: int) -> None:
        if self.matches:
            self.run_worker(self._goto(step), group="log-goto", exclusive=True)

    async def _goto(self, step: int) -> None:
        self.match_index = (self.match_index + step) % len(self.matches)
        n = self.matches[self.match_index]
        view = self.query_one(StoreLogView)
        view.move_to(n, center=True)
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(
            f"match {self.match_index + 1}/{len(self.matches)} at line {n + 1}\n", style="bold"
        )
        for i in range(max(0, n - CONTEXT), min(self.source.total, n + CONTEXT + 1)):
            line = await self.source.get(i)
            mark = ">" if i == n else " "
            text.append(
                f"{mark}{i + 1:>7} {line.text if line else ''}\n", style="bold" if i == n else ""
            )
        self.query_one("#log-context", Static).update(text)

    # -- copy and follow -------------------------------------------------------------------

    def action_copy_line(self) -> None:
        view = self.query_one(StoreLogView)
        line = self.source.line(view.cursor)
        if line is None:
            return
        self.pb.copy_to_clipboard(line.text)
        self.notify(f"line {view.cursor + 1} copied to the clipboard", markup=False)

    def action_copy_result(self) -> None:
        agent = self.pb.state.stages[self.stage].agents[self.agent]
        if agent.result is None:
            self.notify("no result yet", severity="warning", markup=False)
            return
        self.pb.copy_to_clipboard(json.dumps(agent.result, indent=2, default=str))
        self.notify("result copied to the clipboard", markup=False)

    def action_follow(self) -> None:
        view = self.query_one(StoreLogView)
        view.follow = not view.follow
        if view.follow:
            view.action_jump_end()
        self._title()
