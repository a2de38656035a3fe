"""Scenario 1: the cost phaseboard adds to starting agents, against a bare asyncio loop.

Each round runs N agents that exit at once (one parallel stage, retries 0; the workspace is
empty, so its rollback point costs next to nothing) and, in the same process, a bare
``asyncio.gather`` of ``create_subprocess_exec`` + ``communicate`` over the same command, with a
semaphore where the stage has ``max_parallel``. Rounds alternate the two.

Every round's run folder stays until the script ends. Removing thousands of files between rounds
made the next round's file creations slow on ext4 without a journal, which skips every inode
freed in the last 60 s (300 s while its table block is unwritten), one lookup each: a cost of the
benchmark's own clean-up, not of starting agents (docs/performance.md, scenario 1).
"""

from __future__ import annotations

import asyncio
import functools
import sys
import tempfile
import time
from pathlib import Path

from common import (
    Verdicts,
    agents_yaml,
    describe_filesystem,
    drive_workflow,
    interleaved,
    median,
    options,
    runs_for,
    spread,
    temp_dir,
)

CASES = [
    # (agents, max_parallel, sleep seconds, target ratio or None for information only)
    (20, None, 0.0, None),
    (200, None, 0.0, 1.25),
    (1000, 64, 0.0, 1.25),
    (20, None, 1.0, 1.03),
]
QUICK_CASES = [(20, None, 0.0, None), (200, None, 0.0, 1.25)]


def agent_code(sleep: float) -> str:
    return f"import time; time.sleep({sleep}); print(1)" if sleep else "print(1)"


async def bare(n: int, max_parallel: int | None, sleep: float) -> float:
    limit = asyncio.Semaphore(max_parallel or n)
    code = agent_code(sleep)

    async def one() -> None:
        async with limit:
            proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                code,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
            )
            await proc.communicate()

    start = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(n)))
    return time.perf_counter() - start


async def engine(
    root: Path, n: int, max_parallel: int | None, sleep: float, cpu: list[float] | None = None
) -> float:
    """The run's time in ``Engine.drive``; the engine's own CPU time per agent (this process, all
    its threads, the agents not counted) is appended to ``cpu``."""
    run = f'["{{python}}", "-c", "{agent_code(sleep)}"]'
    yaml = agents_yaml([[run] * n], defaults="{retries: 0, timeout: 60}", max_parallel=max_parallel)
    cpu_before = time.process_time()
    elapsed, state = await drive_workflow(Path(tempfile.mkdtemp(dir=root)), yaml)
    if cpu is not None:
        cpu.append((time.process_time() - cpu_before) / n)
    ok = sum(1 for a in state.stages["s0"].agents.values() if a.status == "succeeded")
    if ok != n:
        raise RuntimeError(f"only {ok} of {n} agents succeeded")
    return elapsed


async def main() -> int:
    args = options(__doc__).parse_args()
    runs = runs_for(args)
    verdicts = Verdicts("spawn_overhead")
    with temp_dir("spawn") as root:
        print(f"run folders in {root}: {describe_filesystem(root)}")
        await engine(root, 5, None, 0.0)  # warm-up: imports and first-use costs are not per-agent
        for case in QUICK_CASES if args.quick else CASES:
            await measure(root, runs, verdicts, *case)
    return verdicts.finish()


async def measure(
    root: Path,
    runs: int,
    verdicts: Verdicts,
    n: int,
    limit: int | None,
    sleep: float,
    target: float | None,
) -> None:
    cpu: list[float] = []
    base, ours = await interleaved(
        runs,
        functools.partial(bare, n, limit, sleep),
        functools.partial(engine, root, n, limit, sleep, cpu),
    )
    label = f"spawn n={n} max_parallel={limit or n} sleep={sleep:g}s"
    extra = (median(ours) - median(base)) / n * 1000
    print(
        f"{label}: bare {spread(base)}, phaseboard {spread(ours)}, +{extra:.2f} ms per agent; "
        f"engine CPU {median(cpu) * 1000:.2f} ms per agent"
    )
    ratio = median(ours) / median(base)
    if target is None:
        print(f"{label}: ratio {ratio:.2f} (information: fixed per-run costs dominate)")
    else:
        verdicts.ratio(label, ratio, target)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
