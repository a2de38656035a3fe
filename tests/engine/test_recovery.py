"""A run survives its engine: SIGKILL and resume, SIGINT, one engine per run."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil

from engine.store.database import Store
from tests.helpers import ROOT, agent_cmd, run_cli

WORKFLOW = f"""
version: 1
name: recover
defaults: {{retries: 0, grace: 0.5}}
stages:
  - id: first
    kind: agents
    agents: [{{id: quick, run: {agent_cmd("--findings", '{{"n": 1}}')}}}]
  - id: second
    kind: agents
    agents: [{{id: slow, run: {agent_cmd("--hang-attempts", "1")}}}]
"""


def start_engine(tmp_path: Path, workspace: Path) -> subprocess.Popen[str]:
    wf = tmp_path / "wf.yaml"
    wf.write_text(WORKFLOW.replace("{{{{", "{{").replace("}}}}", "}}"))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("PHASEBOARD_DB", None)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tui.cli",
            "run",
            str(wf),
            "--headless",
            "--workspace",
            str(workspace),
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


async def wait_for_attempt(db: Path, agent: str) -> dict:
    """Wait (bounded) until the engine has recorded the start of the agent's attempt."""
    for _ in range(600):
        if db.exists():
            store = await Store.open(db, create=False)
            try:
                runs = await store.runs()
                if runs:
                    for event in await store.events(runs[0].id):
                        if event.kind == "attempt_started" and event.data["agent"] == agent:
                            return event.data
            finally:
                await store.close()
        await asyncio.sleep(0.05)
    raise AssertionError(f"{agent} never started")


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


async def test_sigkill_then_resume_finishes_without_redoing_work(
    tmp_path: Path, workspace: Path
) -> None:
    proc = start_engine(tmp_path, workspace)
    db = workspace / ".phaseboard" / "phaseboard.db"
    started = await wait_for_attempt(db, "slow")
    proc.kill()
    proc.wait(timeout=10)
    assert not gone(started["pid"])  # the agent outlived its engine

    runs = json.loads(run_cli("runs", "--json", cwd=workspace).stdout)
    listing = run_cli("runs", cwd=workspace).stdout
    assert "interrupted" in listing, (runs, listing)

    resumed = run_cli("resume", "last", "--headless", cwd=workspace)
    assert resumed.returncode == 0, resumed.stderr
    assert gone(started["pid"])
    status = json.loads(run_cli("status", "last", "--json", cwd=workspace).stdout)
    quick = status["stages"][0]["agents"][0]
    assert len(quick["attempts"]) == 1  # finished work is not redone
    slow = status["stages"][1]["agents"][0]
    assert [a["status"] for a in slow["attempts"]] == ["failed", "succeeded"]
    store = await Store.open(db, create=False)
    try:
        assert await store.integrity_check() == "ok"
    finally:
        await store.close()


async def test_second_engine_is_refused_and_sigint_saves_state(
    tmp_path: Path, workspace: Path
) -> None:
    proc = start_engine(tmp_path, workspace)
    db = workspace / ".phaseboard" / "phaseboard.db"
    started = await wait_for_attempt(db, "slow")
    second = run_cli("resume", "last", "--headless", cwd=workspace)
    assert second.returncode == 1
    assert "live engine" in second.stderr
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=20) == 130
    assert gone(started["pid"])
    status = json.loads(run_cli("status", "last", "--json", cwd=workspace).stdout)
    assert status["run"]["status"] == "interrupted"
    resumed = run_cli("resume", "last", "--headless", cwd=workspace)
    assert resumed.returncode == 0, resumed.stderr


async def test_stop_command_reaches_a_live_engine(tmp_path: Path, workspace: Path) -> None:
    proc = start_engine(tmp_path, workspace)
    db = workspace / ".phaseboard" / "phaseboard.db"
    started = await wait_for_attempt(db, "slow")
    stopped = run_cli("stop", "last", cwd=workspace)
    assert stopped.returncode == 0, stopped.stderr
    assert proc.wait(timeout=20) == 130
    assert gone(started["pid"])
    status = json.loads(run_cli("status", "last", "--json", cwd=workspace).stdout)
    assert status["run"]["status"] == "stopped"
