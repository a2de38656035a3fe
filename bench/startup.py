"""Scenario 7: start-up. ``phaseboard --help`` against ``python -c pass``, same interpreter,
and the console's first frame on a run with 1,000,000 events.

- ``--help``: at most 3x the bare interpreter's start plus 0.2 s, wall time of the subprocess,
  median of rounds that alternate the two. Also reported: ``phaseboard check`` on a bundled
  workflow and the heaviest imports (``python -X importtime``), where a slow start comes from.
- first frame: a fresh interpreter opens ``PhaseboardApp`` headless (``run_test``) on a run
  whose history (written as in ``store_scale.py``) holds 1,000,000 events. Measured from the
  moment the process is started: the first main screen showing the run, and the moment the app
  has folded the whole history (the frame shows the run as it is). Target: the latter under
  1.5 s.
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
from tui.app import PhaseboardApp

async def main(db, run_id, total):
    app = PhaseboardApp(Path(db), run_id)
    first = None
    async with app.run_test(size=(120, 40)) as pilot:
        while app.state.last_seq < total:
            if first is None and isinstance(app.screen, MainScreen) and app.state.last_seq:
                first = time.time()
            await asyncio.sleep(0.005)
        caught = time.time()
        first = first or caught
    print(json.dumps({"first": first, "caught": caught}))

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""


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


def first_frame(db: Path, run_id: str, total: int) -> tuple[float, float]:
    """(seconds to the first main screen, seconds until the whole history is folded)."""
    start = time.time()
    proc = subprocess.run(
        [sys.executable, "-c", FIRST_FRAME, str(db), run_id, str(total)],
        capture_output=True,
        cwd=ROOT,
        check=False,
        timeout=600,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"the console exited {proc.returncode}: {proc.stderr.decode()[-1500:]}")
    found = json.loads(proc.stdout.decode().strip().splitlines()[-1])
    return found["first"] - start, found["caught"] - start


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
    with temp_dir("first-frame") as tmp:
        db, run_id, total = asyncio.run(build_events(tmp, 100_000 if args.quick else 1_000_000))
        frames, crashes = [], 0
        for _ in range(min(runs, 5)):
            try:
                frames.append(first_frame(db, run_id, total))
            except RuntimeError as exc:
                crashes += 1
                print(f"console crashed: {str(exc).strip().splitlines()[-1]}")
    if frames:
        firsts, caught = [f for f, _ in frames], [c for _, c in frames]
        print(
            f"console on {total:,} events: first main screen {spread(firsts)}, whole run {spread(caught)}"
        )
        verdicts.absolute(
            f"startup console frame ({total:,} events)", round(median(caught), 3), "s", 1.5
        )
    verdicts.absolute("startup console crashes", crashes, "runs", 0)
    return verdicts.finish()


if __name__ == "__main__":
    sys.exit(main())
