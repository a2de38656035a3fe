"""Scenario 2: agent output into the store, against a bare harness on the same disk.

The agent prints N lines of 80 bytes. The bare harness reads the same pipe line by line
and stores the lines with ``executemany`` in batches of 500 into a SQLite file (WAL,
synchronous=FULL). phaseboard must keep every line, in order, at most 1.5x the time.
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import psutil
from common import amedian_of, drive_workflow, verdict

LINE = "x" * 71


AGENT = Path(tempfile.gettempdir()) / "phaseboard_bench_printer.py"
AGENT.write_text(
    "import sys\n"
    "n = int(sys.argv[1])\n"
    "w = sys.stdout.write\n"
    f"for i in range(n):\n    w('%08d {LINE}\\n' % i)\n"
)


async def bare(n: int, agents: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(Path(tmp) / "bare.db", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("CREATE TABLE logs(id INTEGER PRIMARY KEY, agent TEXT, ts REAL, text TEXT)")

        async def one(name: str) -> None:
            proc = await asyncio.create_subprocess_exec(
                sys.executable, str(AGENT), str(n), stdout=asyncio.subprocess.PIPE
            )
            assert proc.stdout is not None
            batch: list[tuple[str, float, str]] = []
            async for raw in proc.stdout:
                batch.append((name, time.time(), raw.decode().rstrip("\n")))
                if len(batch) >= 500:
                    conn.execute("BEGIN")
                    conn.executemany("INSERT INTO logs(agent, ts, text) VALUES (?,?,?)", batch)
                    conn.execute("COMMIT")
                    batch = []
            if batch:
                conn.execute("BEGIN")
                conn.executemany("INSERT INTO logs(agent, ts, text) VALUES (?,?,?)", batch)
                conn.execute("COMMIT")
            await proc.wait()

        start = time.perf_counter()
        await asyncio.gather(*(one(f"a{i}") for i in range(agents)))
        elapsed = time.perf_counter() - start
        count = conn.execute("SELECT COUNT(*) FROM logs").fetchone()[0]
        conn.close()
        assert count == n * agents, count
        return elapsed


async def engine(n: int, agents: int) -> float:
    items = "\n".join(
        f'      - {{id: a{i}, output: messages, run: ["{{python}}", "{AGENT}", "{n}"]}}'
        for i in range(agents)
    )
    yaml = (
        "version: 1\nname: logs\ndefaults: {retries: 0, timeout: 600}\nstages:\n"
        f"  - id: s\n    kind: agents\n    agents:\n{items}\n"
    )
    with tempfile.TemporaryDirectory() as tmp:
        elapsed, state = await drive_workflow(Path(tmp), yaml)
        db = Path(tmp) / "ws" / ".phaseboard" / "phaseboard.db"
        conn = sqlite3.connect(db)
        for i in range(agents):
            rows = conn.execute(
                "SELECT text FROM logs WHERE agent = ? AND stream = 'stdout' ORDER BY id", (f"a{i}",)
            ).fetchall()
            assert len(rows) == n, (len(rows), n)
            assert rows[0][0].startswith("00000000") and rows[n - 1][0].startswith(f"{n - 1:08d}")
        conn.close()
        return elapsed


async def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--lines", type=int, default=1_000_000)
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args()
    failed = 0
    for agents in (1, 5):
        rss_before = psutil.Process().memory_info().rss
        base = await amedian_of(args.runs, lambda a=agents: bare(args.lines, a))
        ours = await amedian_of(args.runs, lambda a=agents: engine(args.lines, a))
        growth = (psutil.Process().memory_info().rss - rss_before) / 2**20
        total = args.lines * agents
        print(
            f"logs {agents} agent(s) x {args.lines} lines: bare {base:.2f}s "
            f"({total / base:,.0f} lines/s), phaseboard {ours:.2f}s ({total / ours:,.0f} lines/s), "
            f"engine RSS growth {growth:.0f} MiB"
        )
        line = verdict(f"log_throughput agents={agents}", ours / base, 1.5)
        failed += line.endswith("FAIL")
        print(line)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
