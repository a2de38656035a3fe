"""The ground under a run gives way: a full disk, a read-only or locked database, a workspace
that disappears while an agent works in it."""

from __future__ import annotations

import hashlib
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.faults.harness import (
    agent,
    attempts_of,
    cli,
    cli_env,
    conflict_ids,
    connect,
    event,
    events,
    finish,
    no_traceback,
    settled,
    start,
    status,
    wait_for,
)
from tests.faults.workflows import CONFLICTED, write
from tests.helpers import one_stage

pytestmark = pytest.mark.faults

DB = Path(".phaseboard") / "phaseboard.db"
FILE_LIMIT = 1024 * 1024
"""No file the engine writes may grow past this: the WAL hits it while logs pour in."""


def small_disk() -> None:
    """preexec_fn of the engine: writes past FILE_LIMIT fail with EFBIG, as on a full disk."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, FILE_LIMIT))


def test_disk_full_fails_cleanly_and_resume_finishes(tmp_path: Path, workspace: Path) -> None:
    wf = write(tmp_path, one_stage(f"      - {{id: chatty, run: {agent('--lines', '40000')}}}\n"))
    args = ("run", str(wf), "--headless", "--workspace", str(workspace))
    engine = start(*args, cwd=tmp_path, preexec_fn=small_disk)
    code, err = finish(engine)
    no_traceback(err)
    assert code == 1
    db = workspace / DB
    assert re.search(
        f"phaseboard: database {re.escape(str(db))}: (disk I/O error|database or disk is full)", err
    ), err
    settled(db, tmp_path)  # what was committed is readable and sound
    committed = events(db)
    assert event("attempt_started", agent="chatty")(committed)

    resumed = cli("resume", "last", "--headless", cwd=workspace)
    assert resumed.returncode == 0, resumed.stderr
    assert events(db)[: len(committed)] == committed  # nothing committed was lost
    assert attempts_of(status(workspace))["s.chatty"] == ["failed", "succeeded"]
    settled(db, tmp_path)


def read_only(path: Path, *command: str) -> list[str]:
    """``command`` run in a private mount namespace where ``path`` is a read-only bind mount:
    even root cannot write there."""
    script = 'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" "$1" && shift && exec "$@"'
    return ["unshare", "-m", "sh", "-c", script, "sh", str(path), *command]


def can_mount_read_only(tmp_path: Path) -> bool:
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        return False
    probe = tmp_path / "probe"
    probe.mkdir()
    check = subprocess.run(
        read_only(probe, "sh", "-c", f"! touch {probe}/x"), capture_output=True, timeout=10
    )
    return check.returncode == 0 and not (probe / "x").exists()


def test_read_only_database_is_refused_and_untouched(tmp_path: Path, workspace: Path) -> None:
    if not can_mount_read_only(tmp_path):
        pytest.skip("needs `unshare -m` and `mount` (root or user namespaces) for a read-only bind")
    wf = write(tmp_path, CONFLICTED)
    paused = cli("run", str(wf), "--headless", "--workspace", str(workspace), cwd=tmp_path)
    assert paused.returncode == 4, paused.stderr
    [conflict] = conflict_ids(workspace / DB)
    folder = workspace / ".phaseboard"
    before = {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.glob("phaseboard.db*")
    }

    resolve = ["resolve", "last", conflict, "--pick", "one"]
    result = subprocess.run(
        read_only(folder, sys.executable, "-m", "tui.cli", *resolve),
        cwd=workspace,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    no_traceback(result.stderr)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and str(folder / "phaseboard.db") in result.stderr
    after = {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.glob("phaseboard.db*")
    }
    assert after == before
    assert not event("conflict_resolved")(events(workspace / DB))
    settled(workspace / DB, tmp_path)


def test_read_only_database_message_says_read_only(tmp_path: Path, workspace: Path) -> None:
    if not can_mount_read_only(tmp_path):
        pytest.skip("needs `unshare -m` and `mount` (root or user namespaces) for a read-only bind")
    ok = cli(
        "run",
        str(write(tmp_path, CONFLICTED)),
        "--headless",
        "--workspace",
        str(workspace),
        cwd=tmp_path,
    )
    assert ok.returncode == 4
    result = subprocess.run(
        read_only(workspace / ".phaseboard", sys.executable, "-m", "tui.cli", "stop", "last"),
        cwd=workspace,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "read-only" in result.stderr, result.stderr


def test_a_short_lock_by_another_writer_is_waited_out(tmp_path: Path, workspace: Path) -> None:
    wf = write(tmp_path, CONFLICTED)
    paused = cli("run", str(wf), "--headless", "--workspace", str(workspace), cwd=tmp_path)
    assert paused.returncode == 4, paused.stderr
    [conflict] = conflict_ids(workspace / DB)
    db = workspace / DB
    other = connect(db)
    other.execute("BEGIN IMMEDIATE")  # another writer, holding the write lock
    operator = start("resolve", "last", conflict, "--pick", "one", cwd=workspace)
    try:
        held_until = time.monotonic() + 1.2  # the fault: the lock is held this long
        while time.monotonic() < held_until and operator.poll() is None:
            time.sleep(0.05)
        assert operator.poll() is None  # still waiting for the lock, not failed
    finally:
        other.execute("ROLLBACK")
        other.close()
    code, err = finish(operator)
    assert code == 0, err
    assert event("conflict_resolved", conflict=conflict, picked="analysis.one")(events(db))
    settled(db, tmp_path)


VANISH = """
version: 1
name: vanish
defaults: {{retries: 0, grace: 0.5, timeout: 60}}
stages:
  - id: first
    kind: agents
    agents: [{{id: a, run: {first}}}]
  - id: second
    kind: agents
    agents: [{{id: b, run: {second}}}]
"""


def test_workspace_that_disappears_fails_the_run(tmp_path: Path, workspace: Path) -> None:
    go = tmp_path / "go"
    wf = write(tmp_path, VANISH.format(first=agent("--wait-file", str(go)), second=agent()))
    db = tmp_path / "state" / "phaseboard.db"  # outside the workspace, to be read afterwards
    engine = start(
        "run", str(wf), "--headless", "--workspace", str(workspace), "--db", str(db), cwd=tmp_path
    )
    wait_for(db, event("attempt_started", agent="a"), "the first agent")
    shutil.rmtree(workspace)
    go.touch()
    code, err = finish(engine)
    no_traceback(err)
    settled(db, tmp_path)
    assert code == 1, err
    assert "workspace" in err.splitlines()[-1] or "workspace" in status_reason(db)


def status_reason(db: Path) -> str:
    reasons = [e.get("reason", "") for e in events(db) if e["kind"] == "run_status"]
    return reasons[-1] if reasons else ""
