"""Scenario 10: the cost phaseboard adds to agents run on a Dask cluster, against a bare
``client.map`` of ``subprocess.run`` over the same commands on the same cluster.

A scheduler and two workers (8 threads each) run on loopback for the whole script. Each round
runs N agents that exit at once (one parallel stage, retries 0) through the Dask executor, and,
on the same cluster from a client in this process, ``client.map(subprocess.run, ...)`` of the
same command N times, gathered. Rounds alternate the two. phaseboard's time is the whole
``Engine.drive``: connecting to the scheduler, checking the workers and the shared run folder,
every event in the store.
"""

from __future__ import annotations

import asyncio
import functools
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import (
    Verdicts,
    agents_yaml,
    drive_workflow,
    interleaved,
    median,
    options,
    runs_for,
    spread,
    temp_dir,
)
from dask_cluster import dask_cluster

CASES = [(200, 1.25)]
QUICK_CASES = [(50, 1.25)]
CODE = "print(1)"


async def bare(client: object, n: int) -> float:
    run = functools.partial(subprocess.run, capture_output=True, check=True)
    start = time.perf_counter()
    futures = client.map(run, [[sys.executable, "-c", CODE]] * n, pure=False)  # type: ignore[attr-defined]
    await client.gather(futures)  # type: ignore[attr-defined]
    return time.perf_counter() - start


async def engine(root: Path, address: str, n: int) -> float:
    run = f'["{{python}}", "-c", "{CODE}"]'
    yaml = agents_yaml([[run] * n], defaults="{retries: 0, timeout: 60}")
    executor = {"kind": "dask", "scheduler": address}
    elapsed, state = await drive_workflow(Path(tempfile.mkdtemp(dir=root)), yaml, executor=executor)
    ok = sum(1 for a in state.stages["s0"].agents.values() if a.status == "succeeded")
    if ok != n:
        raise RuntimeError(f"only {ok} of {n} agents succeeded: {state.reason}")
    return elapsed


async def main() -> int:
    from distributed import Client

    args = options(__doc__).parse_args()
    runs = runs_for(args)
    verdicts = Verdicts("dask_spawn")
    with temp_dir("dask-spawn") as root, dask_cluster(root) as address:
        async with Client(address, asynchronous=True) as client:
            await bare(client, 10)  # warm-up: the workers' first imports
            await engine(root, address, 10)
            for n, target in QUICK_CASES if args.quick else CASES:
                base, ours = await interleaved(
                    runs,
                    functools.partial(bare, client, n),
                    functools.partial(engine, root, address, n),
                )
                label = f"dask spawn n={n}"
                extra = (median(ours) - median(base)) / n * 1000
                print(
                    f"{label}: client.map {spread(base)}, phaseboard {spread(ours)},"
                    f" +{extra:.2f} ms per agent"
                )
                verdicts.ratio(label, median(ours) / median(base), target)
    return verdicts.finish()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
