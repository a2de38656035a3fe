"""Agent result files: queued as each agent finishes, written off the event loop, not created
again at the stage's end."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from engine.reports.writer import ReportWriter
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
        path = writer.queue_agent_result("analysis", agent.id, agent.result)
        assert path is not None
        paths[agent.id] = path
    await writer.flush_results()
    inodes = {name: path.stat().st_ino for name, path in paths.items()}
    vanished, changed, *kept = agents
    paths[vanished.id].unlink()
    writer.queue_agent_result("analysis", changed.id, {"stale": True})

    await writer.write_stage("analysis")

    for agent in agents:
        assert json.loads(paths[agent.id].read_text()) == json.loads(json.dumps(agent.result))
    for agent in kept:
        assert paths[agent.id].stat().st_ino == inodes[agent.id], "rewritten unchanged"


async def test_results_queued_while_others_are_written_all_land(run: Run) -> None:
    writer = ReportWriter(run.store, run.state, run.run_dir)
    big = {"summary": "x" * 300_000}
    first = writer.queue_agent_result("analysis", "big", big)
    later = [writer.queue_agent_result("analysis", f"a{i}", {"i": i}) for i in range(50)]
    await writer.flush_results()
    assert first is not None and json.loads(first.read_text()) == big
    assert [json.loads(p.read_text()) for p in later if p] == [{"i": i} for i in range(50)]
    await writer.flush_results()  # nothing queued: returns at once


async def test_the_stage_files_wait_for_queued_results(run: Run) -> None:
    writer = ReportWriter(run.store, run.state, run.run_dir)
    path = writer.queue_agent_result("analysis", "late", {"done": True})
    await writer.write_stage("analysis")
    assert path is not None and json.loads(path.read_text()) == {"done": True}


async def test_continuity_is_rewritten_only_when_it_would_change(run: Run) -> None:
    writer = ReportWriter(run.store, run.state, run.run_dir)
    path = await writer.write_continuity()
    assert path is not None
    inode = path.stat().st_ino

    assert await writer.write_continuity() == path
    assert path.stat().st_ino == inode, "rewritten with the same text"

    path.unlink()
    await writer.write_continuity()
    assert path.read_text().startswith("# Session continuity")

    inode = path.stat().st_ino
    run.state.last_seq += 1  # a new event: "As of ... (event N)" changes
    await writer.write_continuity()
    assert path.stat().st_ino != inode
    assert f"(event {run.state.last_seq})" in path.read_text()
