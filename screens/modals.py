"""Small dialogs: retry mode, accepting a checkpoint, confirmations, and quitting."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, OptionList, Static
from textual.widgets.option_list import Option

from tui.console.widgets.formatting import agent_text


class RetryModal(ModalScreen[str | None]):
    """How to run an agent again: as configured, with its reduced scope, its backup, or (after
    an attempt stopped at its memory limit) with more memory."""

    BINDINGS = [
        Binding("escape", "dismiss(None)", "Cancel", id="modal.cancel"),
        Binding("s", "choose('same')", "Same", show=False),
        Binding("r", "choose('reduced')", "Reduced", show=False),
        Binding("b", "choose('backup')", "Backup", show=False),
        Binding("m", "choose('more_memory')", "More memory", show=False),
    ]

    def __init__(
        self,
        agent_ref: str,
        *,
        reduced: str | None,
        backup: str | None,
        more_memory: str | None = None,
        no_more_memory: str = "only after an attempt stopped at its memory limit",
    ) -> None:
        """``more_memory``: what a retry with more memory gives (``1.5x memory: 1024 → 1536
        MB``), offered when set; else ``no_more_memory`` says why not."""
        super().__init__(classes="pb-modal")
        self.agent_ref = agent_ref
        self.reduced = reduced
        self.backup = backup
        self.more_memory = more_memory
        self.no_more_memory = no_more_memory

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text(f"Retry {self.agent_ref}", style="bold"), classes="dialog-title")
            options = [Option(Text("s  same: run it again as configured"), id="same")]
            options.append(
                Option(Text(f"r  reduced scope: {agent_text(self.reduced, 40)}"), id="reduced")
                if self.reduced is not None
                else Option(
                    Text("r  reduced scope: (none configured)"), id="reduced", disabled=True
                )
            )
            options.append(
                Option(Text(f"b  backup: fail over to {self.backup}"), id="backup")
                if self.backup
                else Option(Text("b  backup: (none configured)"), id="backup", disabled=True)
            )
            options.append(
                Option(Text(f"m  retry with {self.more_memory}"), id="more_memory")
                if self.more_memory
                else Option(
                    Text(f"m  more memory: ({self.no_more_memory})"),
                    id="more_memory",
                    disabled=True,
                )
            )
            yield OptionList(*options, id="retry-modes")
            yield Static("enter choose · esc cancel", classes="dialog-keys")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.action_choose(str(event.option.id))

    def action_choose(self, mode: str) -> None:
        if (mode == "reduced" and self.reduced is None) or (mode == "backup" and not self.backup):
            self.notify(f"{self.agent_ref} has no {mode} option", severity="warning", markup=False)
            return
        if mode == "more_memory" and not self.more_memory:
            self.notify(
                f"more memory for {self.agent_ref}: {self.no_more_memory}",
                severity="warning",
                markup=False,
            )
            return
        self.dismiss(mode)


class AcceptModal(ModalScreen[tuple[str, str] | None]):
    """Accept a failed checkpoint as a documented exception: a note saying why is required."""

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="modal.cancel")]

    def __init__(self, checkpoints: dict[str, list[str]]) -> None:
        """``checkpoints``: failed checkpoint id → ids of its failed criteria."""
        super().__init__(classes="pb-modal")
        self.checkpoints = checkpoints

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text("Accept a failed checkpoint", style="bold"), classes="dialog-title")
            yield OptionList(
                *[
                    Option(Text(f"{cid}: failed {', '.join(failed) or '-'}"), id=cid)
                    for cid, failed in self.checkpoints.items()
                ],
                id="accept-which",
            )
            yield Input(
                placeholder="note: why this is acceptable (required)",
                id="accept-note",
                compact=True,
            )
            yield Static("type the note · enter accept · esc cancel", classes="dialog-keys")

    def on_mount(self) -> None:
        self.query_one("#accept-which", OptionList).highlighted = 0
        self.query_one("#accept-note", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        note = event.value.strip()
        if not note:
            self.notify(
                "the note is required: say why the checkpoint is accepted",
                severity="error",
                markup=False,
            )
            return
        options = self.query_one("#accept-which", OptionList)
        index = options.highlighted or 0
        self.dismiss((str(options.get_option_at_index(index).id), note))


class ConfirmModal(ModalScreen[bool]):
    """Yes or no, with the whole consequence spelled out in ``body``."""

    BINDINGS = [
        Binding("y", "dismiss(True)", "Yes", id="modal.yes"),
        Binding("n,escape", "dismiss(False)", "No", id="modal.no"),
    ]

    def __init__(self, title: str, body: Text | str, *, yes: str = "y confirm") -> None:
        super().__init__(classes="pb-modal")
        self.title_text = title
        self.body = body
        self.yes = yes

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Static(Text(self.title_text, style="bold"), classes="dialog-title")
            yield Static(self.body, classes="dialog-body")
            yield Static(f"{self.yes} · n/esc cancel", classes="dialog-keys")


class QuitModal(ModalScreen[str | None]):
    """Leaving the console while an engine drives the run: leave it running, or stop it."""

    BINDINGS = [
        Binding("l,enter", "dismiss('leave')", "Leave running", id="quit.leave"),
        Binding("s", "dismiss('stop')", "Stop run", id="quit.stop"),
        Binding("escape,n", "dismiss(None)", "Stay", id="quit.stay"),
    ]

    def __init__(self, run_id: str, status: str) -> None:
        super().__init__(classes="pb-modal")
        self.run_id = run_id
        self.status = status

    def compose(self) -> ComposeResult:
        body = Text()
        body.append(f"Run {self.run_id} is {self.status} and its engine is alive.\n\n")
        body.append("l", style="bold")
        body.append(f"  leave it running (come back with: phaseboard attach {self.run_id})\n")
        body.append("s", style="bold")
        body.append("  stop the run cleanly, then quit\n")
        body.append("esc", style="bold")
        body.append("  stay in the console")
        with Vertical(classes="dialog"):
            yield Static(Text("Quit phaseboard?", style="bold"), classes="dialog-title")
            yield Static(body, classes="dialog-body")
