"""Creating runs and finding the database, as the CLI and the TUI both need."""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any

from engine.state.events import RunCreated
from engine.store.database import Store
from engine.store.location import DB_DIR
from engine.workflow.models import Workflow


class UsageError(Exception):
    """Bad usage or a value that does not parse (exit 2)."""


class NotFound(Exception):
    """An unknown run, agent, conflict or checkpoint (exit 1)."""


def new_run_id() -> str:
    """Sortable by start time, unique enough for one workspace, safe in file names."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


def parse_params(workflow: Workflow, assignments: list[str]) -> dict[str, Any]:
    """Workflow params with ``--set NAME=VALUE`` applied (typed like the default)."""
    params: dict[str, Any] = dict(workflow.params)
    for item in assignments:
        name, sep, raw = item.partition("=")
        if not sep or not name:
            raise UsageError(f"--set expects NAME=VALUE, got {item!r}")
        if name not in params:
            known = ", ".join(sorted(params)) or "none"
            raise UsageError(f"unknown parameter {name!r} (this workflow's parameters: {known})")
        default = params[name]
        params[name] = _typed(name, raw, default)
    return params


def _typed(name: str, raw: str, default: Any) -> Any:
    if isinstance(default, bool):
        if raw.lower() in ("true", "1", "yes", "on"):
            return True
        if raw.lower() in ("false", "0", "no", "off"):
            return False
        raise UsageError(f"parameter {name} is a boolean; got {raw!r}")
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            raise UsageError(f"parameter {name} is an integer; got {raw!r}") from None
    if isinstance(default, float):
        try:
            return float(raw)
        except ValueError:
            raise UsageError(f"parameter {name} is a number; got {raw!r}") from None
    return raw


def check_slice(workflow: Workflow, from_stage: str | None, until_stage: str | None) -> None:
    ids = [s.id for s in workflow.stages]
    for flag, value in (("--from", from_stage), ("--until", until_stage)):
        if value is not None and value not in ids:
            raise UsageError(f"{flag}: unknown stage {value!r} (stages: {', '.join(ids)})")
    if from_stage and until_stage and ids.index(from_stage) > ids.index(until_stage):
        raise UsageError(f"--from {from_stage} comes after --until {until_stage}")


async def create_run(
    store: Store,
    *,
    workflow: Workflow,
    workflow_path: Path,
    workflow_text: str,
    workspace: Path,
    params: dict[str, Any],
    criteria_override: str | None = None,
    from_stage: str | None = None,
    until_stage: str | None = None,
    executor: dict[str, str] | None = None,
) -> str:
    run_id = new_run_id()
    run_dir = workspace / DB_DIR / "runs" / run_id
    run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    await store.create_run(run_id, workflow.name, str(workspace), str(run_dir))
    await store.append(
        run_id,
        [
            RunCreated(
                workflow=workflow.name,
                workflow_path=str(workflow_path),
                workflow_text=workflow_text,
                workspace=str(workspace),
                run_dir=str(run_dir),
                params=params,
                criteria_override=criteria_override,  # type: ignore[arg-type]
                from_stage=from_stage,
                until_stage=until_stage,
                executor=executor or {},
            )
        ],
    )
    return run_id


async def resolve_run_id(store: Store, ref: str) -> str:
    """A run id, a unique prefix of one, or ``last``."""
    runs = await store.runs()
    if not runs:
        raise NotFound("no runs in this database")
    if ref == "last":
        return runs[0].id
    exact = [r.id for r in runs if r.id == ref]
    if exact:
        return exact[0]
    prefixed = [r.id for r in runs if r.id.startswith(ref)]
    if len(prefixed) == 1:
        return prefixed[0]
    if len(prefixed) > 1:
        raise NotFound(f"run {ref!r} is ambiguous: {', '.join(prefixed[:5])}")
    raise NotFound(f"unknown run {ref!r} (try `phaseboard runs`)")
