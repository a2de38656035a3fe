"""The main screen: stages, one live pane per agent of the selected stage, and the tabs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.events import DescendantFocus
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static, TabbedContent, TabPane

from engine.state.records import StageState
from engine.state.run_state import RunState
from screens.main_actions import MAIN_BINDINGS, MainActions
from tui.console.watcher import RunBatch
from tui.console.widgets.agent_pane import AgentGrid, AgentPane
from tui.console.widgets.checkpoint_view import CheckpointView
from tui.console.widgets.conflict_table import ConflictTable
from tui.console.widgets.event_log import EventLog
from tui.console.widgets.metrics_view import MetricsView
from tui.console.widgets.run_header import PauseBanner, RunHeader
from tui.console.widgets.stage_list import StageList
from tui.console.widgets.stage_summary import stage_summary
from tui.console.widgets.synthesis_view import SynthesisView

if TYPE_CHECKING:
    from tui.console.app import PhaseboardApp

CHECKPOINT_KINDS = {
    "run_created",
    "checkpoint_evaluated",
    "checkpoint_accepted",
    "rolled_back",
    "stage_started",
    "stage_finished",
    "agent_reset",
}


def active_stage(state: RunState) -> str | None:
    """The stage the run is at: the running one, else the newest started, else the first."""
    running = [s.id for s in state.stages.values() if s.status == "running"]
    if running:
        return running[-1]
    started = [s for s in state.stages.values() if s.started_at is not None]
    if started:
        return max(started, key=lambda s: s.started_at or 0.0).id
    return next(iter(state.stages), None)


def pane_agents(st: StageState) -> list[str]:
    """Agents that get a pane: standby and extended ones only once they ran."""
    return [a.id for a in st.agents.values() if not ((a.standby or a.extended) and not a.attempts)]


class MainScreen(MainActions, Screen[None]):
    """Everything about one run, live. Reads the app's folded state; acts through commands."""

    BINDINGS = MAIN_BINDINGS
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (120, "-wide")]

    def __init__(self) -> None:
        super().__init__(classes="main-screen -split")
        self.selected: str | None = None
        self.follow = True
        """Move to the stage the run is at whenever it changes (until the operator picks one)."""
        self.focused_agent: str | None = None
        self._bindings_for: tuple[str, str] = ("", "")
        self._summary_for: tuple[str, int] = ("", -1)
        self._alive_shown: bool | None = None

    @property
    def pb(self) -> PhaseboardApp:
        return cast("PhaseboardApp", self.app)

    def compose(self) -> ComposeResult:
        yield RunHeader(id="header")
        yield PauseBanner(id="banner")
        with Horizontal(id="body"):
            with Vertical(id="stage-column"):
                yield StageList(id="stages")
            with Vertical(id="work"):
                yield AgentGrid(id="agents")
                yield Static(id="stage-summary")
                with TabbedContent(id="tabs"):
                    with TabPane("Synthesis", id="tab-synthesis"):
                        yield SynthesisView(id="synthesis")
                    with TabPane("Conflicts", id="tab-conflicts"):
                        yield ConflictTable(id="conflicts")
                    with TabPane("Checkpoints", id="tab-checkpoints"):
                        yield CheckpointView(id="checkpoints")
                    with TabPane("Events", id="tab-events"):
                        yield EventLog(id="events")
                    with TabPane("Metrics", id="tab-metrics"):
                        yield MetricsView(id="metrics")
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.pb.run_changed.subscribe(self, self.on_batch, immediate=True)
        self.set_interval(1.0, self.tick)
        self.query_one(StageList).focus()
        self.query_one(EventLog).add(list(self.pb.events))
        if self.pb.state.last_seq:
            self.on_batch(RunBatch(self.pb.state, first=True, engine_alive=self.pb.engine_alive))

    # -- updates ---------------------------------------------------------------------------

    def on_batch(self, batch: RunBatch) -> None:
        """Log lines go to their panes; the rest of the screen follows only when the state or
        the engine changed (the clocks move once a second, in :meth:`tick`)."""
        if batch.first or batch.events or batch.engine_alive != self._alive_shown:
            self._alive_shown = batch.engine_alive
            self._state_changed(batch)
        grid = self.query_one(AgentGrid)
        if batch.stage == grid.stage_id:
            for agent_id, lines in batch.panes.items():
                pane = grid.pane(agent_id)
                if pane is not None:
                    pane.write_rows(lines.lines, reset=lines.reset, skipped=lines.skipped)

    def _state_changed(self, batch: RunBatch) -> None:
        state = batch.state
        self.tick()
        target = active_stage(state)
        if self.selected is None or self.selected not in state.stages:
            self.follow = True
        if self.follow and target is not None and target != self.selected:
            self.select_stage(target, by_user=False)
        else:
            self.sync_panes(state)
        self.query_one(SynthesisView).show(state, self.selected)
        self.query_one(ConflictTable).show(state)
        kinds = {e.kind for e in batch.events}
        if batch.first or kinds & CHECKPOINT_KINDS:
            self.query_one(CheckpointView).show(state)
        if batch.first or kinds & {
            "attempt_finished",
            "agent_finished",
            "agent_reset",
            "stage_finished",
            "rolled_back",
            "run_status",
        }:
            self.query_one(MetricsView).show(state)
        self.query_one(EventLog).add(batch.events)

    def tick(self) -> None:
        """Once a second, and when the state changes: the clocks, and what depends on the engine."""
        state = self.pb.state
        now = self.pb.clock()
        engine = self.pb.engine_state()
        header = self.query_one(RunHeader)
        header.history = self.pb.history
        header.show(state, now, engine)
        self.query_one(PauseBanner).show(state, engine)
        self.query_one(StageList).show(state, now)
        if (state.status, engine) != self._bindings_for:
            self._bindings_for = (state.status, engine)
            self.refresh_bindings()  # pause or resume on p; costs a footer rebuild
        st = state.stages.get(self.selected or "")
        grid = self.query_one(AgentGrid)
        if st is not None:
            for pane in grid.panes():
                agent = st.agents.get(pane.agent_id)
                if agent is not None:
                    pane.show(agent, state.workflow, now, remote=bool(state.executor))
            summary_key = (st.id, state.last_seq)
            if not grid.agent_ids and summary_key != self._summary_for:
                self._summary_for = summary_key
                self.query_one("#stage-summary", Static).update(stage_summary(st, state))
            elif self.focused_agent not in grid.agent_ids:
                running = [a for a in grid.agent_ids if st.agents[a].status == "running"]
                target = self.current_agent()
                grid.set_current(running[0] if running else target[1] if target else None)

    # -- stage selection and panes ---------------------------------------------------------

    def select_stage(self, stage_id: str, *, by_user: bool) -> None:
        if by_user:
            self.follow = stage_id == active_stage(self.pb.state)
        if stage_id == self.selected:
            return
        self.selected = stage_id
        self.focused_agent = None
        self.query_one(StageList).select_stage(stage_id)
        self.sync_panes(self.pb.state)
        self.query_one(SynthesisView).show(self.pb.state, stage_id)

    def sync_panes(self, state: RunState) -> None:
        st = state.stages.get(self.selected or "")
        agents = pane_agents(st) if st is not None else []
        grid = self.query_one(AgentGrid)
        if st is not None and (st.id, agents) == (grid.stage_id, grid.agent_ids):
            return
        self.run_worker(self._remount(st, agents), group="panes", exclusive=True)

    async def _remount(self, st: StageState | None, agents: list[str]) -> None:
        grid = self.query_one(AgentGrid)
        await grid.set_agents(st, agents)
        if not self.is_attached:
            return  # the app closed while the panes were being mounted
        self.set_class(not agents, "-no-agents")
        if self.pb.watcher is not None:
            self.pb.watcher.watch_panes(st.id if st else None, agents)
        self.tick()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        table = event.data_table
        if table.id == "stages" and event.row_key.value and event.cursor_row == table.cursor_row:
            self.select_stage(str(event.row_key.value), by_user=True)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        if event.data_table.id == "conflicts" and event.row_key.value:
            self.open_conflicts(str(event.row_key.value))
        elif event.data_table.id == "stages":
            first = next(iter(self.query_one(AgentGrid).panes()), None)
            if first is not None:
                first.focus()

    def on_descendant_focus(self, event: DescendantFocus) -> None:
        for node in event.widget.ancestors_with_self:
            if isinstance(node, AgentPane):
                self.focused_agent = node.agent_id
                self.query_one(AgentGrid).set_current(node.agent_id)
                return

    def current_agent(self) -> tuple[str, str] | None:
        """The agent actions apply to: the focused pane's, else the first failed, else the first."""
        grid = self.query_one(AgentGrid)
        if grid.stage_id is None or not grid.agent_ids:
            return None
        if self.focused_agent in grid.agent_ids:
            return grid.stage_id, cast(str, self.focused_agent)
        st = self.pb.state.stages.get(grid.stage_id)
        failed = [a for a in grid.agent_ids if st and st.agents[a].status == "failed"]
        return grid.stage_id, (failed or grid.agent_ids)[0]

    def check_action(self, action: str, parameters: tuple[Any, ...]) -> bool | None:
        status = self.pb.state.status
        if action == "pause":
            return status == "running" and self.pb.engine_state() == "live"
        if action == "resume":
            return not (status == "running" and self.pb.engine_state() == "live")
        return True
