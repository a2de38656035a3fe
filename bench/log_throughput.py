"""Scenario 2: agent output into the store, against keeping the bytes in a file.

The agent prints N lines of 80 bytes. The baseline is the same producer piped to ``cat > FILE``
in the same temp folder (five such pipes at once for five agents): what keeping the output
costs at the least. phaseboard must keep every line, in order, in at most 1.5x that time, with
its resident memory growing by at most 100 MiB, and a database of at most 1.1x the raw bytes.
The first reference, a harness storing the lines with ``executemany`` in batches of 500 (WAL,
synchronous=FULL), is still run and printed, so the older figures stay comparable.

On the one-agent database, the readers: ``phaseboard logs`` to a pipe against ``cat FILE`` to the
same pipe (target 2x; the command's own start-up, measured on a one-line log, is printed apart),
and what the console's log screen does when it opens that log and jumps to its end, and when it
searches it (``LogSource``: counting the lines, reading the last page, finding a word present on
ten lines and one absent; fresh each time, p99 under 100 ms).
"""

from __future__ import annotations

import asyncio
import functools
import shlex
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from common import (
    PeakRss,
    Verdicts,
    agents_yaml,
    drive_workflow,
    interleaved,
    interleaved_sync,
    median,
    mib,
    options,
    phaseboard,
    runs_for,
    spread,
    temp_dir,
)

from engine.store.log_chunks import unpack

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


async def bare_file(agent: Path, n: int, agents: int) -> float:
    """The producer piped to ``cat > FILE``, ``agents`` at once."""
    with temp_dir("logs-cat") as tmp:
        start = time.perf_counter()
        procs = [
            await asyncio.create_subprocess_shell(
                f"{shlex.quote(sys.executable)} {shlex.quote(str(agent))} {n} | cat > {tmp}/a{i}.log"
            )
            for i in range(agents)
        ]
        await asyncio.gather(*(p.wait() for p in procs))
        elapsed = time.perf_counter() - start
        sizes = [(tmp / f"a{i}.log").stat().st_size for i in range(agents)]
    if sizes != [n * 81] * agents:
        raise RuntimeError(f"cat kept {sizes} bytes, not {n * 81} each")
    return elapsed


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
                "SELECT text, lines, marks FROM logs WHERE agent = ? ORDER BY id", (f"a{a}",)
            )
            count = 0
            for text, lines, marks in rows:
                for stream, line, _ in unpack(text, lines, marks):
                    if stream != "stdout" or int(line[:8]) != count:
                        raise RuntimeError(f"agent a{a}: line {count} stored as {line[:8]!r}")
                    count += 1
            if count != n:
                raise RuntimeError(f"agent a{a}: {count} of {n} lines stored")
    finally:
        conn.close()


def database_bytes(db: Path) -> int:
    """The database's size once its write-ahead log is folded in."""
    conn = sqlite3.connect(db)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return db.stat().st_size


async def engine(
    agent: Path, n: int, agents: int, growth: list[int], sizes: list[float], keep: Path | None
) -> float:
    yaml = agents_yaml([[f'["{{python}}", "{agent}", "{n}"]'] * agents], output="messages")
    with temp_dir("logs") as tmp:
        with PeakRss() as rss:
            elapsed, state = await drive_workflow(tmp, yaml)
        growth.append(rss.growth)
        if state.stages["s0"].status != "succeeded":
            raise RuntimeError(f"stage ended {state.stages['s0'].status}")
        db = tmp / "ws" / ".phaseboard" / "phaseboard.db"
        check_stored(db, n, agents)
        sizes.append(database_bytes(db) / (n * agents * 81))
        if keep is not None and not (keep / "ws").exists():
            shutil.copytree(tmp / "ws", keep / "ws")
    return elapsed


def timed_shell(command: str, cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(command, shell=True, cwd=cwd, check=True)
    return time.perf_counter() - start


async def readers(kept: Path, agent: Path, n: int, runs: int, verdicts: Verdicts) -> None:
    """``phaseboard logs`` against ``cat``, on the kept one-agent run."""
    ws = kept / "ws"
    cat_file = kept / "a0.log"
    subprocess.run(f"{sys.executable} {agent} {n} > {cat_file}", shell=True, check=True)
    logs = " ".join(shlex.quote(a) for a in [*phaseboard(), "logs", "last", "s0.a0"])
    small = kept / "small"
    with temp_dir("logs-small") as tmp:
        small.mkdir()
        await drive_workflow(
            tmp, agents_yaml([[f'["{{python}}", "{agent}", "1"]']]), workspace=small
        )
    cat_s, logs_s, start_s = interleaved_sync(
        runs,
        lambda: timed_shell(f"cat {cat_file} | cat > /dev/null", kept),
        lambda: timed_shell(f"{logs} | cat > /dev/null", ws),
        lambda: timed_shell(f"{logs} | cat > /dev/null", small),
    )
    printed = subprocess.run(f"{logs} | wc -c", shell=True, cwd=ws, capture_output=True, text=True)
    if int(printed.stdout.strip()) != n * 81:
        raise RuntimeError(f"phaseboard logs printed {printed.stdout.strip()} bytes, not {n * 81}")
    print(
        f"logs to a pipe, {n:,} lines: cat {spread(cat_s)}, phaseboard logs {spread(logs_s)}, "
        f"of which start-up (the same command on a one-line log) {spread(start_s)}"
    )
    verdicts.ratio("phaseboard logs / cat, to a pipe", median(logs_s) / median(cat_s), 2)
    verdicts.ratio(
        "phaseboard logs less its start-up / cat",
        max(0.0, median(logs_s) - median(start_s)) / median(cat_s),
        2,
    )


async def console_reads(kept: Path, rounds: int, verdicts: Verdicts) -> None:
    """What the log screen reads: open (count), jump to the end, search."""
    from engine.store.database import Store
    from tui.console.widgets.log_source import PAGE, LogSource

    store = await Store.open(kept / "ws" / ".phaseboard" / "phaseboard.db", create=False)
    try:
        (run,) = await store.runs()
        times: dict[str, list[float]] = {"open and jump to the end": [], "search": [], "miss": []}
        for _ in range(rounds):
            start = time.perf_counter()
            source = LogSource(store, run.id, "s0", "a0")
            source.set_attempts([1])
            await source.extend()
            last = await source.load_page((source.total - 1) // PAGE)
            times["open and jump to the end"].append(time.perf_counter() - start)
            if int(last[-1].text[:8]) != source.total - 1:
                raise RuntimeError(f"the last line read is {last[-1].text[:8]}")
            start = time.perf_counter()
            found = await source.find("0012345", 100_000)  # lines 12,345 and 123,450..123,459
            times["search"].append(time.perf_counter() - start)
            start = time.perf_counter()
            missing = await source.find("absent", 100_000)
            times["miss"].append(time.perf_counter() - start)
            if len(found) != 1 + (source.total > 123_459) * 10 or missing:  # 11, or 1 (--quick)
                raise RuntimeError(f"search found {len(found)} and {len(missing)} lines")
        for name, values in times.items():
            p99 = sorted(values)[max(0, int(len(values) * 0.99) - 1)]
            print(
                f"console, {name}: median {median(values) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms"
            )
            verdicts.absolute(f"console {name} p99", p99 * 1000, "ms", 100)
    finally:
        await store.close()


async def main() -> int:
    p = options(__doc__)
    p.add_argument("--lines", type=int, default=None, help="lines per agent (default 1,000,000)")
    p.add_argument("--agents", type=int, nargs="+", default=[1, 5], help="agents at once (1 5)")
    args = p.parse_args()
    lines = args.lines or (100_000 if args.quick else 1_000_000)
    runs = runs_for(args)
    verdicts = Verdicts("log_throughput")
    with temp_dir("logs-agent") as tmp:
        agent = tmp / "printer.py"
        agent.write_text(AGENT)
        await engine(agent, 10, 1, [], [], None)  # warm-up: imports and first uses are not growth
        for agents in args.agents:
            growth: list[int] = []
            sizes: list[float] = []
            keep = tmp if agents == args.agents[0] else None
            cat, base, ours = await interleaved(
                runs,
                functools.partial(bare_file, agent, lines, agents),
                functools.partial(bare, agent, lines, agents),
                functools.partial(engine, agent, lines, agents, growth, sizes, keep),
            )
            total = lines * agents
            print(
                f"logs {agents} agent(s) x {lines:,} lines: cat > FILE {spread(cat)} "
                f"({total / median(cat):,.0f} lines/s), executemany harness {spread(base)}, "
                f"phaseboard {spread(ours)} ({total / median(ours):,.0f} lines/s), peak RSS "
                f"growth {', '.join(f'{mib(g):.0f}' for g in growth)} MiB, database / raw bytes "
                f"{', '.join(f'{x:.3f}' for x in sizes)}"
            )
            print(f"  against the executemany harness: ratio {median(ours) / median(base):.3f}")
            verdicts.ratio(f"log_throughput agents={agents} time", median(ours) / median(cat), 1.5)
            verdicts.absolute(
                f"log_throughput agents={agents} RSS growth", mib(max(growth)), "MiB", 100
            )
            verdicts.ratio(f"log_throughput agents={agents} database size", max(sizes), 1.1)
        await readers(tmp, agent, lines, runs, verdicts)
        await console_reads(tmp, 5 if args.quick else 50, verdicts)
    return verdicts.finish()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
