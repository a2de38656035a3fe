"""Operator actions from the keyboard against real runs: retry, resolve, accept, rollback."""

from __future__ import annotations

import json
from pathlib import Path

from textual.widgets import Input, OptionList

from screens.conflicts import CandidateCard, ConflictScreen
from screens.main import MainScreen
from screens.modals import AcceptModal, ConfirmModal, RetryModal
from screens.rollback import RollbackScreen
from tests.tui.flows import accept_flow, conflict_flow, memory_flow, retry_flow, write_flow
from tests.tui.tui_helpers import engine_in_loop, make_run, text_of, tree_digest, wait_for
from tui.console.app import PhaseboardApp
from tui.console.widgets.agent_pane import AgentGrid
from tui.console.widgets.run_header import PauseBanner


async def test_failed_agent_is_retried_by_key(tmp_path: Path, workspace: Path) -> None:
    db, run_id = await make_run(tmp_path, workspace, retry_flow())
    app = PhaseboardApp(db, run_id, poll_interval=0.05)
    async with engine_in_loop(db, run_id), app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.state.status == "paused", "the pause")
        screen = app.screen
        assert isinstance(screen, MainScreen)
        banner = screen.query_one(PauseBanner)
        # the app's state is folded before the screen hears of it: wait for the screen too
        await wait_for(pilot, lambda: banner.has_class("-shown"), "the pause banner")
        assert "all_done" in text_of(banner)
        flaky = app.state.stages["analysis"].agents["flaky"]
        assert [a.status for a in flaky.attempts] == ["failed"]

        # the screen follows the run to its checkpoint once it has drawn the pause
        await wait_for(pilot, lambda: screen.selected == "review", "the checkpoint selected")
        await pilot.press("up")  # from the checkpoint to the analysis stage
        await wait_for(
            pilot,
            lambda: screen.query_one(AgentGrid).agent_ids == ["steady", "flaky"],
            "the analysis panes",
        )
        await pilot.press("enter", "tab")  # focus the first pane, then the next one
        await wait_for(pilot, lambda: screen.focused_agent == "flaky", "focus on flaky")
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, RetryModal), "the retry dialog")
        await pilot.press("s")
        await wait_for(pilot, lambda: app.state.status == "completed", "the run to complete")
        flaky = app.state.stages["analysis"].agents["flaky"]
        assert flaky.status == "succeeded"
        assert [a.status for a in flaky.attempts] == ["failed", "succeeded"]
        assert app.state.decisions_log[0]["kind"] == "retry"
        await wait_for(pilot, lambda: not banner.has_class("-shown"), "the banner to go")


async def test_a_memory_exhausted_agent_is_retried_with_more_memory(
    tmp_path: Path, workspace: Path
) -> None:
    db, run_id = await make_run(tmp_path, workspace, memory_flow())
    app = PhaseboardApp(db, run_id, poll_interval=0.05)
    async with engine_in_loop(db, run_id), app.run_test(size=(100, 24)) as pilot:
        await wait_for(pilot, lambda: app.state.status == "paused", "the pause")
        hog = app.state.stages["analysis"].agents["hog"]
        assert [(a.category, a.memory_mb) for a in hog.attempts] == [("resource_exhausted", 100)]
        screen = app.screen
        assert isinstance(screen, MainScreen)
        # the screen follows the run to its checkpoint once it has drawn the pause
        await wait_for(pilot, lambda: screen.selected == "review", "the checkpoint selected")
        await pilot.press("up")  # from the checkpoint to the analysis stage
        grid = screen.query_one(AgentGrid)
        await wait_for(pilot, lambda: grid.agent_ids == ["hog"], "the analysis pane")
        await pilot.press("enter")
        await wait_for(pilot, lambda: screen.focused_agent == "hog", "focus on hog")
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, RetryModal), "the retry dialog")
        option = app.screen.query_one("#retry-modes", OptionList).get_option("more_memory")
        assert not option.disabled
        assert "retry with 1.5x memory: 100 → 150 MB" in str(option.prompt)
        await pilot.press("m")
        await wait_for(pilot, lambda: app.state.status == "completed", "the run to complete")
        hog = app.state.stages["analysis"].agents["hog"]
        assert [(a.status, a.memory_mb) for a in hog.attempts] == [
            ("failed", 100),
            ("succeeded", 150),
        ]
        assert hog.attempts[1].limits_reason.startswith("memory 100 → 150 MB: retry with 1.5x")
        assert app.state.decisions_log[0]["memory_mb"] == 150
        pane = grid.pane("hog")
        assert pane is not None
        await wait_for(
            pilot, lambda: "mem 100→150MB" in text_of(pane.query_one(".pane-info")), "the pane"
        )


async def test_conflicts_resolved_on_screen_then_accept(tmp_path: Path, workspace: Path) -> None:
    db, run_id = await make_run(tmp_path, workspace, conflict_flow())
    app = PhaseboardApp(db, run_id, poll_interval=0.05)
    async with engine_in_loop(db, run_id), app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.state.status == "paused", "the pause on conflicts")
        assert len(app.state.open_conflicts()) == 2
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ConflictScreen), "the conflict screen")
        screen = app.screen
        await wait_for(pilot, lambda: len(screen.query(CandidateCard)) == 2, "the candidates")
        first = screen.current()
        assert first is not None
        # a typed value is validated before it is used
        await pilot.press("e", *"{bad", "enter")
        assert "not valid JSON" in text_of(screen.query_one("#value-error"))
        assert not app.state.conflicts[first.id].resolved
        screen.query_one("#conflict-value", Input).value = ""
        await pilot.press("escape", "2", "n", *"CI wins", "enter")
        await wait_for(
            pilot, lambda: app.state.conflicts[first.id].resolved, "the first resolution"
        )
        resolution = app.state.conflicts[first.id].resolution or {}
        assert resolution["picked"] == "analysis.infrastructure"
        assert resolution["note"] == "CI wins"
        # the other conflict: a typed JSON value
        await wait_for(
            pilot,
            lambda: screen.current() is not None and screen.current().id != first.id,
            "the next conflict",
        )
        second = screen.current()
        await pilot.press("e", *"7", "enter")
        await wait_for(pilot, lambda: app.state.conflicts[second.id].resolved, "the second one")
        assert (app.state.conflicts[second.id].resolution or {})["value"] == 7
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "back on the main screen")
        await wait_for(pilot, lambda: app.state.status == "completed", "the verdict")
        assert app.state.decision == "PROCEED"
        await wait_for(pilot, lambda: app.engine_state() == "none", "the engine to let go")


async def test_failed_checkpoint_accepted_with_a_note(tmp_path: Path, workspace: Path) -> None:
    db, run_id = await make_run(tmp_path, workspace, accept_flow())
    app = PhaseboardApp(db, run_id, poll_interval=0.05)
    async with engine_in_loop(db, run_id), app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.state.status == "paused", "the failed checkpoint")
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, AcceptModal), "the accept dialog")
        await pilot.press("enter")  # an empty note is refused
        assert isinstance(app.screen, AcceptModal)
        await pilot.press(*"known gap", "enter")
        await wait_for(pilot, lambda: app.state.status == "completed", "the run to complete")
        assert app.state.stages["gate"].accepted["note"] == "known gap"
        assert app.state.decision == "CONDITIONAL_PROCEED"


async def test_rollback_from_the_screen_restores_the_workspace(
    tmp_path: Path, workspace: Path
) -> None:
    before = tree_digest(workspace)
    db, run_id = await make_run(tmp_path, workspace, write_flow())
    app = PhaseboardApp(db, run_id, poll_interval=0.05)
    async with engine_in_loop(db, run_id), app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.state.status == "completed", "the run to complete")
        assert tree_digest(workspace) != before
        await pilot.press("b")
        await wait_for(pilot, lambda: isinstance(app.screen, RollbackScreen), "the rollback screen")
        points = [p.id for p in app.state.rollback_points]
        target = next(
            p for p in app.state.rollback_points if p.stage == "implementation" and p.agent is None
        )
        screen = app.screen
        table = screen.query_one("#points")
        await pilot.press("ctrl+home", *["down"] * points.index(target.id))
        assert table.cursor_row == points.index(target.id)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal), "the confirmation")
        said = text_of(app.screen.query_one(".dialog-body"))
        assert "1 files reverted, 2 removed, 1 recreated" in said
        assert "implementation" in said and "docs/NEW.md" in said
        await pilot.press("y")
        await wait_for(
            pilot,
            lambda: app.state.stages["implementation"].status == "rolled_back",
            "the rollback",
        )
        assert tree_digest(workspace) == before
        assert app.state.status == "paused"
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "back on the main screen")
        decision = json.loads(json.dumps(app.state.decisions_log[-1]))
        assert decision["kind"] == "rollback" and decision["point"] == target.id
