"""Helpers for tests: the test agent and the real `phaseboard` command."""

from __future__ import annotations

import contextlib
import io
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pytest

    from engine.execution.log_block import LogBlock
    from engine.store.database import Store

Line = tuple[str, str, float, bool]
"""``(stream, text, ts, partial)``: one line of a batch of blocks, as tests look at them."""

ROOT = Path(__file__).resolve().parent.parent
AGENT = ROOT / "tests" / "agents" / "agent.py"


def agent_cmd(*args: str) -> str:
    """A YAML flow list running the test agent with these arguments."""
    escaped = (a.replace("{", "{{").replace("}", "}}") for a in args)
    items = ['"{python}"', f'"{AGENT}"', *(f"'{a}'" for a in escaped)]
    return "[" + ", ".join(items) + "]"


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60):
    """Run the real `phaseboard` command in a subprocess."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("PHASEBOARD_DB", None)
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", *args],
        cwd=cwd,
        env={**full_env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def stored_lines(conn: sqlite3.Connection) -> list[tuple[str, str, str, bool]]:
    """Every stored log line as ``(agent, stream, text, partial)``, in the order stored: the
    chunks of the ``logs`` view split into their lines."""
    from engine.store.log_chunks import unpack

    rows = conn.execute("SELECT agent, text, lines, marks FROM logs ORDER BY id")
    return [
        (agent, stream, line, partial)
        for agent, text, count, marks in rows
        for stream, line, partial in unpack(text, count, marks)
    ]


def block_lines(batch: list[LogBlock]) -> list[Line]:
    """The lines of a batch of blocks, each with its block's time."""
    return [(s, t, b.ts, p) for b in batch for s, t, p in b.lines()]


def before_reads(monkeypatch: pytest.MonkeyPatch, hook: Callable[[Path], None]) -> None:
    """Call ``hook`` with each file's path before a snapshot reads it (to make the read fail, or
    the file vanish)."""
    from engine.snapshots import read_ahead

    real_read = read_ahead.read_regular_file

    def read(path: Path, *args: object, **kwargs: object) -> object:
        hook(path)
        return real_read(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(read_ahead, "read_regular_file", read)


def run_cli_here(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The `phaseboard` command's own ``main`` in this process: the same parsing, handlers and
    exit codes as :func:`run_cli` without starting a Python, for the short calls of a test that
    only read a run or check a message and an exit code. Not for a command that starts an engine,
    and not from a test running an event loop."""
    from tui.cli.main import main

    out, err = io.StringIO(), io.StringIO()
    here = os.getcwd()
    db = os.environ.pop("PHASEBOARD_DB", None)
    try:
        os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main(list(args))
            except SystemExit as exit_:  # argparse's usage errors
                code = exit_.code if isinstance(exit_.code, int) else 1
    finally:
        os.chdir(here)
        if db is not None:
            os.environ["PHASEBOARD_DB"] = db
    return subprocess.CompletedProcess(["phaseboard", *args], code, out.getvalue(), err.getvalue())


GATED = """
version: 1
name: gated
notify: {notify}
defaults: {{timeout: 30, retries: 0}}
stages:
  - id: work
    kind: agents
    agents: [{{id: a, run: {agent}}}]
  - id: gate
    kind: checkpoint
    criteria: [{{id: never, expr: "false"}}]
    decision: {{critical: ["true"], warnings: []}}
"""
"""A stage of one agent (``agent``), then a checkpoint that always fails: the run pauses for the
operator there. ``notify`` is the workflow's hook (``null`` for none)."""


async def create_test_run(
    store: Store,
    tmp_path: Path,
    workspace: Path,
    yaml_text: str,
    *,
    params: list[str] | None = None,
    criteria: str | None = None,
    executor: dict[str, str] | None = None,
) -> str:
    """Write the workflow to ``tmp_path/wf.yaml`` and create a run of it on ``workspace``, as
    `phaseboard run` does (``params`` as ``--set NAME=VALUE``); returns the run id."""
    from engine.run.runs import create_run, parse_params
    from engine.workflow.loader import parse_workflow

    wf_path = tmp_path / "wf.yaml"
    wf_path.write_text(yaml_text)
    workflow = parse_workflow(yaml_text, str(wf_path))
    return await create_run(
        store,
        workflow=workflow,
        workflow_path=wf_path,
        workflow_text=yaml_text,
        workspace=workspace,
        params=parse_params(workflow, params or []),
        criteria_override=criteria,
        executor=executor,
    )


async def run_inline(
    tmp_path: Path,
    workspace: Path,
    yaml_text: str,
    *,
    params: list[str] | None = None,
    criteria: str | None = None,
    use_cache: bool = True,
):
    """Create and drive a run in this process; returns (outcome, state, db path)."""
    from engine.execution.local_executor import LocalExecutor
    from engine.run.engine import Engine
    from engine.run.session import RunSession
    from engine.store.database import Store
    from engine.store.location import default_db

    db = default_db(workspace)
    store = await Store.open(db)
    try:
        run_id = await create_test_run(
            store, tmp_path, workspace, yaml_text, params=params, criteria=criteria
        )
        engine = await Engine.open(store, run_id, LocalExecutor(), use_cache=use_cache)
        outcome = await engine.drive()
        state = (await RunSession.load(store, run_id)).state
    finally:
        await store.close()
    return outcome, state, db


def one_stage(
    agents_yaml: str, *, extra: str = "", defaults: str = "{timeout: 30, retries: 0}"
) -> str:
    """A workflow with one parallel agents stage holding the given agent list items."""
    return f"""
version: 1
name: t
defaults: {defaults}
stages:
  - id: s
    kind: agents
    mode: parallel
{extra}    agents:
{agents_yaml}
"""
