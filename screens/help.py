"""Help (``?``): the keys of the screen you came from, and how the console is laid out."""

from __future__ import annotations

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

GUIDE = """\
Main screen: stages on the left (↑/↓ picks one; the view follows the running stage until you pick
another), one pane per agent of that stage, tabs below (1-5). tab moves between stages, panes and
tabs; enter on a stage focuses its first pane; v cycles the layout (panes and tabs, panes only,
tabs only). The pane with focus is the agent that r (retry), l (log) and y (copy result) act on.
When the run pauses for you, a banner says why and which keys settle it.
Conflicts (c): ↑/↓ picks the conflict, ←/→ or 1-9 the candidate, e types a JSON value instead,
n adds a note, enter resolves. Rollback (b): enter on a point shows exactly what would be undone.
Log (l): / searches the whole log, n/N step through the matches (shown with the lines around
them), y copies the line, Y the result. ctrl+p lists every action. Quitting (q) while an engine
drives the run asks whether to leave it running (phaseboard attach brings it back) or stop it."""


def key_table(screen: Screen[object]) -> Table:
    table = Table(box=None, show_header=True, header_style="bold", padding=(0, 1))
    table.add_column("key", no_wrap=True)
    table.add_column("action", no_wrap=True)
    table.add_column("what it does")
    seen: set[tuple[str, str]] = set()
    for key, active in screen.active_bindings.items():
        binding = active.binding
        if not binding.id or not binding.description or (binding.action, key) in seen:
            continue  # phaseboard's own bindings all have an id; widget internals do not
        seen.add((binding.action, key))
        shown = binding.key_display or screen.app.get_key_display(binding)
        table.add_row(shown, binding.description, binding.tooltip or "")
    return table


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "close", id="help.close")]

    def __init__(self, under: Screen[object]) -> None:
        super().__init__(classes="pb-modal help-screen")
        self.under = under

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog"):
            yield Static(Text("phaseboard: keys", style="bold"), classes="dialog-title")
            yield Static(Group(key_table(self.under), Text(""), Text(GUIDE)))
            yield Static("esc / ? close", classes="dialog-keys")
