"""Scenario 5: a run with 1,000,000 events, and a database full of log lines.

The history is written through ``Store.append`` in batches of 10,000 realistic payloads: 10
stages of 20 agents, each agent with attempts, a stream of progress messages and a result,
rollback points and stage boundaries, as an engine would have written them. Checks:

- ``RunSession.load`` (rebuild the state of the whole history: what attach and resume do; it
  reads every event the fold keeps, i.e. all but the older progress messages) under 2 s;
- ``phaseboard status RUN`` as a subprocess, wall time, under 1 s;
- a second database holding a run with many log lines (80 bytes on average, ten agents) is at
  most 2x the raw size of those logs (their text plus a newline each, as the agents printed
  them), measured after a WAL checkpoint.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from common import (
    Verdicts,
    agents_yaml,
    median,
    mib,
    new_run,
    options,
    phaseboard,
    runs_for,
    spread,
    temp_dir,
)

from engine.run.session import RunSession
from engine.state.events import (
    AgentFinished,
    AgentMessage,
    AttemptFinished,
    AttemptStarted,
    Payload,
    RollbackPointSaved,
    RunStatusChanged,
    StageFinished,
    StageStarted,
)
from engine.store.database import LogRow, Store

STAGES, AGENTS = 10, 20
BATCH = 10_000
WORDS = [
    "scan",
    "parse",
    "module",
    "test",
    "import",
    "config",
    "build",
    "found",
    "checked",
    "file",
    "line",
    "ok",
    "warn",
]


def workflow() -> str:
    return agents_yaml([['["{python}", "agent.py"]'] * AGENTS] * STAGES, output="messages")


def history(total: int) -> Iterator[Payload]:
    """About ``total`` payloads of a run that went through every stage."""
    per_agent = max(1, (total - 2) // (STAGES * AGENTS) - 8)
    yield RunStatusChanged(status="running")
    for s in range(STAGES):
        stage = f"s{s}"
        yield RollbackPointSaved(
            id=f"rp{s + 1}",
            stage=stage,
            manifest_id=1,
            files=120,
            bytes=2_400_000,
            at="2024-05-01T10:00:00+00:00",
            verified=True,
        )
        yield StageStarted(stage=stage)
        for a in range(AGENTS):
            agent = f"a{a}"
            for n in (1, 2):
                yield AttemptStarted(
                    stage=stage,
                    agent=agent,
                    attempt=n,
                    argv=["/usr/bin/python3", "agent.py", "/w"],
                    pid=4000 + a,
                    pgid=4000 + a,
                    create_time=1714557600.5,
                    host="bench-host",
                )
                for i in range(per_agent // 2):
                    yield AgentMessage(
                        stage=stage,
                        agent=agent,
                        attempt=n,
                        message_type="info",
                        content={"progress": i, "note": f"checked src/pkg/module_{i % 500}.py"},
                    )
                yield AttemptFinished(
                    stage=stage,
                    agent=agent,
                    attempt=n,
                    status="failed" if n == 1 else "succeeded",
                    category="agent_failure" if n == 1 else None,
                    exit_code=1 if n == 1 else 0,
                    duration_s=12.5,
                    peak_rss_mb=80.2,
                    cpu_s=3.1,
                    tokens=1200,
                    cost_usd=0.02,
                )
            result = {
                "summary": f"{agent} of {stage}: 3 findings",
                "findings": {agent: {"modules": 42, "python": "3.12", "notes": WORDS}},
                "risks": [{"id": f"r{a}", "severity": "medium", "title": "untested module"}],
            }
            yield AgentFinished(stage=stage, agent=agent, status="succeeded", result=result)
        yield StageFinished(stage=stage, status="succeeded", changes={"modified": ["a.py"]})


async def build_events(tmp: Path, total: int) -> tuple[Path, str, int]:
    db, run_id = await new_run(tmp / "ws", workflow())
    store = await Store.open(db)
    count = 0
    try:
        batch: list[Payload] = []
        for payload in history(total):
            batch.append(payload)
            if len(batch) >= BATCH:
                count += len(await store.append(run_id, batch))
                batch = []
        count += len(await store.append(run_id, batch))
    finally:
        await store.close()
    return db, run_id, count + 1


def log_lines(total: int) -> Iterator[LogRow]:
    rng = random.Random(5)
    for i in range(total):
        words = rng.choices(WORDS, k=rng.randint(3, 20))
        text = f"{i:08d} " + " ".join(words)
        yield LogRow("s0", f"a{i % 10}", 1, "stdout", 1714557600.0 + i / 1000, text)


async def build_logs(tmp: Path, total: int) -> tuple[Path, int]:
    """A run whose agents printed ``total`` lines; returns (database, raw bytes of the logs)."""
    db, run_id = await new_run(tmp / "ws", agents_yaml([['["true"]'] * 10]))
    store = await Store.open(db)
    raw = 0
    try:
        batch: list[LogRow] = []
        for row in log_lines(total):
            batch.append(row)
            raw += len(row.text.encode()) + 1
            if len(batch) >= BATCH:
                await store.append_logs(run_id, batch)
                batch = []
        await store.append_logs(run_id, batch)
    finally:
        await store.close()
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return db, raw


async def load_time(db: Path, run_id: str, count: int) -> float:
    store = await Store.open(db)
    try:
        start = time.perf_counter()
        session = await RunSession.load(store, run_id)
        elapsed = time.perf_counter() - start
    finally:
        await store.close()
    state = session.state
    if state.stages["s9"].status != "succeeded" or state.last_seq != count:
        raise RuntimeError("the folded state is not the one written")
    return elapsed


def status_time(db: Path, run_id: str, cwd: Path) -> float:
    start = time.perf_counter()
    proc = subprocess.run(
        [*phaseboard(), "status", run_id, "--db", str(db)],
        cwd=cwd,
        capture_output=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"status exited {proc.returncode}: {proc.stderr.decode()[-1000:]}")
    return elapsed


async def main() -> int:
    args = options(__doc__).parse_args()
    runs = runs_for(args)
    events = 100_000 if args.quick else 1_000_000
    lines = 200_000 if args.quick else 2_000_000
    verdicts = Verdicts("store_scale")
    with temp_dir("store") as tmp:
        start = time.perf_counter()
        db, run_id, count = await build_events(tmp, events)
        size = sum(p.stat().st_size for p in db.parent.glob("phaseboard.db*"))
        print(
            f"built {count:,} events in {time.perf_counter() - start:.1f} s ({mib(size):.0f} MiB)"
        )
        loads, statuses = [], []
        for _ in range(runs):
            loads.append(await load_time(db, run_id, count))
            statuses.append(status_time(db, run_id, tmp))
        print(f"RunSession.load: {spread(loads)}; phaseboard status: {spread(statuses)}")
        verdicts.absolute(f"store load ({count:,} events)", round(median(loads), 3), "s", 2)
        verdicts.absolute(f"store status ({count:,} events)", round(median(statuses), 3), "s", 1)
    with temp_dir("store-logs") as tmp:
        start = time.perf_counter()
        db, raw = await build_logs(tmp, lines)
        size = sum(p.stat().st_size for p in db.parent.glob("phaseboard.db*"))
        print(
            f"built {lines:,} log lines in {time.perf_counter() - start:.1f} s: raw {mib(raw):.1f} MiB, "
            f"database {mib(size):.1f} MiB ({(size - raw) / lines:.0f} bytes of overhead per line)"
        )
        verdicts.ratio(f"store size ({lines:,} log lines)", size / raw, 2)
    return verdicts.finish()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
