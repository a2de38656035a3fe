"""``phaseboard logs`` read straight from the database file: the same bytes as the full command,
and every case it cannot answer alone left to the full command."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from engine.store.database import Store
from engine.store.location import default_db
from engine.store.log_reader import READS_SCHEMA, LogReader
from engine.store.migrations import SCHEMA_VERSION
from tests.faults.harness import cli_env, finish, start
from tests.helpers import agent_cmd, create_test_run, one_stage, run_cli, run_cli_here, run_inline
from tui.cli import commands
from tui.cli.log_print import quick_logs
from tui.cli.main import build_parser

PRINTER = """
import os, sys
out, err = sys.stdout, sys.stderr
out.write("".join(f"line {i}\\n" for i in range(5000)))
out.write("\\x1b]52;c;cm0=\\x07\\x1b[31mred\\u009b2J \\u00e9\\n"); out.flush()
err.write("oops\\n"); err.flush()
out.write("y" * 70000 + "\\n")
if os.environ["PHASEBOARD_ATTEMPT"] == "1":
    sys.exit(1)
open(os.environ["PHASEBOARD_OUTPUT"], "w").write("{}")
"""
pytestmark = pytest.mark.xdist_group("log_print")  # one worker builds the runs, once

WORKFLOW = one_stage(
    '      - {id: a, run: ["{python}", "printer.py"]}\n'
    '      - {id: quiet, run: ["{python}", "-c", "pass"]}\n',
    defaults="{timeout: 30, retries: 1, retry_backoff: 0}",
)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two runs; in the newer (the one driven), agent ``a`` printed plain lines, a hostile one, stderr and a
    line longer than the cap (in pieces), failed, and printed them again in attempt 2."""
    tmp = tmp_path_factory.mktemp("logs")
    ws = tmp / "ws"
    ws.mkdir()
    (ws / "printer.py").write_text(PRINTER)

    async def older_run() -> None:  # created, never driven: a second run id of the same day
        store = await Store.open(default_db(ws))
        try:
            await create_test_run(store, tmp, ws, WORKFLOW)
        finally:
            await store.close()

    asyncio.run(older_run())
    _, state, _ = asyncio.run(run_inline(tmp, ws, WORKFLOW))
    assert [a.status for a in state.stages["s"].agents["a"].attempts] == ["failed", "succeeded"]
    return ws


def logs_in(workspace: Path, handler: Callable[[Any], Any], *args: str) -> tuple[Any, str]:
    """``handler`` of ``phaseboard logs ARGS`` in ``workspace``: what it returns and prints."""
    parsed = build_parser().parse_args(["logs", *args])
    out = io.StringIO()
    here = os.getcwd()
    try:
        os.chdir(workspace)
        with contextlib.redirect_stdout(out):
            returned = handler(parsed)
    finally:
        os.chdir(here)
    return returned, out.getvalue()


def full(workspace: Path, *args: str) -> str:
    """What the full command (the store, the run's state) prints."""
    code, printed = logs_in(workspace, lambda a: asyncio.run(commands.logs(a)), *args)
    assert code == 0
    return printed


def quick(workspace: Path, *args: str) -> tuple[int | None, str]:
    return logs_in(workspace, quick_logs, *args)


@pytest.mark.parametrize(
    "args", [("last", "s.a"), ("last", "s.a", "--attempt", "2"), ("last", "s.a", "--raw")]
)
def test_the_file_reader_prints_what_the_full_command_prints(
    workspace: Path, args: tuple[str, ...]
) -> None:
    code, printed = quick(workspace, *args)
    assert code == 0 and printed == full(workspace, *args)


def test_through_a_pipe_the_bytes_are_those_of_the_full_command(workspace: Path) -> None:
    shown = run_cli("logs", "last", "s.a", cwd=workspace)
    assert shown.returncode == 0 and shown.stdout == full(workspace, "last", "s.a")
    assert "\x1b" not in shown.stdout and "line 4999\n" in shown.stdout
    assert shown.stdout.count("\n" + "y" * 70000 + "\n") == shown.stdout.count("oops\n") == 2
    raw = run_cli("logs", "last", "s.a", "--raw", cwd=workspace)
    assert "\x1b]52;c;" in raw.stdout and raw.stdout == full(workspace, "last", "s.a", "--raw")


def test_what_it_cannot_answer_goes_to_the_full_command(workspace: Path) -> None:
    for args in (
        ("last", "s.quiet"),  # printed nothing: the full command knows the agent
        ("last", "s.zz"),
        ("nope", "s.a"),
        ("2026", "s.a"),  # a prefix of both runs
        ("last", "s.a", "--follow"),
    ):
        assert quick(workspace, *args) == (None, ""), args
    assert run_cli_here("logs", "last", "s.quiet", cwd=workspace).returncode == 0
    assert "unknown agent" in run_cli_here("logs", "last", "s.zz", cwd=workspace).stderr
    ambiguous = run_cli_here("logs", "2", "s.a", cwd=workspace)
    assert ambiguous.returncode == 1 and "ambiguous" in ambiguous.stderr
    reader = LogReader(default_db(workspace))
    try:
        newest = reader.run_id("last")
        assert newest is not None and reader.run_id(newest[:-1]) == newest
    finally:
        reader.close()


def test_a_run_rolled_back_is_left_to_the_full_command(workspace: Path, tmp_path: Path) -> None:
    """After a rollback the state forgets attempts whose lines the store keeps."""
    copy = tmp_path / "ws"
    shutil.copytree(workspace, copy)
    db = default_db(copy)
    conn = sqlite3.connect(db)
    (run_id,) = conn.execute("SELECT id FROM runs ORDER BY created_at DESC LIMIT 1").fetchone()
    (seq,) = conn.execute("SELECT MAX(seq) FROM events WHERE run_id = ?", (run_id,)).fetchone()
    conn.execute(
        "INSERT INTO events(run_id, seq, ts, kind, data) VALUES (?, ?, 0, 'rolled_back', '{}')",
        (run_id, seq + 1),
    )
    conn.commit()
    conn.close()
    reader = LogReader(db)
    try:
        assert reader.rolled_back(run_id)
    finally:
        reader.close()
    assert quick(copy, "last", "s.a") == (None, "")


def test_it_reads_only_the_schema_it_knows(tmp_path: Path) -> None:
    assert READS_SCHEMA == SCHEMA_VERSION  # a new schema: look at the reader's queries first
    old = tmp_path / "old.db"
    sqlite3.connect(old).execute("PRAGMA user_version=3").connection.close()
    reader = LogReader(old)
    try:
        assert not reader.known_schema()  # the full command migrates it first
    finally:
        reader.close()


def test_follow_prints_lines_as_the_agent_prints_them_and_ends_with_it(tmp_path: Path) -> None:
    """``logs --follow`` (always the full command) shows what is stored while the agent runs, and
    returns once the agent has finished, every line printed once."""
    go = tmp_path / "go"
    ws = tmp_path / "ws"
    ws.mkdir()
    wf = tmp_path / "wf.yaml"
    wf.write_text(
        one_stage(f"      - {{id: a, run: {agent_cmd('--lines', '5', '--wait-file', str(go))}}}\n")
    )
    engine = start("run", str(wf), "--headless", "--workspace", str(ws), cwd=tmp_path)
    try:
        db = default_db(ws)
        deadline = time.monotonic() + 30
        while count_lines_at(db) < 6 and time.monotonic() < deadline:  # the run creates the db
            time.sleep(0.02)
        assert count_lines_at(db) >= 6, "the agent's first lines were not stored"
        follow = subprocess.Popen(
            [sys.executable, "-m", "tui.cli", "logs", "last", "s.a", "--follow"],
            cwd=ws,
            env=cli_env(),
            stdout=subprocess.PIPE,
            text=True,
        )
        assert follow.stdout is not None
        first = [follow.stdout.readline() for _ in range(6)]  # "starting", then 5 lines
        assert sum(line.startswith("line ") for line in first) == 5, first
        assert follow.poll() is None  # the agent still runs: it follows
        go.touch()
        rest, _ = follow.communicate(timeout=60)
        assert follow.returncode == 0
        printed = first + rest.splitlines(keepends=True)
        assert sum(line.startswith("line ") for line in printed) == 5
        assert finish(engine)[0] == 0
    finally:
        engine.kill()
        engine.wait()


def count_lines_at(db: Path) -> int:
    """Lines stored so far (0 while the run is still creating its database)."""
    if not db.exists():
        return 0
    conn = sqlite3.connect(db)
    try:
        return int(conn.execute("SELECT COALESCE(SUM(lines), 0) FROM log_chunks").fetchone()[0])
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()
