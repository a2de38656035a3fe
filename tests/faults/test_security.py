"""Hostile values: shell syntax in paths, ids that climb out of the run folder, escape
sequences aimed at the operator's terminal, and secrets that must never be written down."""

from __future__ import annotations

import asyncio
import json
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.faults.harness import (
    agent,
    cli,
    cli_env,
    connect,
    finish,
    lit,
    settled,
    start,
    wait_for,
)
from tests.helpers import one_stage, run_inline, stored_lines
from tui.cli.main import main

pytestmark = pytest.mark.faults

TOKEN = "svc-Tok3n-4f9a2c81"
CRED = "cred-77ab-d0e5-value"


async def test_shell_agent_quotes_a_hostile_workspace_path(tmp_path: Path) -> None:
    workspace = tmp_path / "my ws $(touch PWNED) `touch PWNED2`; touch PWNED3 it's"
    workspace.mkdir()
    shell_run = json.dumps('printf \'{{"ws": "%s"}}\' {workspace}')
    yaml = one_stage(
        f"      - {{id: sh, shell: true, output: json, run: {shell_run}}}\n"
        f"      - {{id: argv, run: {agent('--summary', '{workspace}')}}}\n"
    )
    outcome, state, db = await run_inline(tmp_path, workspace, yaml)
    settled(db, tmp_path)
    assert outcome.exit_code == 0, state.stages["s"].agents["sh"].attempts
    assert state.stages["s"].agents["sh"].result == {"ws": str(workspace)}
    assert state.stages["s"].agents["argv"].result["summary"] == str(workspace)
    assert not [p for p in tmp_path.rglob("PWNED*") if p != workspace]


def test_ids_cannot_name_paths(tmp_path: Path) -> None:
    wf = tmp_path / "wf.yaml"
    wf.write_text(
        "version: 1\n"
        "name: t\n"
        "stages:\n"
        "  - id: ../x\n"
        "    kind: agents\n"
        "    agents:\n"
        "      - {id: ../../y, run: [echo]}\n"
    )
    result = cli("check", str(wf), cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert any(line.startswith(f"{wf}:4:") and "../x" in line for line in lines), lines
    assert any(line.startswith(f"{wf}:7:") and "../../y" in line for line in lines), lines
    assert "Traceback" not in result.stderr


def read_pty(master: int, proc: subprocess.Popen[bytes], timeout: float = 30) -> bytes:
    """Everything written to the terminal until the process closes it (bounded)."""
    out = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([master], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the other side is closed
                break
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    return out


def run_in_pty(args: list[str], cwd: Path) -> tuple[int, bytes]:
    """Run `phaseboard ARGS` with its stdout on a terminal; its exit code and what it showed."""
    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tui.cli", *args],
            cwd=cwd,
            env=cli_env(),
            stdin=subprocess.DEVNULL,
            stdout=slave,
            stderr=subprocess.PIPE,
        )
        os.close(slave)
        shown = read_pty(master, proc)
        proc.wait(timeout=30)
    finally:
        os.close(master)
    return proc.returncode, shown


async def test_logs_on_a_terminal_drop_escape_sequences(
    tmp_path: Path,
    workspace: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(workspace)
    monkeypatch.delenv("PHASEBOARD_DB", raising=False)
    hostile = (
        r"\x1b]52;c;cm0gLXJmIH4=\x07\x1b[2J\x9b2J\x9d0;pwned\x9c\x85\x1b[31mred\x1b[0m visible text"
    )
    yaml = one_stage(f"      - {{id: a, run: {agent('--print-escaped', lit(hostile))}}}\n")
    await run_inline(tmp_path, workspace, yaml)
    conn = connect(workspace / ".phaseboard" / "phaseboard.db")
    try:
        stored = [text for name, _, text, _ in stored_lines(conn) if name == "a"]
    finally:
        conn.close()
    assert any("\x1b]52;c;" in text for text in stored)  # kept as printed, for the record

    code, shown = run_in_pty(["logs", "last", "s.a"], workspace)
    assert code == 0
    assert b"visible text" in shown and b"red" in shown
    assert b"\x1b" not in shown and b"\x07" not in shown and b"pwned" not in shown
    assert not re.search(rb"\xc2[\x80-\x9f]", shown), shown  # no C1 control either
    master, slave = pty.openpty()
    with os.fdopen(slave, "w") as terminal, open(master, "rb", buffering=0) as screen:
        with monkeypatch.context() as on_a_terminal:
            on_a_terminal.setattr(sys, "stdout", terminal)
            assert await asyncio.to_thread(main, ["logs", "last", "s.a", "--raw"]) == 2
        terminal.flush()
        assert not select.select([screen], [], [], 0)[0]  # refused: nothing was shown

    # through a pipe too (`| less -R` ends on a terminal), unless --raw asks for the bytes
    assert await asyncio.to_thread(main, ["logs", "last", "s.a"]) == 0
    piped = capsys.readouterr().out
    assert "visible text" in piped and not re.search("[\x1b\x07\x80-\x9f]", piped)
    assert await asyncio.to_thread(main, ["logs", "last", "s.a", "--raw"]) == 0
    assert "\x1b]52;c;" in capsys.readouterr().out
    settled(workspace / ".phaseboard" / "phaseboard.db", tmp_path)

    escapes = [("../../etc", "s.a", "unknown run"), ("last", "../s.a", "unknown agent")]
    for run, who, message in escapes:
        result = cli("logs", run, who, cwd=workspace)
        assert result.returncode == 1 and message in result.stderr, result.stderr


# -- secrets -----------------------------------------------------------------------------------


def secrets_workflow() -> str:
    json_out = json.dumps('printf \'{{"v": "%s"}}\' "$SERVICE_TOKEN"')
    return f"""
version: 1
name: secrets
secrets: [MY_CRED]
defaults: {{retries: 0, grace: 0.5, timeout: 60}}
stages:
  - id: s
    kind: agents
    agents:
      - {{id: plain, run: {agent("--print-secret", "SERVICE_TOKEN", "--summary-env", "SERVICE_TOKEN")}}}
      - {{id: declared, run: {agent("--print-secret", "MY_CRED", "--summary-env", "MY_CRED")}}}
      - {{id: json_out, shell: true, output: json, run: {json_out}}}
      - {{id: file_out, output: file, run: {agent("--output-file", "--summary-env", "SERVICE_TOKEN")}}}
      - {{id: long_line, run: {agent("--print-secret", "SERVICE_TOKEN", "--secret-offset", "65533")}}}
"""


@pytest.fixture(scope="module")
def secret_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One run whose agents handle secrets every way they can; files are scanned afterwards."""
    root = tmp_path_factory.mktemp("secrets")
    workspace = root / "ws"
    workspace.mkdir()
    wf = root / "wf.yaml"
    wf.write_text(secrets_workflow())
    db = workspace / ".phaseboard" / "phaseboard.db"
    env = {"SERVICE_TOKEN": TOKEN, "MY_CRED": CRED}
    proc = start("run", str(wf), "--headless", cwd=workspace, env=env)
    wait_for(db, lambda evs: evs, "the run to start")
    keeper = connect(db)
    keeper.execute("SELECT COUNT(*) FROM events").fetchone()  # holds the WAL open for the scan
    try:
        code, err = finish(proc)
        wal = db.with_name(db.name + "-wal")
        wal_exists = wal.exists() and wal.stat().st_size > 0
        leaks = {
            path.relative_to(root).as_posix(): [s for s in (TOKEN, CRED) if s.encode() in data]
            for path in sorted(root.rglob("*"))
            if path.is_file() and (data := path.read_bytes())
        }
    finally:
        keeper.close()
    run_dir = next((workspace / ".phaseboard" / "runs").iterdir())
    return {
        "result": (code, err),
        "leaks": {k: v for k, v in leaks.items() if v},
        "wal": wal_exists,
        "run_dir": run_dir.relative_to(root).as_posix(),
        "modes": (db.stat().st_mode & 0o777, run_dir.stat().st_mode & 0o777),
        "workspace": workspace,
    }


KNOWN_LEAKS = ("attempts/json_out.1.stdout", "attempts/file_out.1.result.json", "long_line.log")


def test_secrets_never_reach_the_store_or_the_run_folder(secret_run: dict[str, Any]) -> None:
    code, err = secret_run["result"]
    assert code == 0, err
    assert secret_run["wal"]
    assert secret_run["modes"] == (0o600, 0o700)
    leaks = {k for k in secret_run["leaks"] if not k.endswith(KNOWN_LEAKS)}
    assert not leaks, leaks
    status = json.loads(cli("status", "last", "--json", cwd=secret_run["workspace"]).stdout)
    results = {a["id"]: a["result"] for a in status["stages"][0]["agents"]}
    assert results["plain"]["summary"] == results["declared"]["summary"] == "***"
    assert results["json_out"] == {"v": "***"}
    settled(secret_run["workspace"] / ".phaseboard" / "phaseboard.db", secret_run["workspace"])


def test_json_output_tee_keeps_no_secret(secret_run: dict[str, Any]) -> None:
    assert f"{secret_run['run_dir']}/s/attempts/json_out.1.stdout" not in secret_run["leaks"]


def test_result_file_keeps_no_secret(secret_run: dict[str, Any]) -> None:
    assert f"{secret_run['run_dir']}/s/attempts/file_out.1.result.json" not in secret_run["leaks"]


def test_secret_across_a_long_line_cut_is_masked(secret_run: dict[str, Any]) -> None:
    assert f"{secret_run['run_dir']}/s/long_line.log" not in secret_run["leaks"]
