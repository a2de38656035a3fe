"""The full-log screen (paging, search with context, copy), switching runs, help, the palette."""

from __future__ import annotations

from pathlib import Path

from screens.help import HelpScreen
from screens.log_viewer import LogScreen
from screens.main import MainScreen
from screens.palette import ActionsProvider
from screens.run_picker import RunPickerScreen
from tests.helpers import agent_cmd
from tests.tui.tui_helpers import engine_in_loop, make_run, text_of, wait_for
from tui.console.app import PhaseboardApp
from tui.console.widgets.log_view import StoreLogView

LINES = 2500


def chatty_flow() -> str:
    return f"""
version: 1
name: chatty
defaults: {{timeout: 30, retries: 0}}
stages:
  - id: analysis
    kind: agents
    agents:
      - id: talker
        run: {agent_cmd("--lines", str(LINES), "--findings", '{"said": "a lot"}')}
"""


async def test_full_log_search_copy_and_switching_runs(tmp_path: Path, workspace: Path) -> None:
    db, other = await make_run(tmp_path, workspace, chatty_flow())
    db, run_id = await make_run(tmp_path, workspace, chatty_flow())
    app = PhaseboardApp(db, run_id, poll_interval=0.05)
    async with engine_in_loop(db, run_id), app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.state.status == "completed", "the run")
        await pilot.press("enter", "l")
        await wait_for(pilot, lambda: isinstance(app.screen, LogScreen), "the log screen")
        screen = app.screen
        view = screen.query_one(StoreLogView)
        await wait_for(pilot, lambda: view.source.total >= LINES + 2, "every line, paged in")
        total = view.source.total
        assert len(view.source._pages) <= 32
        assert view.cursor == total - 1  # following the end, and showing it
        await wait_for(
            pilot, lambda: view.scroll_offset.y == total - view.size.height, "the end on screen"
        )
        await pilot.press("home", "end")  # to the top and back: the end is on screen again
        assert view.scroll_offset.y == total - view.size.height

        await pilot.press("slash", *"line 0002222", "enter")
        await wait_for(pilot, lambda: len(screen.matches) == 1, "the search")
        target = screen.matches[0]
        await wait_for(pilot, lambda: view.cursor == target, "the jump to the match")
        context = text_of(screen.query_one("#log-context"))
        assert "match 1/1" in context
        assert "line 0002221" in context and "line 0002223" in context
        await pilot.press("y")
        assert "line 0002222" in (app.clipboard or "")
        await pilot.press("Y")
        assert '"said": "a lot"' in (app.clipboard or "")
        await pilot.press("g")
        assert view.cursor == 0 and not view.follow
        await pilot.press("pagedown")
        assert view.cursor > 0

        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "the main screen")
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), "help")
        await pilot.press("escape")

        commands = [title for title, _, _ in ActionsProvider(app.screen)._commands()]
        for expected in (
            "retry (r)",
            "resolve (c)",
            "accept (a)",
            "rollback (b)",
            "stop (x)",
            "log (l)",
            "runs (o)",
            "help (?)",
        ):
            assert expected in commands, commands

        await pilot.press("o")
        await wait_for(pilot, lambda: isinstance(app.screen, RunPickerScreen), "the run picker")
        picker = app.screen
        await wait_for(pilot, lambda: len(picker.rows) == 2, "both runs")
        assert [r.id for r in picker.rows] == [run_id, other]
        await pilot.press("down", "enter")
        await wait_for(
            pilot,
            lambda: app.run_id == other and isinstance(app.screen, MainScreen),
            "the other run",
        )
        await wait_for(pilot, lambda: app.state.workflow is not None, "the other run's state")
        assert app.state.run_id == other and app.state.status == "pending"
