"""Where an attempt may run on a Dask cluster: its ``memory_mb`` and ``cpu_percent`` as a
resource request, for the resources the workers declare (``dask worker --resources
"memory_mb=16000 cpu_percent=100"``), and the words for one that no worker can hold.

``workers`` is the scheduler's description of its workers (``identity()["workers"]``): address to
a dict whose ``resources`` are the worker's declared totals. No ``distributed`` import here.
"""

from __future__ import annotations

from typing import Any

Workers = dict[str, dict[str, Any]]


def resource_request(
    workers: Workers, memory_mb: int | None, cpu_percent: int | None
) -> dict[str, float]:
    """The request of an attempt: only for resources some worker declares (a cluster of plain
    workers places attempts by their thread slots alone)."""
    declared = {name for w in workers.values() for name in w.get("resources", {})}
    wanted = {"memory_mb": memory_mb, "cpu_percent": cpu_percent}
    return {k: float(v) for k, v in wanted.items() if v is not None and k in declared}


def fits(workers: Workers, request: dict[str, float]) -> bool:
    """Whether some worker declares at least this much of each resource."""
    return any(
        all(w.get("resources", {}).get(k, 0.0) >= v for k, v in request.items())
        for w in workers.values()
    )


def too_big(scheduler: str, workers: Workers, agent: str, request: dict[str, float]) -> str:
    asks = ", ".join(f"{k}={v:g}" for k, v in request.items())
    most = {
        k: max((w.get("resources", {}).get(k, 0.0) for w in workers.values()), default=0)
        for k in request
    }
    has = ", ".join(f"{k}={v:g}" for k, v in most.items())
    who = f"agent {agent} asks" if agent else "the attempt asks"
    return (
        f"{who} for {asks}, and no Dask worker of {scheduler} has that much (the most any has:"
        f' {has}); start a worker with `--resources "{asks}"`'
    )
