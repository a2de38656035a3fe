"""The run's stages, one row each: icon, name, progress and duration."""

from __future__ import annotations

from rich.text import Text
from textual.events import Resize
from textual.widgets import DataTable

from engine.state import RunState, StageState
from tui.widgets.formatting import duration, icon, resolve_style, status_style

PROGRESS_W = 5
TIME_W = 7
KIND_MARK = {"agents": "", "consolidation": "⊕ ", "checkpoint": "◆ "}


def stage_progress(st: StageState, state: RunState) -> tuple[str, str]:
    """The progress cell and its style spec (theme variables allowed)."""
    if st.kind == "agents":
        return f"{st.succeeded}/{st.total}", "$error" if st.failed else ""
    if st.kind == "consolidation":
        live = [c for c in state.live_conflicts() if c.stage == st.id]
        open_ = [c for c in live if not c.resolved]
        if open_:
            return f"{len(open_)}!", "bold $warning"
        return (f"{len(live)}✓", "$success") if live else ("", "")
    if st.passed is None:
        return "", ""
    if st.accepted and not st.passed:
        return "acc", "$warning"
    return ("ok", "$success") if st.passed else ("FAIL", "bold $error")


def stage_duration(st: StageState, now: float) -> float | None:
    if st.started_at is None:
        return None
    return (st.ended_at if st.ended_at is not None else now) - st.started_at


class StageList(DataTable[Text]):
    """Keyed rows updated cell by cell; the cursor picks the stage whose agents are shown."""

    DEFAULT_CSS = """
    StageList { height: 1fr; }
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(
            cursor_type="row", show_header=False, cell_padding=0, zebra_stripes=False, **kwargs
        )  # type: ignore[arg-type]
        self._rows: list[str] = []
        self._cells: dict[tuple[str, str], tuple[str, str]] = {}
        self._name_w = 16

    def on_mount(self) -> None:
        self.add_column("", key="icon", width=2)
        self.add_column("stage", key="name", width=self._name_w)
        self.add_column("prog", key="prog", width=PROGRESS_W)
        self.add_column("time", key="time", width=TIME_W)

    def on_resize(self, event: Resize) -> None:
        name_w = max(8, event.size.width - 2 - PROGRESS_W - TIME_W - 1)
        if name_w != self._name_w:
            self._name_w = name_w
            self.columns[self._key("name")].width = name_w
            self._cells = {k: v for k, v in self._cells.items() if k[1] != "name"}
            self._require_update_dimensions = True
            self.refresh()

    def _key(self, column: str) -> object:
        return next(k for k in self.columns if k.value == column)

    @property
    def stage_ids(self) -> list[str]:
        return list(self._rows)

    def show(self, state: RunState, now: float) -> None:
        variables = self.app.theme_variables
        order = list(state.stages)
        if order != self._rows:
            self.clear()
            self._cells.clear()
            self._rows = order
            for sid in order:
                self.add_row(Text(""), Text(""), Text(""), Text(""), key=sid)
        for sid, st in state.stages.items():
            in_slice = state.in_slice(sid) if state.workflow else True
            name = KIND_MARK.get(st.kind, "") + sid
            if len(name) > self._name_w:
                name = name[: self._name_w - 1] + "…"
            prog, prog_style = stage_progress(st, state)
            took = stage_duration(st, now)
            cells = {
                "icon": (icon(st.status), status_style(st.status, variables)),
                "name": (name, "" if in_slice else "dim strike"),
                "prog": (prog.rjust(PROGRESS_W - 1), resolve_style(prog_style, variables)),
                "time": (duration(took).rjust(TIME_W) if took is not None else "", "dim"),
            }
            for column, (text, style) in cells.items():
                if self._cells.get((sid, column)) == (text, style):
                    continue
                self._cells[(sid, column)] = (text, style)
                self.update_cell(sid, column, Text(text, style=style, no_wrap=True))

    def select_stage(self, stage_id: str) -> None:
        if stage_id in self._rows:
            self.move_cursor(row=self._rows.index(stage_id), animate=False)

    @property
    def highlighted_stage(self) -> str | None:
        if not self._rows or self.cursor_row < 0 or self.cursor_row >= len(self._rows):
            return None
        return self._rows[self.cursor_row]
