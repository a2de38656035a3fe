"""Scenario 8: an engine with 200 sleeping agents, and a run of 50 stages x 10 agents.

The engine runs as a subprocess, ``phaseboard run WORKFLOW --headless``, as an operator runs it.

- idle: once all 200 attempts have started (counted in the database) and 1 s more, the engine
  process's own CPU time (user + system, psutil) is read over a window; under 2% of one core.
  The run is then interrupted with SIGINT.
- scale: 50 stages of 10 agents that print their result and exit; the engine's peak resident
  memory (``VmHWM``) under 300 MB, the maximum over the rounds.
"""

from __future__ import annotations

import signal
import sys
import time

import psutil
from common import (
    Verdicts,
    agents_yaml,
    count_events,
    median,
    mib,
    options,
    runs_for,
    spread,
    start_phaseboard,
    stop_process,
    temp_dir,
    wait_for,
    wait_peak_rss,
)

IDLE_AGENTS = 200


def idle_cpu(window_s: float) -> float:
    """Percent of one core the engine used while its agents slept."""
    yaml = agents_yaml([['["sleep", "600"]'] * IDLE_AGENTS], defaults="{retries: 0, timeout: 900}")
    with temp_dir("idle") as tmp:
        (tmp / "wf.yaml").write_text(yaml)
        ws = tmp / "ws"
        ws.mkdir()
        proc = start_phaseboard(
            ["run", str(tmp / "wf.yaml"), "--headless", "--workspace", str(ws)], tmp, tmp / "log"
        )
        try:
            db = ws / ".phaseboard" / "phaseboard.db"
            wait_for(
                lambda: (
                    count_events(db, "attempt_started") >= IDLE_AGENTS or proc.poll() is not None
                ),
                120,
                "all agents to start",
            )
            if proc.poll() is not None:
                raise RuntimeError(f"engine exited {proc.returncode}: {(tmp / 'log').read_text()}")
            time.sleep(1.0)
            engine = psutil.Process(proc.pid)
            before, start = sum(engine.cpu_times()[:2]), time.monotonic()
            time.sleep(window_s)
            used, elapsed = sum(engine.cpu_times()[:2]) - before, time.monotonic() - start
            proc.send_signal(signal.SIGINT)
            code, _ = wait_peak_rss(proc, 60)
            if code != 130:
                raise RuntimeError(f"engine exited {code} on SIGINT, expected 130")
        finally:
            stop_process(proc)
    return used / elapsed * 100


def scale_rss(stages: int, agents: int) -> tuple[float, int]:
    """(seconds, engine peak RSS bytes) of a run of ``stages`` x ``agents`` quick agents."""
    yaml = agents_yaml([['["echo", "1"]'] * agents] * stages, defaults="{retries: 0, timeout: 60}")
    with temp_dir("scale") as tmp:
        wf, ws = tmp / "wf.yaml", tmp / "ws"
        wf.write_text(yaml)
        ws.mkdir()
        start = time.perf_counter()
        proc = start_phaseboard(
            ["run", str(wf), "--headless", "--workspace", str(ws)], tmp, tmp / "log"
        )
        try:
            code, peak = wait_peak_rss(proc, 900)
        finally:
            stop_process(proc)
        elapsed = time.perf_counter() - start
        if code != 0:
            raise RuntimeError(f"run exited {code}: {(tmp / 'log').read_text()[-2000:]}")
        if (
            count_events(ws / ".phaseboard" / "phaseboard.db", "attempt_finished")
            != stages * agents
        ):
            raise RuntimeError("not every agent ran")
    return elapsed, peak


def main() -> int:
    args = options(__doc__).parse_args()
    runs = runs_for(args)
    window = 3.0 if args.quick else 5.0
    stages = 10 if args.quick else 50
    verdicts = Verdicts("idle_scale")
    cpu = [idle_cpu(window) for _ in range(runs)]
    print(
        f"idle engine, {IDLE_AGENTS} sleeping agents, {window:g} s window: {spread(cpu, '%')} of a core"
    )
    verdicts.absolute(f"idle {IDLE_AGENTS} agents engine CPU", round(median(cpu), 2), "%", 2)
    results = [scale_rss(stages, 10) for _ in range(runs)]
    times, peaks = [r[0] for r in results], [r[1] for r in results]
    print(
        f"scale {stages} stages x 10 agents: {spread(times)} per run, engine peak RSS "
        f"{', '.join(f'{mib(p):.0f}' for p in peaks)} MiB"
    )
    verdicts.absolute(f"scale {stages}x10 engine peak RSS", round(mib(max(peaks)), 1), "MiB", 300)
    return verdicts.finish()


if __name__ == "__main__":
    sys.exit(main())
