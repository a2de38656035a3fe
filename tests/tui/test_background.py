"""The console and a background engine process: attach, resume by key, quit and leave or stop."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from engine.run.session import RunSession
from engine.store.database import Store
from screens.conflicts import CandidateCard, ConflictScreen
from screens.main import MainScreen
from screens.modals import QuitModal
from tests.helpers import agent_cmd
from tests.tui.flows import accept_flow, conflict_flow
from tests.tui.tui_helpers import make_run, text_of, wait_for
from tui.console.app import PhaseboardApp
from tui.console.launcher import EngineProcess, launch_engine
from tui.console.widgets.run_header import PauseBanner

EXIT_WAIT_S = 15.0


async def wait_exit(proc: EngineProcess) -> int:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + EXIT_WAIT_S
    while proc.exit_code() is None:
        assert loop.time() < deadline, "the engine process did not end"
        await asyncio.sleep(0.05)
    return int(proc.exit_code() or 0)


async def run_dir_of(db: Path, run_id: str) -> Path:
    async with await Store.open(db, create=False) as store:
        row = await store.run(run_id)
    assert row is not None
    return Path(row.run_dir)


async def test_attach_to_a_run_driven_by_another_process(tmp_path: Path, workspace: Path) -> None:
    db, run_id = await make_run(tmp_path, workspace, conflict_flow())
    proc = launch_engine(db, run_id, await run_dir_of(db, run_id))
    try:
        app = PhaseboardApp(db, run_id, poll_interval=0.05)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: app.state.status == "paused", "the pause")
            await wait_for(pilot, lambda: app.engine_state() == "live", "the live engine")
            badge = app.screen.query_one("#run-badge")
            await wait_for(pilot, lambda: text_of(badge).strip() == "⚙ engine", "the live badge")
            await pilot.press("c")
            await wait_for(pilot, lambda: isinstance(app.screen, ConflictScreen), "conflicts")
            screen = app.screen
            for _ in range(2):
                await wait_for(pilot, lambda: len(screen.query(CandidateCard)) == 2, "candidates")
                current = screen.current()
                assert current is not None
                await pilot.press("1", "enter")
                await wait_for(
                    pilot,
                    lambda c=current: app.state.conflicts[c.id].resolved,
                    "a resolution applied by the other process",
                )
            await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "the main screen")
            await wait_for(pilot, lambda: app.state.status == "completed", "the verdict")
            assert app.state.decision == "PROCEED"
        assert await wait_exit(proc) == 0
        assert (await run_dir_of(db, run_id) / "engine.log").exists()
    finally:
        if proc.exit_code() is None:
            proc.popen.kill()
            proc.popen.wait()


async def test_resume_key_starts_an_engine_and_quitting_leaves_it(
    tmp_path: Path, workspace: Path
) -> None:
    db, run_id = await make_run(tmp_path, workspace, accept_flow())
    app = PhaseboardApp(db, run_id, poll_interval=0.05)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.state.workflow is not None, "the run")
        banner = app.screen.query_one(PauseBanner)
        await wait_for(pilot, lambda: "NO ENGINE" in text_of(banner), "the offer to resume")
        await pilot.press("p")
        assert app.engine_proc is not None
        proc = app.engine_proc
        await wait_for(pilot, lambda: app.state.status == "paused", "the failed checkpoint")
        await wait_for(pilot, lambda: app.engine_state() == "live", "the live engine")
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, QuitModal), "the quit question")
        await pilot.press("l")
    try:
        assert app.return_code == 0
        await asyncio.sleep(0.3)
        assert proc.exit_code() is None, "leaving the console must not stop the run"

        again = PhaseboardApp(db, run_id, poll_interval=0.05)
        async with again.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: again.engine_state() == "live", "the engine, attached")
            await pilot.press("q")
            await wait_for(pilot, lambda: isinstance(again.screen, QuitModal), "the question")
            await pilot.press("s")
            await wait_for(pilot, lambda: again.return_code is not None, "the console to quit")
        assert await wait_exit(proc) == 130
        async with await Store.open(db, create=False) as store:
            row = await store.run(run_id)
        assert row is not None and row.status == "stopped"
    finally:
        if proc.exit_code() is None:
            proc.popen.kill()
            proc.popen.wait()


async def test_agents_of_a_console_started_engine_get_the_consoles_pythonpath(
    tmp_path: Path, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The launcher puts phaseboard's folder first on the engine's PYTHONPATH so it starts from a
    source checkout; an agent (a project's test run) must not inherit it: a project with a
    package named like one of phaseboard's would import phaseboard's instead."""
    monkeypatch.setenv("PYTHONPATH", "/opt/the-callers-path")
    flow = f"""
version: 1
name: paths
stages:
  - id: s
    kind: agents
    agents: [{{id: a, run: {agent_cmd("--summary-env", "PYTHONPATH")}}}]
"""
    db, run_id = await make_run(tmp_path, workspace, flow)
    proc = launch_engine(db, run_id, await run_dir_of(db, run_id))
    assert await wait_exit(proc) == 0
    async with await Store.open(db, create=False) as store:
        state = (await RunSession.load(store, run_id)).state
    assert state.stages["s"].agents["a"].result["summary"] == "/opt/the-callers-path"
