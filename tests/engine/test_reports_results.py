"""Agent result files: written as each agent finishes, not created again at the stage's end."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from engine.reports import INLINE_WRITE_MAX, ReportWriter
from tests.engine.test_status_view import Run, build_run


@pytest.fixture
async def run(tmp_path: Path) -> AsyncIterator[Run]:
    built = await build_run(tmp_path, proceed=True)
    yield built
    await built.store.close()


async def test_stage_end_rewrites_only_results_that_changed_or_vanished(run: Run) -> None:
    writer = ReportWriter(run.store, run.state, run.run_dir)
    agents = [
        a
        for a in run.state.stages["analysis"].agents.values()
        if a.status == "succeeded" and a.result is not None
    ]
    assert len(agents) >= 3
    paths = {}
    for agent in agents:
        path = await writer.write_agent_result("analysis", agent.id, agent.result)
        assert path is not None
        paths[agent.id] = path
    inodes = {name: path.stat().st_ino for name, path in paths.items()}
    vanished, changed, *kept = agents
    paths[vanished.id].unlink()
    await writer.write_agent_result("analysis", changed.id, {"stale": True})

    await writer.write_stage("analysis")

    for agent in agents:
        assert json.loads(paths[agent.id].read_text()) == json.loads(json.dumps(agent.result))
    for agent in kept:
        assert paths[agent.id].stat().st_ino == inodes[agent.id], "rewritten unchanged"


async def test_a_result_past_the_inline_size_is_written_whole(run: Run) -> None:
    writer = ReportWriter(run.store, run.state, run.run_dir)
    big = {"summary": "x" * (INLINE_WRITE_MAX + 1)}
    path = await writer.write_agent_result("analysis", "big", big)
    assert path is not None and json.loads(path.read_text()) == big
