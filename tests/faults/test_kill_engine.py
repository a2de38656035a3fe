"""SIGKILL of the engine in each kind of stage, then resume: the same outcome as a clean run.

Each test starts the real `phaseboard run --headless` in a subprocess, waits (by polling the
store) until the engine is inside the stage under test, kills it with SIGKILL, and resumes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.faults.harness import (
    alive,
    all_of,
    attempts_of,
    cli,
    event,
    events,
    finish,
    integrity,
    kill9,
    kill_once,
    manifest_hashes,
    no_traceback,
    scalar,
    settled,
    start,
    status,
    succeeded_agents,
    tree_hashes,
    wait_for,
)
from tests.faults.workflows import run_staged

pytestmark = pytest.mark.faults

DB = Path(".phaseboard") / "phaseboard.db"


def resume_and_compare(tmp_path: Path, workspace: Path, clean: dict[str, Any]) -> dict[str, Any]:
    """Resume the killed run; it must end as the clean run did. Returns its status document."""
    resumed = cli("resume", "last", "--headless", cwd=workspace)
    no_traceback(resumed.stderr)
    assert resumed.returncode == clean["exit"], resumed.stderr
    doc = status(workspace)
    assert doc["run"]["status"] == clean["status"]
    assert doc["run"]["decision"] == clean["decision"] == "CONDITIONAL_PROCEED"
    assert succeeded_agents(doc) == clean["succeeded"]
    settled(workspace / DB, tmp_path)
    return doc


def test_kill_while_agents_run(tmp_path: Path, workspace: Path, clean_staged: dict) -> None:
    engine = run_staged(tmp_path, workspace, "hang_analysis=1")
    db = workspace / DB
    _, hung = wait_for(
        db,
        all_of(
            event("agent_finished", agent="quick", status="succeeded"),
            event("attempt_started", agent="slow"),
        ),
        "quick done and slow running",
    )
    kill9(engine)
    assert alive(hung["pid"])  # the agent outlived its engine
    assert json.loads(cli("runs", "--json", cwd=workspace).stdout)[0]["status"] == "interrupted"

    doc = resume_and_compare(tmp_path, workspace, clean_staged)
    assert not alive(hung["pid"])
    assert attempts_of(doc) == {
        "analysis.quick": ["succeeded"],  # finished work is not redone
        "analysis.slow": ["failed", "succeeded"],
        "merge.synthesizer": ["succeeded"],
        "implementation.code": ["succeeded"],
    }


def test_kill_during_consolidation(tmp_path: Path, workspace: Path, clean_staged: dict) -> None:
    engine = run_staged(tmp_path, workspace, "hang_synth=1")
    db = workspace / DB
    hung = wait_for(db, event("attempt_started", agent="synthesizer"), "the synthesizer")
    kill9(engine)
    assert not any(e["kind"] == "consolidated" for e in events(db))

    doc = resume_and_compare(tmp_path, workspace, clean_staged)
    assert not alive(hung["pid"])
    assert attempts_of(doc) == {
        "analysis.quick": ["succeeded"],
        "analysis.slow": ["succeeded"],
        "merge.synthesizer": ["failed", "succeeded"],
        "implementation.code": ["succeeded"],
    }
    merged = [e for e in events(db) if e["kind"] == "consolidated"]
    assert len(merged) == 1 and len(merged[0]["conflicts"]) == 1


def test_kill_at_checkpoint(tmp_path: Path, workspace: Path, clean_staged: dict) -> None:
    engine = run_staged(tmp_path, workspace)
    db = workspace / DB
    at_kill = kill_once(db, engine, event("stage_started", stage="review"), "the checkpoint")
    # The checkpoint's window is a few milliseconds: the kill may land after it finished.
    seen = [e["kind"] for e in at_kill if e.get("stage") == "review"]
    assert "stage_started" in seen

    doc = resume_and_compare(tmp_path, workspace, clean_staged)
    assert all(statuses == ["succeeded"] for statuses in attempts_of(doc).values())
    evaluated = [e for e in events(db) if e["kind"] == "checkpoint_evaluated"]
    assert {e["decision"]["verdict"] for e in evaluated} == {"CONDITIONAL_PROCEED"}


@pytest.mark.parametrize("redo", ["rollback", "resume"])
def test_kill_during_rollback_then_redo(
    tmp_path: Path, workspace: Path, clean_staged: dict, redo: str
) -> None:
    """The rollback command of the implementation agent sleeps 1 s: the `phaseboard rollback`
    process is killed then; the operator runs the rollback again, or resumes."""
    before = tree_hashes(workspace)
    calls = tmp_path / "rollback_calls.log"
    engine = run_staged(tmp_path, workspace, "rollback_sleep=1", f"calls={calls}")
    code, err = finish(engine)
    assert code == 3, err
    assert tree_hashes(workspace) != before
    db = workspace / DB

    rolling = start("rollback", "last", "implementation", "--yes", cwd=workspace)
    wait_for(db, lambda _: calls.exists() and calls.read_text().strip(), "the rollback command")
    kill9(rolling)
    [orphan] = [int(line) for line in calls.read_text().split()]
    assert not any(e["kind"] == "rolled_back" for e in events(db))

    if redo == "rollback":
        again = cli("rollback", "last", "implementation", "--yes", cwd=workspace)
        assert again.returncode == 0, again.stderr
    else:
        again = cli("resume", "last", "--headless", cwd=workspace)
        assert again.returncode == 4, again.stderr  # the pending rollback applied: paused
    no_traceback(again.stderr)
    assert tree_hashes(workspace) == before
    history = events(db)
    rolled = [e for e in history if e["kind"] == "rolled_back"]
    # The killed command was durable: it is applied now, exactly once.
    assert sorted(rolled[0]["restored"]["removed"]) == ["src/new.py"]
    assert all(not e["restored"]["removed"] for e in rolled[1:])
    applied = [e["command_id"] for e in history if e["kind"] == "command_applied"]
    assert sorted(applied) == sorted(set(applied))
    assert scalar(db, "SELECT COUNT(*) FROM commands WHERE applied_at IS NULL") == 0
    point = next(
        e for e in history if e["kind"] == "rollback_point" and e["id"] == rolled[0]["point"]
    )
    assert manifest_hashes(db, point["manifest_id"]) == before
    assert len(calls.read_text().split()) == 2  # killed once, run again once
    assert integrity(db) == "ok"
    assert not alive(orphan)

    doc = resume_and_compare(tmp_path, workspace, clean_staged)
    assert attempts_of(doc)["analysis.quick"] == ["succeeded"]
    assert len(attempts_of(doc)["implementation.code"]) == 2
    assert tree_hashes(workspace) != before  # the implementation ran again
