"""Creating a run from the command line's arguments (``run``, ``demo``, and the console's
``run``/``demo``): the workspace checked, the workflow loaded, the run created in the store."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path

from engine.run.executors import choose
from engine.run.runs import UsageError, check_slice, create_run, parse_params
from engine.store.database import Store
from engine.store.location import default_db, find_db
from engine.workflow.loader import load_workflow, resolve_workflow_path
from tui.cli.demo_copy import prepare_demo_dir


def checked_workspace(raw: str) -> Path:
    path = Path(raw).expanduser().resolve()
    if not path.exists():
        raise UsageError(f"workspace {path} does not exist")
    if not path.is_dir():
        raise UsageError(f"workspace {path} is not a directory")
    if not os.access(path, os.R_OK | os.W_OK | os.X_OK):
        raise UsageError(f"workspace {path} is not readable and writable")
    return path


async def prepare_run(
    args: argparse.Namespace, *, extra_params: Sequence[str] = ()
) -> tuple[Store, str]:
    path = resolve_workflow_path(args.workflow)
    workflow = load_workflow(path)
    text = path.read_text(encoding="utf-8")
    workspace = checked_workspace(args.workspace or workflow.workspace or ".")
    params = parse_params(workflow, [*extra_params, *getattr(args, "params", [])])
    check_slice(workflow, getattr(args, "from_stage", None), getattr(args, "until_stage", None))
    executor = choose(workflow, getattr(args, "executor", None), getattr(args, "scheduler", None))
    db = find_db(args.db) if (args.db or os.environ.get("PHASEBOARD_DB")) else default_db(workspace)
    assert db is not None
    store = await Store.open(db)
    run_id = await create_run(
        store,
        workflow=workflow,
        workflow_path=path,
        workflow_text=text,
        workspace=workspace,
        params=params,
        criteria_override=getattr(args, "criteria", None),
        from_stage=getattr(args, "from_stage", None),
        until_stage=getattr(args, "until_stage", None),
        executor=executor,
    )
    return store, run_id


async def demo_arguments(args: argparse.Namespace) -> tuple[Path, list[str]]:
    """Point ``args`` at the standard workflow on a fresh demo copy; returns the copy and the
    parameters the demo sets (its first-attempt failure, on purpose)."""
    target = await prepare_demo_dir()
    args.workflow = "standard"
    args.workspace = str(target)
    args.params = []
    args.criteria = None
    args.from_stage = args.until_stage = None
    return target, ["fail_first_attempt=code"]
