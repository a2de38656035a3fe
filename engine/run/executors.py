"""Where a run's attempts run: chosen when the run is created (``--executor``, ``--scheduler``,
``$PHASEBOARD_DASK_SCHEDULER``, the workflow file's ``executor``), recorded in its
``RunCreated`` event, and rebuilt from that record by every engine that drives it (the first,
a resume, the console's), so a resumed run runs where it started.

The Dask executor needs the optional extra ``phaseboard[dask]``: ``distributed`` is imported
here only, lazily, for a run that chose it (docs/distributed.md).
"""

from __future__ import annotations

import importlib.util
import os

from engine.execution.executor import Executor
from engine.execution.local_executor import LocalExecutor
from engine.run.runs import UsageError
from engine.state.run_state import RunState
from engine.workflow.models import Workflow

SCHEDULER_ENV = "PHASEBOARD_DASK_SCHEDULER"
KINDS = ("local", "dask")
NO_DASK = (
    "the Dask executor needs the optional extra: pip install 'phaseboard[dask]'"
    " (docs/distributed.md)"
)


def choose(workflow: Workflow, kind: str | None, scheduler: str | None) -> dict[str, str]:
    """The choice recorded for a new run; empty for the local executor. ``--scheduler`` alone
    means Dask; the address comes from ``--scheduler``, else ``$PHASEBOARD_DASK_SCHEDULER``,
    else the file."""
    spec = workflow.executor
    if kind is None:
        kind = "dask" if scheduler else (spec.kind if spec is not None else "local")
    if kind not in KINDS:
        raise UsageError(f"--executor: unknown executor {kind!r} (choose from local, dask)")
    if kind == "local":
        if scheduler:
            raise UsageError("--scheduler is for --executor dask")
        return {}
    address = scheduler or os.environ.get(SCHEDULER_ENV) or (spec.scheduler if spec else None)
    if not address:
        raise UsageError(
            "the Dask executor needs the scheduler's address: --scheduler tcp://HOST:8786,"
            f" ${SCHEDULER_ENV}, or executor.scheduler in the workflow file"
        )
    if not dask_installed():
        raise UsageError(NO_DASK)
    return {"kind": "dask", "scheduler": scheduler_address(address)}


def scheduler_address(text: str) -> str:
    """``HOST:PORT`` or ``PROTOCOL://HOST:PORT`` (``tcp``, ``tls``, ``ucx``, ...), as Dask
    takes it: a bare ``HOST:PORT`` is TCP."""
    address = text.strip()
    rest = address.partition("://")[2] if "://" in address else address
    host, sep, port = rest.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise UsageError(f"--scheduler: {text!r} is not an address like tcp://HOST:8786")
    return address if "://" in address else f"tcp://{address}"


def dask_installed() -> bool:
    return importlib.util.find_spec("distributed") is not None


def executor_for(state: RunState) -> Executor:
    """The executor the run was created with."""
    kind = state.executor.get("kind", "local")
    if kind == "local":
        return LocalExecutor()
    if kind != "dask":
        raise UsageError(f"run {state.run_id} uses an unknown executor {kind!r}")
    if not dask_installed():
        raise UsageError(f"run {state.run_id} runs its agents on a Dask cluster: {NO_DASK}")
    from engine.execution.dask_executor import DaskExecutor

    return DaskExecutor(
        state.executor["scheduler"], workspace=state.workspace, run_dir=state.run_dir
    )
