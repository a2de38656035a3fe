"""The function every task of the Dask executor runs. A scheduler unpickles the tasks it is
given: this one is pickled by value (``cloudpickle.register_pickle_by_value``, in
:mod:`engine.execution.dask_executor`) and refers to phaseboard only inside, so a scheduler
needs no phaseboard installed; a worker imports :mod:`engine.execution.dask_worker` when the
task runs."""

from __future__ import annotations

from typing import Any


async def run_attempt_task(payload: dict[str, Any]) -> dict[str, Any]:
    from engine.execution.dask_worker import run_attempt

    return await run_attempt(payload)
