"""The console in a real terminal (a pty): when the run its background engine drives pauses for
the operator, the engine runs the notify hook once and the console rings and sends OSC 9 and
OSC 777; and nothing an agent printed reaches the terminal as a control sequence."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from collections.abc import Callable
from pathlib import Path

from tests.faults.harness import agent, cli_env, connect, event, events, lit, wait_for

HOSTILE = r"zq-before \x9b2J\x9d0;pwned\x9c\x1b]0;pwned\x07\x1b]52;c;cm0gLXJm\x07\x85 zq-after"
C1 = re.compile(rb"\xc2[\x80-\x9f]")
NOTIFIED = re.compile(rb"\x1b\]777;notify;[^\x07]*\x07\x07")
WORKFLOW = """
version: 1
name: alerting
defaults: {{timeout: 60, retries: 0}}
stages:
  - id: work
    kind: agents
    agents: [{{id: noisy, run: {noisy}}}]
  - id: gate
    kind: checkpoint
    criteria: [{{id: never, expr: "false"}}]
"""


class Terminal:
    """The reading end of a pty: everything the program under it wrote."""

    def __init__(self, leader: int, proc: subprocess.Popen[bytes]) -> None:
        self.leader, self.proc, self.seen = leader, proc, b""

    def read_until(self, found: Callable[[bytes], bool], what: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not found(self.seen):
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            assert self.proc.poll() is None, f"the console ended: {self.seen[-500:]!r}"
            ready, _, _ = select.select([self.leader], [], [], 0.2)
            if ready:
                self.seen += os.read(self.leader, 65536)


def test_pause_rings_notifies_and_shows_no_agent_control_sequence(
    tmp_path: Path, workspace: Path
) -> None:
    go, hook_log = tmp_path / "go", tmp_path / "hook.log"
    wf = tmp_path / "wf.yaml"
    noisy = agent("--print-escaped", lit(HOSTILE), "--wait-file", str(go))
    wf.write_text(WORKFLOW.format(noisy=noisy))
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 110, 0, 0))
    env = {**cli_env(), "TERM": "xterm-256color"}
    for name in ("TMUX", "STY", "PHASEBOARD_BELL", "PHASEBOARD_DESKTOP_NOTIFY", "TEXTUAL"):
        env.pop(name, None)
    hook = f"cat >> {hook_log}; echo $PHASEBOARD_EVENT >> {hook_log}"
    console = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tui.cli",
            "run",
            str(wf),
            "--workspace",
            str(workspace),
            "--notify",
            hook,
        ],
        cwd=tmp_path,
        env=env,
        stdin=follower,
        stdout=follower,
        stderr=follower,
        start_new_session=True,
    )
    os.close(follower)
    db = workspace / ".phaseboard" / "phaseboard.db"
    term = Terminal(leader, console)
    try:
        term.read_until(lambda out: b"zq-after" in out, "the agent's line in its pane")
        go.touch()  # the console has seen the run going: now let it pause
        term.read_until(lambda out: bool(NOTIFIED.search(out)), "the desktop notification and bell")
        sent = wait_for(db, event("notification_sent"), "the engine's notify hook")
    finally:
        console.kill()
        console.wait(timeout=10)
        os.close(leader)
        stop_engine(db)

    history = events(db)
    pause = [e for e in history if e["kind"] == "run_status" and e["status"] == "paused"]
    assert [e for e in history if e["kind"] == "notification_sent"] == [sent]
    assert sent["about"] == pause[0]["seq"] and sent["ok"], sent
    document, kind = hook_log.read_text().splitlines()
    assert kind == "paused" and json.loads(document)["reason"] == "checkpoint gate failed: never"

    out = term.seen
    body = f"alerting {json.loads(document)['run_id']} paused at checkpoint gate".encode()
    assert b"\x1b]9;phaseboard: your turn: " + body + b"\x07" in out
    assert b"\x1b]777;notify;phaseboard: your turn;" + body + b"\x07\x07" in out  # and the bell
    # what the agent printed is on screen, made harmless
    assert b"zq-before" in out and b"zq-after" in out
    assert not C1.search(out), C1.search(out)
    assert b"pwned" not in out
    assert b"\x1b]0;" not in out and b"\x1b]52;" not in out


def stop_engine(db: Path) -> None:
    """End the background engine the console left running (it waits for the operator), and wait
    until it has let go of the run."""
    if not db.exists():
        return
    conn = connect(db)
    try:
        row = conn.execute("SELECT pid FROM locks").fetchone()
        if row is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(row[0], signal.SIGTERM)
        deadline = time.monotonic() + 20
        while conn.execute("SELECT 1 FROM locks").fetchone() is not None:
            assert time.monotonic() < deadline, "the background engine did not stop"
            time.sleep(0.02)
    finally:
        conn.close()
