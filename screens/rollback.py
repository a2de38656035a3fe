"""Rolling back: every rollback point, and a confirmation that says exactly what will be undone."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static

from engine.run.rollback import agents_undone, workspace_changes
from engine.run.session import RunSession
from engine.snapshots.take import WorkspaceDiff
from engine.state.records import RollbackPoint
from engine.state.run_state import RunState
from screens.modals import ConfirmModal
from tui.console.watcher import RunBatch
from tui.console.widgets.formatting import agent_text

if TYPE_CHECKING:
    from tui.console.app import PhaseboardApp

LIST_FILES = 5


def stages_undone(state: RunState, point: RollbackPoint) -> list[str]:
    """Stages whose results the rollback marks rolled_back (those that ran from the point on)."""
    order = state.stage_order()
    later = order[order.index(point.stage) :]
    return [sid for sid in later if state.stages[sid].status not in ("pending", "rolled_back")]


def changed_since(state: RunState, point: RollbackPoint) -> list[str]:
    """Files the stages from the point on recorded as changed (from their events)."""
    paths: set[str] = set()
    for sid in stages_undone(state, point):
        for files in state.stages[sid].changes.values():
            paths.update(files)
    return sorted(paths)


def where(point: RollbackPoint) -> str:
    return f"{point.stage}.{point.agent}" if point.agent else point.stage


def _files(label: str, paths: list[str]) -> str:
    if not paths:
        return ""
    shown = ", ".join(agent_text(p, 60) for p in paths[:LIST_FILES])
    more = f" … and {len(paths) - LIST_FILES} more" if len(paths) > LIST_FILES else ""
    return f"\n  {label}: {shown}{more}"


def confirmation(
    state: RunState, point: RollbackPoint, diff: WorkspaceDiff, commands: list[str]
) -> Text:
    """Everything the rollback will do, in the order it does it."""
    text = Text()
    text.append(f"Roll back run {state.run_id} to {point.id}", style="bold")
    text.append(f" (saved {point.at}, before {where(point)}).\n\n")
    if commands:
        text.append("Rollback commands run first (newest first): ")
        text.append(", ".join(reversed(commands)) + "\n")
    counts = (
        f"{len(diff.modified)} files reverted, {len(diff.added)} removed, "
        f"{len(diff.deleted)} recreated"
    )
    text.append("Workspace: ", style="bold")
    text.append(counts if diff.changed else "no file differs from the snapshot")
    text.append(_files("reverted", diff.modified))
    text.append(_files("removed", diff.added))
    text.append(_files("recreated", diff.deleted))
    undone = stages_undone(state, point)
    text.append("\nResults marked rolled_back (kept in the history): ", style="bold")
    text.append(", ".join(undone) or "none")
    text.append(f"\n\nThe run then waits, paused: p resumes it from {point.stage}.")
    return text


class RollbackScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "dismiss", "back", id="rollback.back", tooltip="Back to the main screen"),
        Binding(
            "enter",
            "choose",
            "roll back",
            id="rollback.choose",
            priority=True,
            tooltip="Roll back to the highlighted point (asks first)",
        ),
    ]

    @property
    def pb(self) -> PhaseboardApp:
        return cast("PhaseboardApp", self.app)

    def __init__(self) -> None:
        super().__init__(classes="rollback-screen")
        self._count = -1

    def compose(self) -> ComposeResult:
        yield Static(id="rollback-title")
        yield DataTable(id="points", cursor_type="row", zebra_stripes=True)
        yield Static(id="point-detail")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        table = self.query_one("#points", DataTable)
        for key, label in (
            ("id", "point"),
            ("before", "before"),
            ("at", "saved at (UTC)"),
            ("files", "files"),
            ("changed", "changed"),
            ("ok", "ok"),
        ):
            table.add_column(label, key=key)
        self.pb.run_changed.subscribe(self, self.on_batch, immediate=True)
        self.on_batch(RunBatch(self.pb.state))
        table.focus()

    def on_batch(self, batch: RunBatch) -> None:
        state = batch.state
        points = state.rollback_points
        self.query_one("#rollback-title", Static).update(
            Text(
                f" Rollback points of run {state.run_id} ({len(points)}): enter rolls back",
                style="bold",
            )
        )
        table = self.query_one("#points", DataTable)
        if len(points) != self._count or batch.events:
            keep = table.cursor_row if self._count >= 0 else len(points) - 1
            self._count = len(points)
            table.clear()
            for p in points:
                table.add_row(
                    p.id,
                    Text(where(p)),
                    p.at.replace("T", " ")[:19],
                    str(p.files),
                    str(len(changed_since(state, p))),
                    "✔" if p.verified else "-",
                    key=p.id,
                )
            if points:
                table.move_cursor(row=max(0, min(keep, len(points) - 1)), animate=False)
        self._detail()

    def highlighted(self) -> RollbackPoint | None:
        table = self.query_one("#points", DataTable)
        points = self.pb.state.rollback_points
        row = table.cursor_row
        return points[row] if 0 <= row < len(points) else None

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._detail()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_choose()

    def _detail(self) -> None:
        point = self.highlighted()
        if point is None:
            return
        state = self.pb.state
        text = Text()
        text.append(f"{point.id}: saved {point.at} before {where(point)}. ", style="bold")
        undone = stages_undone(state, point)
        text.append(f"Rolls back: {', '.join(undone) or 'nothing yet'}.")
        changed = changed_since(state, point)
        text.append(_files("files changed since", changed))
        self.query_one("#point-detail", Static).update(text)

    def action_choose(self) -> None:
        point = self.highlighted()
        if point is not None:
            self.notify(
                f"computing what rolling back to {point.id} would undo…", timeout=2, markup=False
            )
            self.prepare(point)

    @work(exclusive=True, group="rollback-diff", exit_on_error=False)
    async def prepare(self, point: RollbackPoint) -> None:
        state = self.pb.state
        session = RunSession(self.pb.store, state)
        diff = await workspace_changes(session, point)
        commands = [
            f"{sid}.{agent.id}" for sid, agent in agents_undone(session, point) if agent.rollback
        ]
        body = confirmation(state, point, diff, commands)

        def confirmed(yes: bool | None) -> None:
            if yes:
                self.pb.command("rollback", {"point": point.id}, done=lambda _o: self._done())

        self.pb.push_screen(
            ConfirmModal(f"Roll back to {point.id}?", body, yes="y roll back"), confirmed
        )

    def _done(self) -> None:
        if self.is_current:
            self.dismiss()
