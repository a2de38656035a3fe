"""Scenario 7: start-up. ``phaseboard --help`` against ``python -c pass``, same interpreter,
and the console's first frame on a run with 1,000,000 events.

- ``--help``: at most 3x the bare interpreter's start plus 0.2 s, wall time of the subprocess,
  median of rounds that alternate the two. Also reported: ``phaseboard check`` on a bundled
  workflow and the heaviest imports (``python -X importtime``), where a slow start comes from.
- first frame: a fresh interpreter opens ``PhaseboardApp`` headless (``run_test``) on a run
  whose history (written as in ``store_scale.py``) holds 1,000,000 events. Measured from the
  moment the process is started: the first main screen showing the run, and the moment the app
  has folded the whole history (the frame shows the run as it is). Target: the latter under
  1.5 s. A console still folding after 60 s is stopped and the rest projected from its rate.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
import time
from pathlib import Path

from common import (
    ROOT,
    Verdicts,
    interleaved_sync,
    median,
    options,
    phaseboard,
    runs_for,
    spread,
    temp_dir,
)
from store_scale import build_events

FIRST_FRAME = """
import asyncio, json, sys, time
from pathlib import Path
from screens.main import MainScreen
from tui.console.app import PhaseboardApp

def say(**fields):
    print(json.dumps({"t": time.time(), **fields}), flush=True)

async def main(db, run_id, total):
    app = PhaseboardApp(Path(db), run_id)
    async with app.run_test(size=(120, 40)) as pilot:
        shown, said = False, 0.0
        while not (shown and app.state.last_seq >= total):
            if not shown and isinstance(app.screen, MainScreen) and app.state.last_seq:
                shown = True
                say(first=True, seq=app.state.last_seq)
            if time.time() - said > 0.5:
                said = time.time()
                say(seq=app.state.last_seq)
            await asyncio.sleep(0.005)
        await app.workers.wait_for_complete()  # the agent panes of the stage shown, mounted
        await pilot.pause()  # the frame showing it: pending messages handled, screen refreshed
        say(seq=app.state.last_seq, caught=True)

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""
DEADLINE_S = 60.0


def wall(argv: list[str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, capture_output=True, check=False, cwd=ROOT)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"{argv} exited {proc.returncode}: {proc.stderr.decode()[-500:]}")
    return elapsed


def heaviest_imports(count: int = 12) -> list[tuple[float, str]]:
    """The modules ``phaseboard --help`` imports with the largest cumulative import time,
    indented by depth as ``-X importtime`` shows them."""
    code = "import sys; sys.argv = ['phaseboard', '--help']; from tui.cli import main; main()"
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], capture_output=True, cwd=ROOT, check=False
    )
    found = []
    for line in proc.stderr.decode().splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+(\d+) \| (\s*\S+)", line)
        if m:
            found.append((int(m.group(1)) / 1e6, m.group(2)))
    return sorted(found, reverse=True)[:count]


def first_frame(db: Path, run_id: str, total: int, deadline_s: float) -> tuple[float, float, str]:
    """(seconds to the first main screen, seconds until the whole history is folded, note).

    Past ``deadline_s`` the console is stopped and the time to fold everything is projected
    from the rate it had reached.
    """
    start = time.time()
    proc = subprocess.Popen(
        [sys.executable, "-c", FIRST_FRAME, str(db), run_id, str(total)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )
    try:
        out, err = proc.communicate(timeout=deadline_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    said = [json.loads(line) for line in out.decode().splitlines() if line.startswith("{")]
    firsts = [d["t"] - start for d in said if d.get("first")]
    if not firsts:
        raise RuntimeError(f"the console exited {proc.returncode}: {err.decode()[-1500:]}")
    if said[-1].get("caught"):
        return firsts[0], said[-1]["t"] - start, ""
    if proc.returncode != -9:
        raise RuntimeError(f"the console exited {proc.returncode}: {err.decode()[-1500:]}")
    seq, at = said[-1]["seq"], said[-1]["t"] - start
    rate = (seq - said[0]["seq"]) / max(at - firsts[0], 1e-3)
    projected = at + (total - seq) / max(rate, 1e-3)
    return firsts[0], projected, f"(projected: {seq:,} events folded in {at:.0f} s, {rate:,.0f}/s)"


def main() -> int:
    args = options(__doc__, runs=10).parse_args()
    runs = runs_for(args, quick_runs=3)
    verdicts = Verdicts("startup")
    wall([*phaseboard(), "--help"])  # warm the page cache and the bytecode cache
    python, helps, checks = interleaved_sync(
        runs,
        lambda: wall([sys.executable, "-c", "pass"]),
        lambda: wall([*phaseboard(), "--help"]),
        lambda: wall([*phaseboard(), "check", "standard"]),
    )
    print(f"python -c pass: {spread(python)}")
    print(f"phaseboard --help: {spread(helps)}")
    print(f"phaseboard check standard: {spread(checks)}")
    print("heaviest imports of --help (cumulative seconds):")
    for seconds, name in heaviest_imports():
        print(f"  {seconds:.3f} {name}")
    target = 3 * median(python) + 0.2
    print(f"--help is {median(helps) / median(python):.1f}x python -c pass")
    verdicts.absolute("startup phaseboard --help", round(median(helps), 3), "s", round(target, 3))
    deadline = DEADLINE_S / 2 if args.quick else DEADLINE_S
    with temp_dir("first-frame") as tmp:
        db, run_id, total = asyncio.run(build_events(tmp, 100_000 if args.quick else 1_000_000))
        frames, crashes = [], 0
        for _ in range(min(runs, 3)):
            try:
                frames.append(first_frame(db, run_id, total, deadline))
            except RuntimeError as exc:
                crashes += 1
                print(f"console crashed: {str(exc).strip().splitlines()[-1]}")
    for first, caught, note in frames:
        print(
            f"console on {total:,} events: main screen at {first:.2f} s, all folded {caught:.1f} s {note}"
        )
    if frames:
        caught = median([c for _, c, _ in frames])
        verdicts.absolute(f"startup console frame ({total:,} events)", round(caught, 2), "s", 1.5)
    verdicts.absolute("startup console crashes", crashes, "runs", 0)
    return verdicts.finish()


if __name__ == "__main__":
    sys.exit(main())
