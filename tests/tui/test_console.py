"""What `phaseboard run/attach/resume` prepare before the app opens (the app itself is tested
with Pilot elsewhere): the run, its background engine, the database and the run to show."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from engine.run.runs import NotFound
from engine.store.database import Store
from tests.helpers import agent_cmd
from tests.tui.test_background import wait_exit
from tests.tui.tui_helpers import make_run
from tui.cli import console

QUICK = f"""
version: 1
name: quick
stages:
  - id: analysis
    kind: agents
    agents:
      - id: only
        run: {agent_cmd("--findings", '{"a": 1}')}
"""


def namespace(**kwargs: object) -> argparse.Namespace:
    base: dict[str, object] = {
        "db": None,
        "params": [],
        "criteria": None,
        "from_stage": None,
        "until_stage": None,
    }
    return argparse.Namespace(**{**base, **kwargs})


async def test_run_creates_the_run_and_a_background_engine(
    tmp_path: Path, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PHASEBOARD_DB", raising=False)
    wf = tmp_path / "quick.yaml"
    wf.write_text(QUICK)
    target = await console.start_run(
        namespace(command="run", workflow=str(wf), workspace=str(workspace)), demo=False
    )
    assert target.engine is not None and target.run_id is not None
    assert target.db == workspace / ".phaseboard" / "phaseboard.db"
    assert await wait_exit(target.engine) == 0
    async with await Store.open(target.db, create=False) as store:
        row = await store.run(target.run_id)
    assert row is not None and row.status == "completed"
    assert target.engine.log_path.exists()


async def test_attach_finds_the_newest_run_or_the_one_named(
    tmp_path: Path, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PHASEBOARD_DB", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(NotFound, match="no phaseboard database"):
        console.chosen_db(namespace())
    _, first = await make_run(tmp_path, workspace, QUICK)
    _, second = await make_run(tmp_path, workspace, QUICK)
    monkeypatch.chdir(workspace)
    assert (await console.attach_target(namespace(run=None))).run_id == second
    assert (await console.attach_target(namespace(run=first))).run_id == first
    with pytest.raises(NotFound):
        await console.attach_target(namespace(run="nope"))


async def test_resume_of_a_finished_run_only_attaches(tmp_path: Path, workspace: Path) -> None:
    db, run_id = await make_run(tmp_path, workspace, QUICK)
    target = await console.resume_target(namespace(run=run_id, db=str(db)))
    assert target.engine is not None  # a run never started is resumed by an engine
    assert await wait_exit(target.engine) == 0
    again = await console.resume_target(namespace(run=run_id, db=str(db)))
    assert again.run_id == run_id and again.engine is None
