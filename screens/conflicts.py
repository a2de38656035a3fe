"""Resolving conflicts: the candidates side by side; pick one, or type a JSON value, and a note."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, cast

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Input, Static

from engine.consolidation.evidence import evidence_line
from engine.run.commands import Outcome
from engine.state.records import ConflictState
from tui.console.watcher import RunBatch
from tui.console.widgets.conflict_table import ConflictTable
from tui.console.widgets.formatting import agent_text, json_pretty

if TYPE_CHECKING:
    from tui.console.app import PhaseboardApp


def parse_value(text: str) -> tuple[Any, str | None]:
    """The typed JSON value, or an error message saying where it does not parse."""
    try:
        return json.loads(text), None
    except json.JSONDecodeError as exc:
        return None, f"not valid JSON: {exc.msg} at column {exc.colno}"


class CandidateCard(Vertical):
    """One agent's value, and where the agent found it (its evidence), under it."""

    def __init__(
        self, index: int, agent: str, value: Any, evidence: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(classes="candidate")
        self.agent = agent
        self.value = value
        self.index = index
        self.evidence = evidence or []

    def compose(self) -> ComposeResult:
        yield Static(
            Text(f"{self.index}  {agent_text(self.agent, 60)}", style="bold"),
            classes="candidate-title",
        )
        with VerticalScroll(classes="candidate-value"):
            text = Text(json_pretty(self.value))
            for item in self.evidence:
                text.append("\nfrom " + agent_text(evidence_line(item), 200), style="dim")
            yield Static(text)


class CandidateRow(Horizontal, can_focus=True):
    """Focusable: left/right and digits choose the candidate that enter resolves with."""


class ConflictScreen(Screen[None]):
    BINDINGS = [
        Binding("escape", "back", "back", id="conflicts.back", tooltip="Back to the main screen"),
        Binding(
            "enter",
            "resolve",
            "resolve",
            id="conflicts.resolve",
            tooltip="Resolve with the chosen candidate (or the typed value)",
        ),
        Binding(
            "right,l",
            "choose(1)",
            "choose",
            key_display="←→ 1-9",
            tooltip="Choose the candidate that enter resolves with",
        ),
        Binding("left,h", "choose(-1)", "prev", show=False),
        Binding("up", "conflict(-1)", "prev conflict", show=False),
        Binding("down", "conflict(1)", "next conflict", show=False),
        Binding(
            "e",
            "edit_value",
            "value",
            id="conflicts.value",
            tooltip="Type a JSON value instead of picking a candidate",
        ),
        Binding(
            "n", "edit_note", "note", id="conflicts.note", tooltip="Add a note to the decision"
        ),
        Binding(
            "y",
            "copy",
            "copy",
            id="conflicts.copy",
            tooltip="Copy the chosen candidate's value to the clipboard",
        ),
        *[Binding(str(i), f"pick({i})", f"pick {i}", show=False) for i in range(1, 10)],
    ]

    def __init__(self, conflict_id: str | None = None) -> None:
        super().__init__(classes="conflict-screen")
        self.conflict_id = conflict_id
        self.choice = 0
        self._shown: tuple[str, bool] | None = None

    @property
    def pb(self) -> PhaseboardApp:
        return cast("PhaseboardApp", self.app)

    def compose(self) -> ComposeResult:
        yield Static(id="conflict-title")
        yield ConflictTable(id="conflict-list", candidates=False)
        yield Static(id="conflict-detail")
        yield CandidateRow(id="candidates")
        yield Input(
            placeholder="e: or type a JSON value (checked as you type); enter resolves",
            id="conflict-value",
            compact=True,
        )
        yield Static(id="value-error")
        yield Input(
            placeholder="n: note (why this choice); enter resolves",
            id="conflict-note",
            compact=True,
        )
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        table = self.query_one(ConflictTable)
        table.can_focus = False
        self.pb.run_changed.subscribe(self, self.on_batch, immediate=True)
        state = self.pb.state
        if self.conflict_id is None:
            first_open = next(iter(state.open_conflicts()), None)
            self.conflict_id = first_open.id if first_open else None
        self.on_batch(RunBatch(state))
        self.query_one(CandidateRow).focus()

    # -- showing ---------------------------------------------------------------------------

    def conflicts(self) -> list[ConflictState]:
        return self.pb.state.live_conflicts()

    def current(self) -> ConflictState | None:
        return self.pb.state.conflicts.get(self.conflict_id or "")

    def on_batch(self, batch: RunBatch) -> None:
        table = self.query_one(ConflictTable)
        table.show(batch.state)
        ids = [c.id for c in self.conflicts()]
        if self.conflict_id not in ids:
            self.conflict_id = ids[0] if ids else None
        if self.conflict_id in ids:
            table.move_cursor(row=ids.index(self.conflict_id), animate=False)
        open_count = len(batch.state.open_conflicts())
        self.query_one("#conflict-title", Static).update(
            Text(
                f" Conflicts of run {batch.state.run_id}: {open_count} open of {len(ids)}",
                style="bold",
            )
        )
        conflict = self.current()
        key = (conflict.id, conflict.resolved) if conflict else None
        if key != self._shown:
            self._shown = key
            self.call_later(self._show_conflict)

    async def _show_conflict(self) -> None:
        conflict = self.current()
        row = self.query_one(CandidateRow)
        await row.remove_children()
        detail = Text(no_wrap=True, overflow="ellipsis")
        if conflict is None:
            self.query_one("#conflict-detail", Static).update(Text("no conflicts", style="dim"))
            return
        detail.append(f"{conflict.id}  ", style="bold")
        detail.append(agent_text(conflict.path, 80))
        detail.append(f"  {conflict.severity}  stage {conflict.stage}  ")
        if conflict.resolved and conflict.resolution:
            r = conflict.resolution
            how = f"picked {r.get('picked')}" if r.get("picked") else "typed value"
            detail.append(
                agent_text(f"resolved by {r.get('by')} ({how}): {r.get('note') or ''}", 120),
                style="italic",
            )
        else:
            detail.append("OPEN: choose a candidate", style="bold")
        if conflict.reason:
            detail.append("\n" + agent_text(conflict.reason, 200))
        self.query_one("#conflict-detail", Static).update(detail)
        cards = [
            CandidateCard(i, agent, value, conflict.evidence.get(agent))
            for i, (agent, value) in enumerate(conflict.candidates.items(), 1)
        ]
        await row.mount_all(cards)
        self.choice = min(self.choice, max(0, len(cards) - 1))
        self._mark_choice()

    def _mark_choice(self) -> None:
        for i, card in enumerate(self.query(CandidateCard)):
            card.set_class(i == self.choice, "-chosen")

    # -- actions ---------------------------------------------------------------------------

    def action_choose(self, delta: int) -> None:
        count = len(self.query(CandidateCard))
        if count:
            self.choice = (self.choice + delta) % count
            self._mark_choice()

    def action_pick(self, number: int) -> None:
        if 1 <= number <= len(self.query(CandidateCard)):
            self.choice = number - 1
            self._mark_choice()

    def action_conflict(self, delta: int) -> None:
        ids = [c.id for c in self.conflicts()]
        if not ids:
            return
        index = ids.index(self.conflict_id) if self.conflict_id in ids else 0
        self.conflict_id = ids[(index + delta) % len(ids)]
        self.choice = 0
        self.on_batch(RunBatch(self.pb.state))

    def action_edit_value(self) -> None:
        self.query_one("#conflict-value", Input).focus()

    def action_edit_note(self) -> None:
        self.query_one("#conflict-note", Input).focus()

    def action_back(self) -> None:
        if isinstance(self.focused, Input):
            self.query_one(CandidateRow).focus()
        else:
            self.dismiss()

    def action_copy(self) -> None:
        cards = list(self.query(CandidateCard))
        if cards:
            card = cards[self.choice]
            self.pb.copy_to_clipboard(json.dumps(card.value, indent=2, default=str))
            self.notify(f"value of {card.agent} copied to the clipboard", markup=False)

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "conflict-value":
            error = parse_value(event.value)[1] if event.value.strip() else None
            shown = self.query_one("#value-error", Static)
            shown.update(Text(error or "", style="bold"))
            shown.set_class(bool(error), "-shown")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_resolve()

    def action_resolve(self) -> None:
        conflict = self.current()
        if conflict is None:
            return
        if conflict.resolved:
            self.notify(f"{conflict.id} is already resolved", severity="warning", markup=False)
            return
        note = self.query_one("#conflict-note", Input).value.strip()
        typed = self.query_one("#conflict-value", Input).value.strip()
        args: dict[str, Any] = {"conflict": conflict.id, "note": note}
        if typed:
            error = parse_value(typed)[1]
            if error:
                self.notify(error, severity="error", markup=False)
                self.query_one("#conflict-value", Input).focus()
                return
            args["value"] = typed
        else:
            cards = list(self.query(CandidateCard))
            if not cards:
                return
            args["pick"] = cards[self.choice].agent
        self.pb.command("resolve", args, done=lambda outcome: self._resolved(conflict.id, outcome))

    def _resolved(self, conflict_id: str, outcome: Outcome) -> None:
        if not outcome.ok:
            return
        self.query_one("#conflict-value", Input).value = ""
        self.query_one("#conflict-note", Input).value = ""
        remaining = [c for c in self.pb.state.open_conflicts() if c.id != conflict_id]
        if not remaining:
            self.notify("every conflict is resolved", markup=False)
            if self.is_current:
                self.dismiss()
            return
        self.conflict_id = remaining[0].id
        self.choice = 0
        self.query_one(CandidateRow).focus()
        self.on_batch(RunBatch(self.pb.state))
