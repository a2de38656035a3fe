"""Two processes at once on one run: resuming engines, and operators resolving one conflict."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import psutil
import pytest

from tests.faults.harness import (
    alive,
    attempts_of,
    cli,
    conflict_ids,
    connect,
    event,
    events,
    finish,
    integrity,
    kill9,
    no_traceback,
    scalar,
    settled,
    start,
    status,
    wait_for,
    wait_no_leftovers,
)
from tests.faults.workflows import CONFLICTED, run_staged, write
from tests.helpers import run_inline

pytestmark = pytest.mark.faults

DB = Path(".phaseboard") / "phaseboard.db"


def test_two_engines_race_to_resume(tmp_path: Path, workspace: Path) -> None:
    engine = run_staged(tmp_path, workspace, "hang_analysis=1", "slow_sleep=1")
    db = workspace / DB
    hung = wait_for(db, event("attempt_started", agent="slow"), "the slow agent")
    kill9(engine)

    racers = [start("resume", "last", "--headless", cwd=workspace) for _ in range(2)]
    results = sorted((finish(p) for p in racers), key=lambda r: r[0])
    for _, err in results:
        no_traceback(err)
    (lost, lost_err), (won, won_err) = results
    assert (lost, won) == (1, 3), results
    assert "live engine" in lost_err
    assert "completed, decision CONDITIONAL_PROCEED" in won_err

    history = events(db)
    slow_starts = [e for e in history if e["kind"] == "attempt_started" and e["agent"] == "slow"]
    assert [e["attempt"] for e in slow_starts] == [1, 2]  # exactly one engine ran it again
    assert [e["status"] for e in history if e["kind"] == "run_status"].count("completed") == 1
    assert attempts_of(status(workspace))["analysis.slow"] == ["failed", "succeeded"]
    assert scalar(db, "SELECT COUNT(*) FROM locks") == 0
    assert integrity(db) == "ok"
    assert not alive(hung["pid"])
    wait_no_leftovers(tmp_path)


def test_two_operators_resolve_one_conflict(tmp_path: Path, workspace: Path) -> None:
    wf = write(tmp_path, CONFLICTED)
    paused = cli("run", str(wf), "--headless", "--workspace", str(workspace), cwd=tmp_path)
    assert paused.returncode == 4, paused.stderr
    [conflict] = conflict_ids(workspace / DB)

    picks = ["analysis.one", "analysis.two"]
    operators = [
        start("resolve", "last", conflict, "--pick", pick, "--note", f"by {pick}", cwd=workspace)
        for pick in picks
    ]
    results = [finish(p) for p in operators]
    for _, err in results:
        no_traceback(err)
    assert sorted(code for code, _ in results) == [0, 1], results
    winner = picks[[code for code, _ in results].index(0)]
    loser_err = next(err for code, err in results if code == 1)
    assert f"conflict {conflict} was already resolved by" in loser_err

    db = workspace / DB
    history = events(db)
    [resolved] = [e for e in history if e["kind"] == "conflict_resolved"]
    assert resolved["picked"] == winner
    applied = [e["command_id"] for e in history if e["kind"] == "command_applied"]
    assert sorted(applied) == [1, 2]
    assert scalar(db, "SELECT COUNT(*) FROM commands WHERE applied_at IS NULL") == 0
    assert integrity(db) == "ok"

    resumed = cli("resume", "last", "--headless", cwd=workspace)
    assert resumed.returncode == 0, resumed.stderr
    assert status(workspace)["conflicts"][0]["resolution"]["picked"] == winner
    wait_no_leftovers(tmp_path)


async def test_command_applied_by_the_other_operator_reports_its_outcome(
    tmp_path: Path, workspace: Path
) -> None:
    from engine.run.requests import apply_pending_now, submit
    from engine.store.database import Store

    outcome, state, db = await run_inline(tmp_path, workspace, CONFLICTED)
    assert outcome.status == "paused"
    [conflict] = state.conflicts
    store = await Store.open(db, create=False)
    try:
        args = {"conflict": conflict, "note": ""}
        bob = await store.add_command(state.run_id, "resolve", {**args, "pick": "two"}, "bob@h")
        # Alice's process takes the lock first and applies every pending command, Bob's too.
        alice = await submit(
            store, state.run_id, "resolve", {**args, "pick": "one"}, operator="alice@h"
        )
        assert not alice.ok and "already resolved by bob@h" in alice.message
        # Bob's process then finds no live engine and applies "its" command itself.
        told_bob = await apply_pending_now(store, state.run_id, bob)
    finally:
        await store.close()
    settled(db, tmp_path)
    assert told_bob.ok, told_bob.message


def test_command_is_applied_at_once_when_the_lock_holder_leaves(
    tmp_path: Path, workspace: Path
) -> None:
    wf = write(tmp_path, CONFLICTED)
    paused = cli("run", str(wf), "--headless", "--workspace", str(workspace), cwd=tmp_path)
    assert paused.returncode == 4, paused.stderr
    [conflict] = conflict_ids(workspace / DB)
    db = workspace / DB
    run_id = scalar(db, "SELECT id FROM runs")
    conn = connect(db)
    me = psutil.Process()
    conn.execute(
        "INSERT INTO locks(run_id, pid, host, create_time, heartbeat) VALUES (?,?,?,?,?)",
        (run_id, me.pid, socket.gethostname(), me.create_time(), time.time()),
    )
    operator = start("resolve", "last", conflict, "--pick", "one", cwd=workspace)
    try:
        wait_for(db, lambda _: scalar(db, "SELECT COUNT(*) FROM commands"), "the command row")
        conn.execute("DELETE FROM locks")  # the holder leaves without applying it
        conn.close()
        code, err = finish(operator, timeout=2.5)
    finally:
        if operator.poll() is None:
            kill9(operator)
    settled(db, tmp_path)
    assert code == 0, err
