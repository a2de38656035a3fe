"""The console's header and pause banner follow the run's current state: progress and the
estimate, and the next action once another process has changed what the run waits for."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.helpers import agent_cmd, run_cli
from tests.tui.flows import conflict_flow
from tests.tui.tui_helpers import make_run, text_of, wait_for
from tui.console.app import PhaseboardApp
from tui.console.widgets.run_header import PauseBanner


async def test_a_second_console_sees_resume_once_the_conflicts_are_resolved(
    tmp_path: Path, workspace: Path
) -> None:
    db, run_id = await make_run(tmp_path, workspace, conflict_flow())
    first = await asyncio.to_thread(run_cli, "resume", run_id, "--headless", cwd=workspace)
    assert first.returncode == 4, first.stderr
    app = PhaseboardApp(db, run_id, poll_interval=0.05)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.state.status == "paused", "the paused run")
        banner = app.screen.query_one(PauseBanner)
        await wait_for(pilot, lambda: "resolve conflict" in text_of(banner), "the conflicts")
        state = app.screen.query_one("#run-state")
        assert "eta unknown" in text_of(state) and "blocker" in text_of(state)

        for conflict in list(app.state.open_conflicts()):  # from another process, no engine
            done = await asyncio.to_thread(
                run_cli, "resolve", run_id, conflict.id, "--pick", "analysis.architecture",
                cwd=workspace,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr

        await wait_for(pilot, lambda: not app.state.open_conflicts(), "the resolutions")
        await wait_for(
            pilot,
            lambda: "resume: checkpoint analysis_review now passes" in text_of(banner),
            "the banner asking for resume",
        )
        assert "resolve conflict" not in text_of(banner)
        await wait_for(pilot, lambda: "blocker" not in text_of(state), "no blockers left")


async def test_the_header_counts_active_agents(tmp_path: Path, workspace: Path) -> None:
    flow = f"""
version: 1
name: slow
stages:
  - id: work
    kind: agents
    agents:
      - {{id: quick, run: {agent_cmd("--findings", '{"a": 1}')}}}
      - {{id: long, run: {agent_cmd("--hang")}, timeout: 60}}
"""
    db, run_id = await make_run(tmp_path, workspace, flow)
    app = PhaseboardApp(db, run_id, poll_interval=0.05)
    engine = asyncio.create_task(
        asyncio.to_thread(run_cli, "resume", run_id, "--headless", cwd=workspace, timeout=60)
    )  # another process drives the run
    async with app.run_test(size=(120, 30)) as pilot:
        state = app.screen.query_one("#run-state")
        await wait_for(pilot, lambda: "1 active" in text_of(state), "the running agent")
        assert "50%" in text_of(state) and "eta unknown" in text_of(state)
        stopped = await asyncio.to_thread(run_cli, "stop", run_id, cwd=workspace)
        assert stopped.returncode == 0, stopped.stderr
        await wait_for(pilot, lambda: app.state.status != "running", "the stop")
    assert (await engine).returncode == 130


async def test_a_second_run_of_a_workflow_gets_an_estimate(tmp_path: Path, workspace: Path) -> None:
    flow = f"""
version: 1
name: twice
stages:
  - id: work
    kind: agents
    agents: [{{id: only, run: {agent_cmd("--findings", '{"a": 1}')}}}]
"""
    db, first = await make_run(tmp_path, workspace, flow)
    done = await asyncio.to_thread(run_cli, "resume", first, "--headless", cwd=workspace)
    assert done.returncode == 0, done.stderr
    _, second = await make_run(tmp_path, workspace, flow)
    app = PhaseboardApp(db, second, poll_interval=0.05)
    async with app.run_test(size=(120, 30)) as pilot:
        state = app.screen.query_one("#run-state")
        await wait_for(pilot, lambda: "once resumed" in text_of(state), "the estimate")
        assert "0% · eta " in text_of(state) and "unknown" not in text_of(state)
