"""Scenario 4: the console under load.

The app (``PhaseboardApp`` headless, ``App.run_test()``, 160x48) watches a run whose background
engine (``tui.console.launcher.launch_engine``, the process the console starts) drives five agents that
each print 20,000 lines/s of 80 bytes for 10 s. While they print, in the app's event loop:

- a key (``1``..``4``, switch tab) is sent every 200 ms; key-to-effect is the time until the
  tab is active: p99 under 100 ms;
- a task sleeps 10 ms again and again; event-loop lag is how late it wakes: p99 under 50 ms;
- the last line of each pane whose agent still runs is sampled every 100 ms: the longest
  stretch a pane did not change must stay under 1 s (visible panes still refreshing);
- this process's resident memory (the app; the engine is another process): under 300 MB.

Afterwards the store must hold every line of every agent.

Each round runs in an event loop of its own, as each console runs in a process of its own: a
loop's default executor keeps its threads, and a thread started while an app runs keeps that
app's stdout capture (``Thread._stderr``), hence the whole app. Sharing one loop kept every
round's app alive and made each round's garbage collections, and so its loop lag, longer.
"""

from __future__ import annotations

import asyncio
import gc
import sqlite3
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from common import PeakRss, Verdicts, agents_yaml, median, mib, new_run, options, runs_for, temp_dir
from textual import events
from textual.widgets import TabbedContent

from tui.console.app import PhaseboardApp
from tui.console.launcher import EngineProcess, launch_engine
from tui.console.widgets.agent_pane import AgentGrid

AGENTS, RATE = 5, 20_000
AGENT = """\
import os, sys, time
rate, seconds = int(sys.argv[1]), float(sys.argv[2])
total, w, i = int(rate * seconds), sys.stdout.write, 0
start = time.monotonic()
while i < total:
    due = min(total, int((time.monotonic() - start) * rate) + 1)
    while i < due:
        w('%08d %s\\n' % (i, 'y' * 71))
        i += 1
    sys.stdout.flush()
    time.sleep(0.005)
open(os.environ['PHASEBOARD_OUTPUT'], 'w').write('{"summary": "printed"}')
"""
TABS = ["2", "3", "4", "1"]
SETUP_TIMEOUT_S = 60.0
NAMES = {"1": "synthesis", "2": "conflicts", "3": "checkpoints", "4": "events"}


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) > 1 else values[0]


async def loop_lag(lags: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        start = time.perf_counter()
        await asyncio.sleep(0.01)
        lags.append(time.perf_counter() - start - 0.01)


async def press_keys(app: PhaseboardApp, latencies: list[float], stop: asyncio.Event) -> None:
    i = 0
    while not stop.is_set():
        key = TABS[i % len(TABS)]
        i += 1
        tabs = app.screen.query_one("#tabs", TabbedContent)
        start = time.perf_counter()
        app.post_message(events.Key(key, key))
        while tabs.active != f"tab-{NAMES[key]}":
            await asyncio.sleep(0.002)
        latencies.append(time.perf_counter() - start)
        await asyncio.sleep(0.2)


async def watch_panes(app: PhaseboardApp, gaps: list[float], stop: asyncio.Event) -> None:
    """The longest time the last line of a running agent's pane stayed the same."""
    grid = app.screen.query_one(AgentGrid)
    agents = app.state.stages["s0"].agents
    last: dict[str, tuple[str, float]] = {}
    while not stop.is_set():
        now = time.perf_counter()
        for pane in grid.panes():
            if agents[pane.agent_id].status != "running":
                continue
            lines = pane.log_widget.lines
            tail = lines[-1] if lines else ""
            seen, since = last.get(pane.agent_id, ("", now))
            if tail != seen:
                last[pane.agent_id] = (tail, now)
            else:
                gaps.append(now - since)
        await asyncio.sleep(0.1)


async def until(ready: Callable[[], bool], what: str, proc: EngineProcess | None) -> None:
    """Wait for ``ready``; fail with the engine's last words if it exits or time runs out."""
    deadline = time.perf_counter() + SETUP_TIMEOUT_S
    while not ready():
        if proc is not None and proc.exit_code() is not None and not ready():
            raise RuntimeError(
                f"the engine exited {proc.exit_code()} before {what}: {proc.log_tail(5)}"
            )
        if time.perf_counter() > deadline:
            raise RuntimeError(f"no {what} after {SETUP_TIMEOUT_S:.0f} s")
        await asyncio.sleep(0.02)


async def one_run(seconds: float) -> dict[str, float]:
    with temp_dir("console") as tmp:
        agent = tmp / "printer.py"
        agent.write_text(AGENT)
        run = f'["{{python}}", "{agent}", "{RATE}", "{seconds}"]'
        db, run_id = await new_run(tmp / "ws", agents_yaml([[run] * AGENTS], output="messages"))
        lags: list[float] = []
        latencies: list[float] = []
        gaps: list[float] = [0.0]
        app = PhaseboardApp(db, run_id)
        proc = None
        with PeakRss() as rss:
            async with app.run_test(size=(160, 48)):
                await until(
                    lambda: app.state.workflow is not None and bool(app.screen.query(AgentGrid)),
                    "the main screen",
                    None,
                )
                proc = launch_engine(db, run_id, Path(app.state.run_dir))
                grid = app.screen.query_one(AgentGrid)
                await until(
                    lambda: (
                        len(grid.panes()) == AGENTS
                        and all(p.log_widget.lines for p in grid.panes())
                    ),
                    "a line in every pane",
                    proc,
                )
                stop = asyncio.Event()
                began = time.perf_counter()
                tasks = [
                    asyncio.create_task(loop_lag(lags, stop)),
                    asyncio.create_task(press_keys(app, latencies, stop)),
                    asyncio.create_task(watch_panes(app, gaps, stop)),
                ]
                running = app.state.stages["s0"]
                deadline = began + 3 * seconds + SETUP_TIMEOUT_S
                while any(a.status == "running" for a in running.agents.values()):
                    if time.perf_counter() > deadline:
                        raise RuntimeError(f"agents still running: {proc.log_tail(5)}")
                    await asyncio.sleep(0.05)
                stop.set()
                printed = time.perf_counter() - began
                await asyncio.gather(*tasks)
        try:
            code = await asyncio.to_thread(proc.popen.wait, 120) if proc else -1
        finally:
            if proc is not None and proc.exit_code() is None:
                proc.popen.kill()
        if code != 0:
            raise RuntimeError(f"the engine exited {code}: {proc.log_tail(5) if proc else ''}")
        conn = sqlite3.connect(db)
        counts = dict(conn.execute("SELECT agent, SUM(lines) FROM logs GROUP BY agent"))
        conn.close()
        lost = sum(int(RATE * seconds) - counts.get(f"a{i}", 0) for i in range(AGENTS))
    return {
        "key_p99_ms": p99(latencies) * 1000,
        "lag_p99_ms": p99(lags) * 1000,
        "pane_gap_s": max(gaps),
        "rss_mb": mib(rss.peak),
        "lost": float(lost),
        "keys": float(len(latencies)),
        "rate": AGENTS * RATE * seconds / printed,
    }


def main() -> int:
    args = options(__doc__).parse_args()
    runs = runs_for(args)
    seconds = 3.0 if args.quick else 10.0
    verdicts = Verdicts("console_load")
    results = []
    for _ in range(runs):
        results.append(asyncio.run(one_run(seconds)))
        gc.collect()
    for i, r in enumerate(results, 1):
        print(
            f"round {i}: key p99 {r['key_p99_ms']:.0f} ms ({r['keys']:.0f} keys), loop lag p99 "
            f"{r['lag_p99_ms']:.0f} ms, longest pane freeze {r['pane_gap_s']:.2f} s, "
            f"app RSS {r['rss_mb']:.0f} MiB, lines lost {r['lost']:.0f}; the agents printed "
            f"{r['rate']:,.0f} lines/s in all (asked {AGENTS * RATE:,})"
        )
    pick = {k: median([r[k] for r in results]) for k in results[0]}
    label = f"console {AGENTS}x{RATE // 1000}k lines/s"
    verdicts.absolute(f"{label} key to effect p99", round(pick["key_p99_ms"], 1), "ms", 100)
    verdicts.absolute(f"{label} event-loop lag p99", round(pick["lag_p99_ms"], 1), "ms", 50)
    verdicts.absolute(f"{label} longest pane freeze", round(pick["pane_gap_s"], 2), "s", 1)
    verdicts.absolute(
        f"{label} app peak RSS", round(max(r["rss_mb"] for r in results), 1), "MiB", 300
    )
    verdicts.absolute(f"{label} lines lost", max(r["lost"] for r in results), "lines", 0)
    return verdicts.finish()


if __name__ == "__main__":
    sys.exit(main())
