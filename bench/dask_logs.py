"""Scenario 11: one agent printing 1,000,000 lines through a Dask worker, every line stored in
order, against the same run on the local executor.

The agent is scenario 2's (lines of 80 bytes, numbered). A scheduler and two workers run on
loopback for the whole script; each round drives the run through the Dask executor (the lines
go worker, scheduler, engine, with acks back to the worker) and on the local executor, in the
same process, alternating. Both must store every line once, in order.
"""

from __future__ import annotations

import asyncio
import functools
import sys
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
from log_throughput import AGENT, check_stored

TARGET = 2.0


async def drive(agent: Path, n: int, executor: dict[str, str] | None) -> float:
    yaml = agents_yaml([[f'["{{python}}", "{agent}", "{n}"]']], output="messages")
    with temp_dir("dask-logs-run") as tmp:
        elapsed, state = await drive_workflow(tmp, yaml, executor=executor)
        if state.stages["s0"].status != "succeeded":
            raise RuntimeError(f"stage ended {state.stages['s0'].status}: {state.reason}")
        check_stored(tmp / "ws" / ".phaseboard" / "phaseboard.db", n, 1)
    return elapsed


async def main() -> int:
    p = options(__doc__)
    p.add_argument("--lines", type=int, default=None, help="lines (default 1,000,000)")
    args = p.parse_args()
    lines = args.lines or (100_000 if args.quick else 1_000_000)
    runs = runs_for(args)
    verdicts = Verdicts("dask_logs")
    with temp_dir("dask-logs") as root, dask_cluster(root) as address:
        agent = root / "printer.py"
        agent.write_text(AGENT)
        dask = {"kind": "dask", "scheduler": address}
        await drive(agent, 10, dask)  # warm-up: imports on both sides
        await drive(agent, 10, None)
        local, ours = await interleaved(
            runs,
            functools.partial(drive, agent, lines, None),
            functools.partial(drive, agent, lines, dask),
        )
        print(
            f"logs 1 agent x {lines:,} lines: local executor {spread(local)} "
            f"({lines / median(local):,.0f} lines/s), Dask executor {spread(ours)} "
            f"({lines / median(ours):,.0f} lines/s)"
        )
        verdicts.ratio(f"dask logs {lines:,} lines", median(ours) / median(local), TARGET)
    return verdicts.finish()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
