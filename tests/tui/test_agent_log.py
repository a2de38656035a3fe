"""An agent pane under a flood of lines: a bounded tail, only the rows on screen rendered, the
view held while the operator reads, and the rest of the screen left alone between clocks."""

from __future__ import annotations

import gc
from pathlib import Path

import pytest
from rich.style import Style
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.strip import Strip

from engine.state.records import AgentState, AttemptState
from engine.store.database import StoredLog
from screens.main import MainScreen
from tests.tui.fixed_run import NOW, RUN_ID, write_fixed_run
from tests.tui.tui_helpers import wait_for
from tui.console.app import GC_THRESHOLDS, PhaseboardApp
from tui.console.watcher import PaneLines, RunBatch
from tui.console.widgets.agent_pane import AgentGrid, AgentLog, AgentPane

WIDTH, HEIGHT = 30, 12
"""The pane's size: a title, an info line, and ten rows of log."""


class OnePane(App[None]):
    def compose(self) -> ComposeResult:
        yield AgentPane("s", "a")


def rows_shown(log: AgentLog) -> list[str]:
    """What the log's rows read on screen, right now."""
    width, height = log.size
    return [strip.text.rstrip() for strip in log.render_lines(Region(0, 0, width, height))]


def numbered(start: int, stop: int) -> list[str]:
    return [f"line {i:04d}" for i in range(start, stop)]


async def test_a_flood_keeps_a_bounded_tail_and_renders_only_the_rows_on_screen(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built: list[str] = []
    strip = AgentLog._strip

    def counted(text: str, width: int, style: Style) -> Strip:
        built.append(text)
        return strip(text, width, style)

    monkeypatch.setattr(AgentLog, "_strip", staticmethod(counted))
    app = OnePane()
    async with app.run_test(size=(WIDTH, HEIGHT)) as pilot:
        log = app.query_one(AgentLog)
        log.max_lines = 50
        for start in range(0, 2000, 500):
            log.write_lines(numbered(start, start + 500))
        await pilot.pause()
        assert list(log.lines) == numbered(1950, 2000)
        assert log.line_count == 50
        height = log.size.height
        assert height == HEIGHT - 2
        assert rows_shown(log) == numbered(2000 - height, 2000)
        assert 0 < len(built) <= 2 * height  # the rows on screen, not the 2,000 lines written


async def test_reading_back_holds_the_view_while_lines_arrive() -> None:
    app = OnePane()
    async with app.run_test(size=(WIDTH, HEIGHT)) as pilot:
        pane = app.query_one(AgentPane)
        log = pane.log_widget
        log.write_lines(numbered(0, 100))
        pane.focus()
        await pilot.press("up", "up", "up")
        assert log.back == 3
        height = log.size.height
        shown = rows_shown(log)
        assert shown[:-1] == numbered(100 - 3 - height, 100 - 3)[1:]
        assert shown[-1] == "↓ 3 newer lines (end)"

        log.write_lines(numbered(100, 105))
        assert log.back == 8
        assert rows_shown(log)[:-1] == shown[:-1]

        await pilot.press("home")
        assert rows_shown(log)[0] == "line 0000"
        await pilot.press("end")
        assert log.back == 0
        assert rows_shown(log)[-1] == "line 0104"


async def test_log_lines_leave_the_clocks_to_the_tick(tmp_path: Path) -> None:
    db = tmp_path / "phaseboard.db"
    await write_fixed_run(db, complete=False)
    app = PhaseboardApp(db, RUN_ID, clock=lambda: NOW, poll_interval=0.05)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(
            pilot,
            lambda: app.state.status == "paused" and isinstance(app.screen, MainScreen),
            "the fixed run",
        )
        await pilot.press("ctrl+home")
        await wait_for(pilot, lambda: len(app.screen.query(AgentPane)) == 3, "the panes")
        screen = app.screen
        assert isinstance(screen, MainScreen)
        ticks: list[None] = []
        screen.tick = lambda: ticks.append(None)  # type: ignore[method-assign]
        grid = screen.query_one(AgentGrid)
        agent = grid.agent_ids[0]
        stage = grid.stage_id or ""
        row = StoredLog(10**9, stage, agent, 1, "stdout", NOW, "fresh line", False)
        state = app.state
        screen.on_batch(
            RunBatch(state, panes={agent: PaneLines([row])}, stage=stage, engine_alive=False)
        )
        pane = grid.pane(agent)
        assert pane is not None
        assert pane.log_widget.lines[-1] == "fresh line"
        assert ticks == []
        event = next(iter(app.events))
        screen.on_batch(RunBatch(state, events=[event], stage=stage, engine_alive=False))
        assert len(ticks) == 1


async def test_the_collector_is_held_while_the_console_runs(tmp_path: Path) -> None:
    db = tmp_path / "phaseboard.db"
    await write_fixed_run(db, complete=True)
    before = gc.get_threshold()
    app = PhaseboardApp(db, RUN_ID, clock=lambda: NOW, poll_interval=0.05)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "the main screen")
        assert gc.get_threshold()[:2] == GC_THRESHOLDS
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


async def test_the_info_line_says_how_long_an_attempt_was_paused_for_its_cpu_share() -> None:
    held = AttemptState(n=1, status="succeeded", duration_s=4.0, cpu_s=1.0, throttled_s=2.9)
    free = AttemptState(n=1, status="succeeded", duration_s=1.0, cpu_s=1.0)
    app = OnePane()
    async with app.run_test(size=(80, HEIGHT)):
        pane = app.query_one(AgentPane)
        for attempt, expected in ((held, True), (free, False)):
            agent = AgentState(id="a", stage="s", title="a", status="succeeded", attempts=[attempt])
            text = pane._info_text(agent, None, NOW, {}).plain
            assert ("paused 2.9s" in text) is expected, text
