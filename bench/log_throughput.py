"""Scenario 2: agent output into the store, against a bare harness on the same disk.

The agent prints N lines of 80 bytes. The bare harness reads the same pipe line by line and
stores the lines with ``executemany`` in batches of 500 into a SQLite file (WAL,
synchronous=FULL) in the same temp folder. phaseboard must keep every line, in order, in at
most 1.5x the time, with its resident memory growing by at most 100 MiB. Then five agents at
once against five bare harnesses in one event loop.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
import sys
import time
from pathlib import Path

from common import (
    PeakRss,
    Verdicts,
    agents_yaml,
    drive_workflow,
    interleaved,
    median,
    mib,
    options,
    runs_for,
    spread,
    temp_dir,
)

AGENT = """\
import os, sys
n = int(sys.argv[1])
w = sys.stdout.write
for i in range(n):
    w('%08d {pad}\\n' % i)
sys.stdout.flush()
out = os.environ.get('PHASEBOARD_OUTPUT')
if out:
    open(out, 'w').write('{{"summary": "printed"}}')
""".format(pad="x" * 71)


async def bare(agent: Path, n: int, agents: int) -> float:
    with temp_dir("logs-bare") as tmp:
        conn = sqlite3.connect(tmp / "bare.db", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("CREATE TABLE logs(id INTEGER PRIMARY KEY, agent TEXT, ts REAL, text TEXT)")

        def store(batch: list[tuple[str, float, str]]) -> None:
            conn.execute("BEGIN")
            conn.executemany("INSERT INTO logs(agent, ts, text) VALUES (?,?,?)", batch)
            conn.execute("COMMIT")

        async def one(name: str) -> None:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, str(agent), str(n), stdout=asyncio.subprocess.PIPE
            )
            assert proc.stdout is not None
            batch: list[tuple[str, float, str]] = []
            async for raw in proc.stdout:
                batch.append((name, time.time(), raw.decode().rstrip("\n")))
                if len(batch) >= 500:
                    store(batch)
                    batch = []
            if batch:
                store(batch)
            await proc.wait()

        start = time.perf_counter()
        await asyncio.gather(*(one(f"a{i}") for i in range(agents)))
        elapsed = time.perf_counter() - start
        count = conn.execute("SELECT COUNT(*) FROM logs").fetchone()[0]
        conn.close()
    if count != n * agents:
        raise RuntimeError(f"bare harness stored {count} of {n * agents} lines")
    return elapsed


def check_stored(db: Path, n: int, agents: int) -> None:
    """Every line of every agent stored once, in order."""
    conn = sqlite3.connect(db)
    try:
        for a in range(agents):
            rows = conn.execute(
                "SELECT text FROM logs WHERE agent = ? AND stream = 'stdout' ORDER BY id",
                (f"a{a}",),
            )
            count = 0
            for i, (text,) in enumerate(rows):
                if int(text[:8]) != i:
                    raise RuntimeError(f"agent a{a}: line {i} stored as {text[:8]!r}")
                count += 1
            if count != n:
                raise RuntimeError(f"agent a{a}: {count} of {n} lines stored")
    finally:
        conn.close()


async def engine(agent: Path, n: int, agents: int, growth: list[int]) -> float:
    yaml = agents_yaml([[f'["{{python}}", "{agent}", "{n}"]'] * agents], output="messages")
    with temp_dir("logs") as tmp:
        with PeakRss() as rss:
            elapsed, state = await drive_workflow(tmp, yaml)
        growth.append(rss.growth)
        if state.stages["s0"].status != "succeeded":
            raise RuntimeError(f"stage ended {state.stages['s0'].status}")
        check_stored(tmp / "ws" / ".phaseboard" / "phaseboard.db", n, agents)
    return elapsed


async def main() -> int:
    p = options(__doc__)
    p.add_argument("--lines", type=int, default=None, help="lines per agent (default 1,000,000)")
    args = p.parse_args()
    lines = args.lines or (100_000 if args.quick else 1_000_000)
    runs = runs_for(args)
    verdicts = Verdicts("log_throughput")
    with temp_dir("logs-agent") as tmp:
        agent = tmp / "printer.py"
        agent.write_text(AGENT)
        await engine(agent, 10, 1, [])  # warm-up: imports and first-use costs are not growth
        for agents in (1, 5):
            growth: list[int] = []
            base, ours = await interleaved(
                runs,
                functools.partial(bare, agent, lines, agents),
                functools.partial(engine, agent, lines, agents, growth),
            )
            total = lines * agents
            print(
                f"logs {agents} agent(s) x {lines:,} lines: bare {spread(base)} "
                f"({total / median(base):,.0f} lines/s), phaseboard {spread(ours)} "
                f"({total / median(ours):,.0f} lines/s), peak RSS growth "
                f"{', '.join(f'{mib(g):.0f}' for g in growth)} MiB"
            )
            verdicts.ratio(f"log_throughput agents={agents} time", median(ours) / median(base), 1.5)
            verdicts.absolute(
                f"log_throughput agents={agents} RSS growth", mib(max(growth)), "MiB", 100
            )
    return verdicts.finish()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
