"""Scenario 9: stopping 200 agents that each have grandchildren.

Each agent is a shell that starts two grandchildren, a plain ``sleep`` and one that ignores
SIGTERM (so only the SIGKILL after the grace period ends it), and waits. The engine runs as a
subprocess (``phaseboard run --headless``, grace 2 s). Once the whole tree is up (engine, 200
agents, 400 grandchildren), the run is stopped, alternating round by round between
``phaseboard stop RUN`` and SIGINT to the engine. Measured from that moment: when the last
process of the tree is gone (a zombie counts as not gone), and whether any is left as a zombie
after the engine exits. Target: every process gone within grace + 1 s, in every round.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time

import psutil
from common import (
    Verdicts,
    agents_yaml,
    count_events,
    median,
    options,
    phaseboard,
    runs_for,
    start_phaseboard,
    stop_process,
    temp_dir,
    wait_for,
    wait_peak_rss,
)

AGENTS = 200
GRACE_S = 2.0
AGENT = "sleep 600 & (trap '' TERM; exec sleep 600) & echo started; wait"


def tree(pid: int) -> list[psutil.Process]:
    with contextlib.suppress(psutil.NoSuchProcess):
        return psutil.Process(pid).children(recursive=True)
    return []


def alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    """Processes still there, zombies included (``is_running`` also checks the start time)."""
    return [p for p in procs if p.is_running()]


def one_round(how: str) -> tuple[float, int]:
    """(seconds from the stop until the tree is gone, zombies left)."""
    run = f'["/bin/sh", "-c", "{AGENT}"]'
    yaml = agents_yaml([[run] * AGENTS], defaults=f"{{retries: 0, timeout: 900, grace: {GRACE_S}}}")
    with temp_dir("cancel") as tmp:
        wf, ws = tmp / "wf.yaml", tmp / "ws"
        wf.write_text(yaml)
        ws.mkdir()
        proc = start_phaseboard(
            ["run", str(wf), "--headless", "--workspace", str(ws)], tmp, tmp / "log"
        )
        procs: list[psutil.Process] = []
        try:
            db = ws / ".phaseboard" / "phaseboard.db"
            wait_for(lambda: count_events(db, "attempt_started") >= AGENTS, 120, "agents to start")
            wait_for(lambda: len(tree(proc.pid)) >= 3 * AGENTS, 60, "grandchildren to start")
            procs = tree(proc.pid)
            start = time.monotonic()
            if how == "stop":
                subprocess.run(
                    [*phaseboard(), "stop", "last", "--db", str(db)],
                    capture_output=True,
                    check=True,
                )
            else:
                proc.send_signal(signal.SIGINT)
            gone, remaining = float("inf"), procs
            while time.monotonic() - start < GRACE_S + 10:
                remaining = alive(remaining)
                if not remaining:
                    gone = time.monotonic() - start
                    break
                time.sleep(0.02)
            code, _ = wait_peak_rss(proc, 60)
            time.sleep(0.5)
            left = len(alive(procs))
            if code != 130:
                raise RuntimeError(f"engine exited {code} after {how}, expected 130")
        finally:
            stop_process(proc)
            for p in alive(procs):
                with contextlib.suppress(psutil.NoSuchProcess):
                    p.kill()
    return gone, left


def main() -> int:
    args = options(__doc__).parse_args()
    runs = runs_for(args, quick_runs=2)
    verdicts = Verdicts("cancel")
    times: list[float] = []
    left: list[int] = []
    for i in range(runs):
        how = "stop" if i % 2 == 0 else "SIGINT"
        seconds, remaining = one_round(how)
        times.append(seconds)
        left.append(remaining)
        print(
            f"round {i + 1} ({how}): tree gone {seconds:.2f} s after the request, {remaining} left"
        )
    print(f"request to gone: median {median(times):.2f} s, worst {max(times):.2f} s")
    worst = round(max(times), 2)
    verdicts.absolute(f"cancel {AGENTS} agents worst time to gone", worst, "s", GRACE_S + 1)
    verdicts.absolute("cancel processes left (zombies included)", max(left), "processes", 0)
    return verdicts.finish()


if __name__ == "__main__":
    sys.exit(main())
