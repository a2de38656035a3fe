"""Scenario 1: the cost phaseboard adds to starting agents, against a bare asyncio loop.

Each round runs N agents that exit at once (one parallel stage, retries 0, no rollback
points worth speaking of: the workspace is empty) and, in the same process, a bare
``asyncio.gather`` of ``create_subprocess_exec`` + ``communicate`` over the same command.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import sys
import tempfile
import time
from pathlib import Path

from common import amedian_of, drive_workflow, verdict

COMMAND = [sys.executable, "-c", "pass"]


def workflow(n: int, max_parallel: int | None, sleep: float) -> str:
    code = f"import time; time.sleep({sleep})" if sleep else "pass"
    agents = "\n".join(
        f'      - {{id: a{i}, output: json, run: ["{{python}}", "-c", "{code}; print(1)"]}}'
        for i in range(n)
    )
    limit = f"    max_parallel: {max_parallel}\n" if max_parallel else ""
    return (
        "version: 1\nname: spawn\ndefaults: {retries: 0, timeout: 60}\nstages:\n"
        f"  - id: s\n    kind: agents\n    mode: parallel\n{limit}    agents:\n{agents}\n"
    )


async def bare(n: int, max_parallel: int | None, sleep: float) -> float:
    code = f"import time; time.sleep({sleep}); print(1)" if sleep else "print(1)"
    limit = asyncio.Semaphore(max_parallel or n)

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


async def engine(n: int, max_parallel: int | None, sleep: float) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        elapsed, state = await drive_workflow(Path(tmp), workflow(n, max_parallel, sleep))
        ok = sum(1 for a in state.stages["s"].agents.values() if a.status == "succeeded")
        assert ok == n, f"only {ok} of {n} agents succeeded"
        return elapsed


async def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--quick", action="store_true", help="smaller scenarios")
    args = p.parse_args()
    scenarios = [
        (20, None, 0.0, 1.25),
        (200, None, 0.0, 1.25),
        (1000, 64, 0.0, 1.25),
        (20, None, 1.0, 1.03),
    ]
    if args.quick:
        scenarios = [(20, None, 0.0, 1.25), (200, None, 0.0, 1.25)]
    failed = 0
    await engine(5, None, 0.0)  # warm-up: imports and first-use costs are not per-agent costs
    for n, limit, sleep, target in scenarios:
        base = await amedian_of(args.runs, functools.partial(bare, n, limit, sleep))
        ours = await amedian_of(args.runs, functools.partial(engine, n, limit, sleep))
        ratio = ours / base
        label = f"spawn n={n} max_parallel={limit or n} sleep={sleep}"
        print(f"{label}: bare {base:.3f}s, phaseboard {ours:.3f}s")
        line = verdict(label, ratio, target)
        failed += line.endswith("FAIL")
        print(line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
