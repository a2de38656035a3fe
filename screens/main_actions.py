"""The main screen's actions: every one writes a command, opens a screen, or both."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from textual.binding import Binding, BindingType
from textual.widgets import TabbedContent

from engine.run.exhaustion import last_attempt, more_memory, stopped_for_memory
from engine.workflow.models import AgentsStage
from screens.modals import AcceptModal, ConfirmModal, RetryModal

if TYPE_CHECKING:
    from tui.console.app import PhaseboardApp

MAIN_BINDINGS: list[BindingType] = [
    Binding(
        "r",
        "retry",
        "retry",
        id="main.retry",
        tooltip="Run the focused agent again: same, reduced scope, its backup, or more memory",
    ),
    Binding(
        "c",
        "conflicts",
        "resolve",
        id="main.conflicts",
        tooltip="Resolve conflicts: candidates side by side, pick one or enter a value",
    ),
    Binding(
        "a",
        "accept",
        "accept",
        id="main.accept",
        tooltip="Accept a failed checkpoint as a documented exception (with a note)",
    ),
    Binding(
        "b",
        "rollback",
        "rollback",
        id="main.rollback",
        tooltip="Roll back to a saved point (workspace and results)",
    ),
    Binding(
        "p", "pause", "pause", id="main.pause", tooltip="Pause the run after the current stage"
    ),
    Binding(
        "p",
        "resume",
        "resume",
        id="main.resume",
        tooltip="Resume the run (starts a background engine if none is alive)",
    ),
    Binding("x", "stop", "stop", id="main.stop", tooltip="Stop the run cleanly (state is saved)"),
    Binding(
        "l",
        "log",
        "log",
        id="main.log",
        tooltip="Open the focused agent's full log: scroll, search, copy",
    ),
    Binding(
        "y",
        "copy_result",
        "copy",
        id="main.copy",
        show=False,
        tooltip="Copy the focused agent's result (JSON) to the clipboard",
    ),
    Binding(
        "v",
        "cycle_view",
        "view",
        id="main.view",
        show=False,
        tooltip="Cycle the layout: panes and tabs, panes only, tabs only",
    ),
    Binding("1", "tab('synthesis')", "Synthesis", show=False, id="main.tab1"),
    Binding("2", "tab('conflicts')", "Conflicts", show=False, id="main.tab2"),
    Binding("3", "tab('checkpoints')", "Checkpoints", show=False, id="main.tab3"),
    Binding("4", "tab('events')", "Events", show=False, id="main.tab4"),
    Binding("5", "tab('metrics')", "Metrics", show=False, id="main.tab5"),
]

VIEWS = ("split", "agents-only", "tabs-only")


class MainActions:
    """Mixed into :class:`screens.main.MainScreen` (kept apart so each module stays small)."""

    if TYPE_CHECKING:

        @property
        def pb(self) -> PhaseboardApp: ...

        selected: str | None

        def current_agent(self) -> tuple[str, str] | None: ...
        def notify(self, message: str, **kwargs: Any) -> None: ...
        def query_one(self, selector: Any, expect_type: Any = None) -> Any: ...
        def set_class(self, add: bool, *class_names: str, update: bool = True) -> Any: ...
        def has_class(self, *names: str) -> bool: ...

    view = "split"

    def action_retry(self) -> None:
        target = self.current_agent()
        if target is None:
            self.notify(
                "no agent here to retry: pick an agents stage", severity="warning", markup=False
            )
            return
        stage_id, agent_id = target
        state = self.pb.state
        spec = state.workflow.stage(stage_id) if state.workflow else None
        if not isinstance(spec, AgentsStage):
            self.notify(f"{stage_id} is not an agents stage", severity="warning", markup=False)
            return
        agent = spec.agent(agent_id)
        if agent.standby:
            self.notify(
                f"{agent_id} is a standby backup: retry the agent it backs up with b",
                severity="warning",
                markup=False,
            )
            return
        current = state.stages[stage_id].agents[agent_id]
        if current.status == "running":
            self.notify(f"{stage_id}.{agent_id} is running now", severity="warning", markup=False)
            return
        reduced = json.dumps(agent.reduced_scope) if agent.reduced_scope is not None else None
        ref = f"{stage_id}.{agent_id}"
        workflow = state.workflow
        assert workflow is not None  # it gave the agents stage above
        plan = more_memory(workflow.effective(agent), current)
        offer, why_not = None, "only after an attempt stopped at its memory limit"
        if plan.refused:
            why_not = plan.refused
        elif stopped_for_memory(last_attempt(current)):
            offer = f"{plan.factor:g}x memory: {plan.current} → {plan.memory_mb} MB"

        def chosen(mode: str | None) -> None:
            if mode == "more_memory":
                self.pb.command("retry", {"agent": ref, "mode": "same", "more_memory": True})
            elif mode:
                self.pb.command("retry", {"agent": ref, "mode": mode})

        modal = RetryModal(
            ref, reduced=reduced, backup=agent.backup, more_memory=offer, no_more_memory=why_not
        )
        self.pb.push_screen(modal, chosen)

    def action_conflicts(self) -> None:
        self.open_conflicts(None)

    def open_conflicts(self, conflict_id: str | None) -> None:
        from screens.conflicts import ConflictScreen

        if not self.pb.state.live_conflicts():
            self.notify("this run has no conflicts", severity="information", markup=False)
            return
        self.pb.push_screen(ConflictScreen(conflict_id))

    def action_accept(self) -> None:
        failed = {
            st.id: [str(c.get("id")) for c in st.criteria if not c.get("passed")]
            for st in self.pb.state.stages.values()
            if st.kind == "checkpoint" and st.passed is False and not st.accepted
        }
        if not failed:
            self.notify("no failed checkpoint to accept", severity="information", markup=False)
            return

        def chosen(result: tuple[str, str] | None) -> None:
            if result:
                self.pb.command("accept", {"checkpoint": result[0], "note": result[1]})

        self.pb.push_screen(AcceptModal(failed), chosen)

    def action_rollback(self) -> None:
        from screens.rollback import RollbackScreen

        if not self.pb.state.rollback_points:
            self.notify("no rollback point saved yet", severity="information", markup=False)
            return
        self.pb.push_screen(RollbackScreen())

    def action_pause(self) -> None:
        self.pb.command("pause", {})

    def action_resume(self) -> None:
        self.pb.resume_run()

    def action_stop(self) -> None:
        state = self.pb.state
        if state.status in ("completed", "failed", "stopped"):
            self.notify(f"the run is already {state.status}", severity="information", markup=False)
            return

        def chosen(yes: bool | None) -> None:
            if yes:
                self.pb.command("stop", {})

        body = (
            f"Stop run {state.run_id}? Running agents are terminated; the state is saved "
            f"and the run can be resumed later (p, or phaseboard resume {state.run_id})."
        )
        self.pb.push_screen(ConfirmModal("Stop the run", body, yes="y stop"), chosen)

    def action_log(self) -> None:
        from screens.log_viewer import LogScreen

        target = self.current_agent()
        if target is None:
            self.notify(
                "no agent here: pick an agents stage first", severity="warning", markup=False
            )
            return
        self.pb.push_screen(LogScreen(*target))

    def action_copy_result(self) -> None:
        target = self.current_agent()
        if target is None:
            return
        agent = self.pb.state.stages[target[0]].agents[target[1]]
        if agent.result is None:
            self.notify(
                f"{target[0]}.{target[1]} has no result yet", severity="warning", markup=False
            )
            return
        self.pb.copy_to_clipboard(json.dumps(agent.result, indent=2, default=str))
        self.notify(f"result of {target[0]}.{target[1]} copied to the clipboard", markup=False)

    def action_cycle_view(self) -> None:
        self.view = VIEWS[(VIEWS.index(self.view) + 1) % len(VIEWS)]
        for name in VIEWS:
            self.set_class(name == self.view, f"-{name}")

    def action_tab(self, name: str) -> None:
        if self.view == "agents-only":
            self.action_cycle_view()
        self.query_one("#tabs", TabbedContent).active = f"tab-{name}"
