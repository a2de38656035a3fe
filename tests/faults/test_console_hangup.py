"""The terminal goes away under the console (SSH cut): the run goes on and can be attached."""

from __future__ import annotations

import os
import pty
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.faults.harness import agent, cli, cli_env, event, integrity, status, wait_for
from tests.helpers import ROOT

pytestmark = pytest.mark.faults

WORKFLOW = """
version: 1
name: hangup
defaults: {{retries: 0}}
stages:
  - id: work
    kind: agents
    agents:
      - {{id: slow, run: {slow}}}
  - id: after
    kind: agents
    agents:
      - {{id: last, run: {last}}}
"""


def test_hangup_of_the_console_leaves_the_run_going(tmp_path: Path, workspace: Path) -> None:
    go = tmp_path / "go"
    wf = tmp_path / "wf.yaml"
    wf.write_text(WORKFLOW.format(slow=agent("--wait-file", str(go)), last=agent()))
    leader, follower = pty.openpty()
    env = {**cli_env(), "TERM": "xterm-256color", "COLUMNS": "80", "LINES": "24"}
    console = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "run", str(wf), "--workspace", str(workspace)],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(ROOT)},
        stdin=follower,
        stdout=follower,
        stderr=follower,
        start_new_session=True,  # the pty becomes its controlling terminal, as over SSH
    )
    os.close(follower)
    try:
        db = workspace / ".phaseboard" / "phaseboard.db"
        wait_for(db, event("attempt_started", agent="slow"), "the console's run to start")
        console.send_signal(signal.SIGHUP)  # the connection drops
        console.wait(timeout=20)  # the console ends with its terminal
        go.touch()  # the agent may now finish: only a live engine can take the run further
        wait_for(
            db,
            event("run_status", status="completed"),
            "the run to finish without its console",
            timeout=60,
        )
    finally:
        if console.poll() is None:
            console.kill()
            console.wait()
        os.close(leader)
    doc = status(workspace)
    assert doc["run"]["status"] == "completed"
    assert [a["status"] for s in doc["stages"] for a in s["agents"]] == ["succeeded", "succeeded"]
    assert integrity(db) == "ok"
    assert cli("runs", cwd=workspace).returncode == 0
