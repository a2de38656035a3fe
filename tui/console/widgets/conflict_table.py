"""The Conflicts tab: every live conflict, its candidates, and who resolved it."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import DataTable

from engine.state.records import ConflictState
from engine.state.run_state import RunState
from tui.console.widgets.formatting import agent_text, json_short, resolve_style, theme_colors

SEVERITY_STYLES = {"critical": "bold $error", "warning": "$warning"}
COLUMNS = (
    ("id", "id"),
    ("path", "path"),
    ("sev", "severity"),
    ("cand", "candidates"),
    ("by", "resolved by"),
)


def candidates_text(c: ConflictState, limit: int = 80) -> str:
    parts = [
        f"{agent.partition('.')[2] or agent}={json_short(v, 24)}"
        for agent, v in c.candidates.items()
    ]
    return agent_text("  ".join(parts), limit)


def resolved_by(c: ConflictState) -> str:
    if not c.resolved or not c.resolution:
        return "open"
    r = c.resolution
    how = f"picked {r.get('picked')}" if r.get("picked") else "value"
    return agent_text(f"{r.get('by', '')} ({how})", 60)


class ConflictTable(DataTable[Any]):
    """Keyed by conflict id; cells change in place as conflicts are resolved."""

    def __init__(self, *, candidates: bool = True, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self._ids: list[str] = []
        self._cells: dict[tuple[str, str], Text] = {}
        self._columns = [c for c in COLUMNS if candidates or c[0] != "cand"]
        """Without the candidates column where they are shown beside the table."""

    def on_mount(self) -> None:
        for key, label in self._columns:
            self.add_column(label, key=key)

    def show(self, state: RunState, stage: str | None = None) -> None:
        variables = theme_colors(self.app)
        conflicts = [c for c in state.live_conflicts() if stage is None or c.stage == stage]
        ids = [c.id for c in conflicts]
        if ids != self._ids:
            self.clear()
            self._cells.clear()
            self._ids = ids
            for c in conflicts:
                self.add_row(*(Text("") for _ in self._columns), key=c.id)
        for c in conflicts:
            sev_style = resolve_style(SEVERITY_STYLES.get(c.severity, ""), variables)
            cells = {
                "id": Text(c.id),
                "path": Text(agent_text(c.path, 50)),
                "sev": Text(c.severity, style=sev_style),
                "cand": Text(candidates_text(c)),
                "by": Text(resolved_by(c), style="" if c.resolved else "bold"),
            }
            for column, text in cells.items():
                if column not in self.columns:
                    continue
                if self._cells.get((c.id, column)) == text:
                    continue
                self._cells[(c.id, column)] = text
                self.update_cell(c.id, column, text, update_width=True)

    @property
    def highlighted_conflict(self) -> str | None:
        if not self._ids or not 0 <= self.cursor_row < len(self._ids):
            return None
        return self._ids[self.cursor_row]
