"""Switching runs: every run in the database, newest first."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from engine.store.database import RunRow
from tui.console.launcher import engine_alive
from tui.console.widgets.formatting import agent_text, duration

if TYPE_CHECKING:
    from tui.console.app import PhaseboardApp


def started_text(row: RunRow) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(row.started_at or row.created_at))


class RunPickerScreen(Screen[str | None]):
    """Dismisses with the chosen run id (None: stay where you were)."""

    BINDINGS = [
        Binding("escape", "cancel", "back", id="runs.back", tooltip="Back without switching"),
        Binding(
            "enter",
            "open",
            "open",
            id="runs.open",
            priority=True,
            tooltip="Open the highlighted run",
        ),
    ]

    def __init__(self) -> None:
        super().__init__(classes="run-picker")
        self.rows: list[RunRow] = []

    @property
    def pb(self) -> PhaseboardApp:
        return cast("PhaseboardApp", self.app)

    def compose(self) -> ComposeResult:
        yield Static(
            Text(" Runs in this database (newest first): enter opens", style="bold"),
            id="runs-title",
        )
        yield DataTable(id="runs", cursor_type="row", zebra_stripes=True)
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        table = self.query_one("#runs", DataTable)
        for key, label in (
            ("id", "run"),
            ("workflow", "workflow"),
            ("status", "status"),
            ("decision", "decision"),
            ("started", "started (UTC)"),
            ("took", "duration"),
        ):
            table.add_column(label, key=key)
        table.focus()
        self.load()

    @work(exclusive=True, group="runs", exit_on_error=False)
    async def load(self) -> None:
        store = self.pb.store
        rows = await store.runs()
        table = self.query_one("#runs", DataTable)
        table.clear()
        self.rows = rows
        now = self.pb.clock()
        for r in rows:
            status = r.status
            if status in ("running", "pending") and not await engine_alive(store, r.id):
                status = "interrupted" if status == "running" else "not started"
            end = r.ended_at or (now if status == "running" else None)
            took = duration(end - (r.started_at or r.created_at)) if end else "-"
            table.add_row(
                r.id,
                Text(agent_text(r.workflow, 24)),
                status,
                r.decision or "-",
                started_text(r),
                took,
                key=r.id,
            )
        if not rows:
            self.query_one("#runs-title", Static).update(
                Text(
                    " No runs yet: start one with `phaseboard run WORKFLOW` or `phaseboard demo`",
                    style="bold",
                )
            )
        current = self.pb.run_id
        if current in [r.id for r in rows]:
            table.move_cursor(row=[r.id for r in rows].index(current), animate=False)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        row = self.query_one("#runs", DataTable).cursor_row
        if 0 <= row < len(self.rows):
            self.dismiss(self.rows[row].id)

    def action_cancel(self) -> None:
        if self.pb.run_id is None:
            self.pb.exit(0)
        else:
            self.dismiss(None)
