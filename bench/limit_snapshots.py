"""Lower bounds for scenario 6: what any rollback point must at least do, against tar.

An unchanged point must at least look at every file (``find -printf`` in C, ``scandir`` with one
``lstat`` each in Python); a first point must at least read and hash every file. Each is printed
as a ratio to ``tar cf - DIR | cat > /dev/null`` over the benchmark's workspace, beside
phaseboard's own unchanged point. Not a scenario of ``make bench``: it has no target; it shows
where scenario 6's targets lie against what the machine can do (docs/performance.md).

    python bench/limit_snapshots.py [--runs N] [--quick]
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from common import interleaved_sync, median, mib, options, runs_for, temp_dir
from snapshots_rollback import generate, snapshot_time, tar_time


def files_under(root: str) -> Iterator[os.DirEntry[str]]:
    stack = [root]
    while stack:
        with os.scandir(stack.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    yield entry


def lstat_all(root: Path) -> float:
    start = time.perf_counter()
    for entry in files_under(str(root)):
        entry.stat(follow_symlinks=False)
    return time.perf_counter() - start


def find_all(root: Path) -> float:
    start = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        subprocess.run(["find", str(root), "-printf", "%p %s %T@ %i\\n"], stdout=sink, check=True)
    return time.perf_counter() - start


def read_and_hash(root: Path) -> float:
    start = time.perf_counter()
    for entry in files_under(str(root)):
        with open(entry.path, "rb") as f:
            hashlib.blake2b(f.read()).digest()
    return time.perf_counter() - start


def main() -> int:
    args = options(__doc__).parse_args()
    runs = runs_for(args)
    files, size = (1000, 20_000_000) if args.quick else (10_000, 200_000_000)
    with temp_dir("snapshot-limits") as tmp:
        ws = tmp / "ws"
        ws.mkdir()
        generate(ws, files, size)
        db = tmp / "snap.db"
        snapshot_time(db, ws, fresh=True)
        measures: dict[str, Callable[[], float]] = {
            "tar cf - DIR | cat > /dev/null": lambda: tar_time(ws),
            "find DIR -printf '%p %s %T@ %i' (C)": lambda: find_all(ws),
            "scandir + one lstat per file (Python)": lambda: lstat_all(ws),
            "read and BLAKE2b-hash every file (Python)": lambda: read_and_hash(ws),
            "phaseboard, unchanged point": lambda: snapshot_time(db, ws, fresh=False),
        }
        times = interleaved_sync(runs, *measures.values())
        print(f"workspace: {files:,} files, {mib(size):.0f} MiB; median of {runs} runs")
        tar = median(times[0])
        for name, values in zip(measures, times, strict=True):
            print(f"{name:45} {median(values) * 1000:8.1f} ms  {median(values) / tar:6.3f} x tar")
    return 0


if __name__ == "__main__":
    sys.exit(main())
