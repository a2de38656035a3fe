"""``phaseboard wait``: blocks until a run another process drives pauses or ends, and exits with
the code ``run --headless`` would have; 124 when its timeout passes first."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from engine.execution.local_executor import LocalExecutor
from engine.run.engine import Engine
from engine.run.requests import submit
from engine.run.session import RunSession
from engine.state.events import RunStatusChanged
from engine.store.database import Store
from engine.store.location import default_db
from tests.faults.harness import cli_env, connect, events, wait_for
from tests.helpers import GATED, agent_cmd, create_test_run, run_cli
from tui.cli.main import main


def start_wait(workspace: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "wait", *args],
        cwd=workspace,
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


async def exited(proc: subprocess.Popen[str]) -> int:
    return await asyncio.to_thread(proc.wait, 60)


async def test_wait_follows_a_run_another_process_drives(tmp_path: Path, workspace: Path) -> None:
    go = tmp_path / "go"
    store = await Store.open(default_db(workspace))
    try:
        run_id = await create_test_run(
            store,
            tmp_path,
            workspace,
            GATED.format(notify="null", agent=agent_cmd("--wait-file", str(go))),
        )
        engine = await Engine.open(store, run_id, LocalExecutor())
        driving = asyncio.create_task(engine.drive())
        paused = start_wait(workspace, run_id[:15], "--until", "paused")
        finished = start_wait(workspace, "last", "--until", "finished")
        go.touch()
        assert (await driving).status == "paused"
        assert await exited(paused) == 4, paused.stderr.read() if paused.stderr else ""
        assert finished.poll() is None  # it waits through the pause

        outcome = await submit(store, run_id, "accept", {"checkpoint": "gate", "note": "ok"})
        assert outcome.ok, outcome.message
        engine = await Engine.open(store, run_id, LocalExecutor())
        assert (await engine.drive()).decision == "CONDITIONAL_PROCEED"
        assert await exited(finished) == 3
        assert finished.stderr is not None
        assert f"run {run_id} completed, decision CONDITIONAL_PROCEED" in finished.stderr.read()
    finally:
        await store.close()


@pytest.fixture
def runs_in_every_state(tmp_path: Path, workspace: Path) -> dict[str, str]:
    """One run per way a run can stand, made of real events in a real store (no agents)."""
    endings = {
        "proceed": RunStatusChanged(status="completed", decision="PROCEED"),
        "conditional": RunStatusChanged(status="completed", decision="CONDITIONAL_PROCEED"),
        "block": RunStatusChanged(status="completed", decision="BLOCK"),
        "failed": RunStatusChanged(status="failed", reason="stage work failed"),
        "paused": RunStatusChanged(status="paused", reason="checkpoint", awaiting=["accept"]),
        "stopped": RunStatusChanged(status="stopped", reason="stopped by operator"),
        "engine gone": RunStatusChanged(status="running"),
    }

    async def make() -> dict[str, str]:
        store = await Store.open(default_db(workspace))
        ids = {}
        try:
            for name, ending in endings.items():
                run_id = await create_test_run(
                    store, tmp_path, workspace, GATED.format(notify="null", agent=agent_cmd())
                )
                session = await RunSession.load(store, run_id)
                await session.emit(RunStatusChanged(status="running"), ending)
                ids[name] = run_id
        finally:
            await store.close()
        return ids

    return asyncio.run(make())


def test_wait_exits_with_the_runs_code(
    runs_in_every_state: dict[str, str], workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(workspace)
    monkeypatch.delenv("PHASEBOARD_DB", raising=False)
    codes = {name: main(["wait", run_id]) for name, run_id in runs_in_every_state.items()}
    assert codes == {
        "proceed": 0,
        "conditional": 3,
        "block": 1,
        "failed": 1,
        "paused": 4,
        "stopped": 130,
        "engine gone": 130,  # marked running, but no engine holds it: interrupted
    }
    paused = runs_in_every_state["paused"]
    assert main(["wait", paused, "--until", "finished", "--timeout", "0.2"]) == 124
    assert main(["wait", runs_in_every_state["proceed"], "--timeout", "0"]) == 0
    assert main(["wait", paused, "--timeout", "-1"]) == 2
    assert main(["wait", "nosuchrun"]) == 1


def test_resume_hands_a_paused_run_to_the_engine_waiting_on_it(
    tmp_path: Path, workspace: Path
) -> None:
    """A console quit while its engine waits on a paused run: `resume --headless` does not fail
    on the engine's lock, it tells that engine to resume and exits with the run's code. (An
    engine that is driving the run is still refused: tests/faults/test_races.py.)"""
    wf = tmp_path / "wf.yaml"
    wf.write_text(GATED.format(notify="null", agent=agent_cmd()))
    first = run_cli("run", str(wf), "--headless", "--workspace", str(workspace), cwd=tmp_path)
    assert first.returncode == 4, first.stderr
    db = default_db(workspace)
    live = subprocess.Popen(  # as the console starts it: waits for the operator when paused
        [sys.executable, "-m", "tui.cli", "engine", "last"],
        cwd=workspace,
        env=cli_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(db, lambda _: lock_of(db) == (live.pid, 1), "the engine waiting on the run")
        rolled = run_cli("rollback", "last", "work", "--yes", cwd=workspace)
        assert rolled.returncode == 0, rolled.stderr
        wait_for(db, lambda _: lock_of(db) == (live.pid, 1), "the engine waiting again")
        resumed = run_cli("resume", "last", "--headless", cwd=workspace)
        assert resumed.returncode == 4, resumed.stderr  # the gate fails again: paused again
        assert f"resumed by its live engine (pid {live.pid})" in resumed.stderr
        assert "Traceback" not in resumed.stderr
        started = [e for e in events(db) if e["kind"] == "stage_started" and e["stage"] == "work"]
        assert len(started) == 2  # the work stage ran again, in the waiting engine
        assert live.poll() is None
        assert run_cli("stop", "last", cwd=workspace).returncode == 0
        assert live.wait(timeout=30) is not None
    finally:
        live.kill()
        live.wait()


def lock_of(db: Path) -> tuple[int, int] | None:
    """(pid, waiting) of the run's lock."""
    conn = connect(db)
    try:
        row = conn.execute("SELECT pid, waiting FROM locks").fetchone()
    finally:
        conn.close()
    return None if row is None else (int(row[0]), int(row[1]))
