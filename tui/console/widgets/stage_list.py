"""The run's stages, two lines each: icon and name; then progress and duration."""

from __future__ import annotations

from rich.text import Text
from textual.events import Resize
from textual.widgets import DataTable

from engine.state.records import StageState
from engine.state.run_state import RunState
from tui.console.widgets.formatting import duration, icon, resolve_style, status_style, theme_colors


def stage_progress(st: StageState, state: RunState) -> tuple[str, str]:
    """The progress words and their style spec (theme variables allowed)."""
    if st.kind == "agents":
        failed = f", {st.failed} failed" if st.failed else ""
        return f"{st.succeeded}/{st.total} agents{failed}", "$error" if st.failed else ""
    if st.kind == "consolidation":
        live = [c for c in state.live_conflicts() if c.stage == st.id]
        open_ = [c for c in live if not c.resolved]
        if open_:
            return f"{len(open_)} open conflict{'s' if len(open_) > 1 else ''}", "bold $warning"
        return (f"{len(live)} resolved", "$success") if live else ("merge", "dim")
    if st.passed is None:
        return "checkpoint", "dim"
    if st.accepted and not st.passed:
        return "accepted", "$warning"
    if st.passed:
        verdict = (st.decision or {}).get("verdict")
        return (f"passed, {verdict}" if verdict else "passed"), "$success"
    return "FAILED", "bold $error"


def stage_duration(st: StageState, now: float) -> float | None:
    if st.started_at is None:
        return None
    return (st.ended_at if st.ended_at is not None else now) - st.started_at


class StageList(DataTable[Text]):
    """One keyed row per stage, updated in place; the cursor picks the stage shown beside it."""

    DEFAULT_CSS = """
    StageList { height: auto; max-height: 100%; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(
            cursor_type="row",
            show_header=False,
            cell_padding=0,
            zebra_stripes=False,
            id=id,
            classes=classes,
        )
        self._rows: list[str] = []
        self._cells: dict[str, tuple[str, ...]] = {}
        self._width = 24

    def on_mount(self) -> None:
        self.add_column("stage", key="stage", width=self._width)
        self.app.theme_changed_signal.subscribe(self, lambda _theme: self._cells.clear())

    def on_resize(self, event: Resize) -> None:
        width = max(10, event.size.width - 1)
        if width != self._width:
            self._width = width
            self.columns[next(iter(self.columns))].width = width
            self._cells.clear()
            self.refresh()

    @property
    def stage_ids(self) -> list[str]:
        return list(self._rows)

    def show(self, state: RunState, now: float) -> None:
        variables = theme_colors(self.app)
        order = list(state.stages)
        if order != self._rows:
            self.clear()
            self._cells.clear()
            self._rows = order
            for sid in order:
                self.add_row(Text(""), key=sid, height=2)
        for sid, st in state.stages.items():
            in_slice = state.in_slice(sid) if state.workflow else True
            progress, progress_style = stage_progress(st, state)
            took = stage_duration(st, now)
            when = duration(took) if took is not None else ""
            key = (st.status, progress, progress_style, when, str(in_slice), str(self._width))
            if self._cells.get(sid) == key:
                continue
            self._cells[sid] = key
            self.update_cell(
                sid, "stage", self._cell(st, progress, progress_style, when, in_slice, variables)
            )

    def _cell(
        self,
        st: StageState,
        progress: str,
        progress_style: str,
        when: str,
        in_slice: bool,
        variables: dict[str, str],
    ) -> Text:
        width = self._width
        name = st.id if len(st.id) <= width - 2 else st.id[: width - 3] + "…"
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(icon(st.status) + " ", style=status_style(st.status, variables))
        text.append(name, style="bold" if in_slice else "dim strike")
        room = max(0, width - 2 - len(when) - 1)
        shown = progress if len(progress) <= room else progress[: max(0, room - 1)] + "…"
        text.append("\n  ")
        text.append(shown, style=resolve_style(progress_style, variables))
        text.append(" " * max(1, width - 2 - len(shown) - len(when)))
        text.append(when, style="dim")
        return text

    def select_stage(self, stage_id: str) -> None:
        if stage_id in self._rows and self.cursor_row != self._rows.index(stage_id):
            self.move_cursor(row=self._rows.index(stage_id), animate=False)
