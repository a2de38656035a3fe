"""Snapshots of the main, conflict and rollback screens at 80x24 and 120x40.

The content comes from a fixed event history written to a fresh store (fixed times and
ids), the console's clock is frozen, and so is the text cursor's blink.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from screens.conflicts import CandidateCard, ConflictScreen
from screens.main import MainScreen
from screens.rollback import RollbackScreen
from tests.tui.fixed_run import NOW, RUN_ID, write_fixed_run
from tests.tui.tui_helpers import wait_for
from tui.console.app import PhaseboardApp
from tui.console.widgets.agent_pane import AgentPane

SIZES = [(80, 24), (120, 40)]


@pytest.fixture(autouse=True)
def frozen_cursor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(Input, "_toggle_cursor", lambda self: None)


def fixed_app(tmp_path: Path, *, complete: bool) -> PhaseboardApp:
    db = tmp_path / "phaseboard.db"
    asyncio.run(write_fixed_run(db, complete=complete))
    return PhaseboardApp(db, RUN_ID, clock=lambda: NOW, poll_interval=0.05)


async def settled(pilot: Pilot[Any]) -> None:
    app = pilot.app
    app.clear_notifications()
    await app.workers.wait_for_complete()
    await pilot.pause()


def loaded(status: str) -> Callable[[Pilot[Any]], Awaitable[None]]:
    async def wait(pilot: Pilot[Any]) -> None:
        app = pilot.app
        assert isinstance(app, PhaseboardApp)
        await wait_for(
            pilot,
            lambda: app.state.status == status and isinstance(app.screen, MainScreen),
            f"the fixed run ({status})",
        )

    return wait


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_main_screen(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await loaded("paused")(pilot)
        await pilot.press("ctrl+home")
        screen = pilot.app.screen
        await wait_for(
            pilot,
            lambda: (
                len(screen.query(AgentPane)) == 3
                and all(p.log_widget.line_count > 3 for p in screen.query(AgentPane))
            ),
            "the panes",
        )
        await settled(pilot)

    assert snap_compare(
        fixed_app(tmp_path, complete=False), terminal_size=size, run_before=run_before
    )


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_conflict_screen(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await loaded("paused")(pilot)
        await pilot.press("c")
        app = pilot.app
        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, ConflictScreen) and len(app.screen.query(CandidateCard)) == 2
            ),
            "the candidates",
        )
        await pilot.press("2")
        await settled(pilot)

    assert snap_compare(
        fixed_app(tmp_path, complete=False), terminal_size=size, run_before=run_before
    )


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_rollback_screen(snap_compare: Any, tmp_path: Path, size: tuple[int, int]) -> None:
    async def run_before(pilot: Pilot[Any]) -> None:
        await loaded("completed")(pilot)
        await pilot.press("b")
        app = pilot.app
        await wait_for(pilot, lambda: isinstance(app.screen, RollbackScreen), "rollback points")
        await pilot.press("up", "up", "up")
        await settled(pilot)

    assert snap_compare(
        fixed_app(tmp_path, complete=True), terminal_size=size, run_before=run_before
    )
