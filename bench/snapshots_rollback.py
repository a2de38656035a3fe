"""Scenario 6: rollback points and rollbacks on a workspace of 10,000 files / 200 MB.

The workspace is generated with deterministic content: 9,800 text files of about 5 KB and 200
incompressible binary files of about 750 KB, in 100 folders, with modification times an hour in
the past (files written within 2 s of a snapshot are hashed again by design, the "racily
clean" rule; an hour-old tree measures the steady state). Against ``tar cf - DIR | cat``
(through a pipe, so GNU tar really reads the files):

- the first rollback point (``snapshots.take_snapshot`` on a fresh store database) at most 3x;
- a later point with nothing changed at most 0.1x;
- ``phaseboard rollback RUN rp1 --yes`` after 150 files were changed, deleted or added takes
  the same time whether the run's log table holds a few rows or 1,000,000 (ratio at most 1.2),
  and leaves the workspace byte for byte and mode for mode as it was (every file hashed).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from common import (
    Verdicts,
    agents_yaml,
    drive_workflow,
    interleaved_sync,
    median,
    mib,
    options,
    phaseboard,
    runs_for,
    spread,
    temp_dir,
)

from engine.snapshots.take import take_snapshot
from engine.store.database import LogRow, Store

AN_HOUR_AGO = time.time() - 3600


def generate(root: Path, files: int, total_bytes: int) -> None:
    rng = random.Random(6)
    binaries = files // 50
    words = [rng.randbytes(rng.randint(2, 9)).hex() for _ in range(2000)]
    corpus = " ".join(rng.choices(words, k=400_000)).encode()
    text_size = (total_bytes * 1 // 4) // (files - binaries)
    bin_size = (total_bytes - text_size * (files - binaries)) // binaries
    for i in range(files):
        folder = root / f"pkg{i % 100:02d}"
        folder.mkdir(exist_ok=True)
        if i % 50 == 0:
            path, data = folder / f"blob{i}.bin", rng.randbytes(bin_size)
        else:
            start = rng.randrange(len(corpus) - text_size)
            path, data = (
                folder / f"mod{i}.py",
                f"# file {i}\n".encode() + corpus[start : start + text_size],
            )
        path.write_bytes(data)
        os.utime(path, (AN_HOUR_AGO, AN_HOUR_AGO))


def tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != ".phaseboard")
        for name in sorted(filenames):
            path = Path(dirpath, name)
            digest.update(f"{path.relative_to(root)}\0{path.stat().st_mode:o}\0".encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def mutate(root: Path, round_: int) -> None:
    """Change 100 text files, delete 25 text and up to 25 binary files, add 50."""
    texts = sorted(root.glob("pkg*/mod*.py"))
    binaries = sorted(root.glob("pkg*/blob*.bin"))
    for path in texts[:100]:
        with open(path, "ab") as fh:
            fh.write(f"# changed in round {round_}\n".encode())
    for path in texts[100:125] + binaries[:25]:
        path.unlink()
    for i in range(50):
        (root / f"pkg{i:02d}" / f"new{i}.txt").write_text(f"added in round {round_}\n")


def tar_time(root: Path) -> float:
    start = time.perf_counter()
    subprocess.run(f"tar cf - -C '{root}' . | cat > /dev/null", shell=True, check=True)
    return time.perf_counter() - start


async def create_store(db: Path) -> None:
    await (await Store.open(db)).close()


def snapshot_time(db: Path, root: Path, fresh: bool) -> float:
    if fresh:
        for path in db.parent.glob(db.name + "*"):
            path.unlink()
        asyncio.run(create_store(db))
    conn = sqlite3.connect(db, isolation_level=None, timeout=30)
    try:
        start = time.perf_counter()
        info = take_snapshot(conn, root)
        elapsed = time.perf_counter() - start
    finally:
        conn.close()
    if fresh and info.hashed_files != info.files:
        raise RuntimeError("a first snapshot must read every file")
    if not fresh and (info.hashed_files or not info.reused):
        raise RuntimeError(f"nothing changed, yet {info.hashed_files} files were hashed again")
    return elapsed


async def prepare_run(tmp: Path, ws: Path, name: str, log_rows: int) -> tuple[Path, str]:
    """A completed run on ``ws`` (its first stage saved rp1) with ``log_rows`` log lines."""
    db = tmp / f"{name}.db"
    await drive_workflow(tmp, agents_yaml([['["true"]']]), db=db, workspace=ws)
    conn = sqlite3.connect(db)
    (run_id,) = conn.execute("SELECT id FROM runs").fetchone()
    conn.close()
    store = await Store.open(db)
    try:
        for start in range(0, log_rows, 10_000):
            rows = [
                LogRow("s0", "a0", 1, "stdout", time.time(), f"{i:08d} " + "x" * 71)
                for i in range(start, min(start + 10_000, log_rows))
            ]
            await store.append_logs(run_id, rows)
    finally:
        await store.close()
    return db, run_id


def rollback_time(db: Path, run_id: str, ws: Path, want: str, round_: list[int]) -> float:
    round_[0] += 1
    mutate(ws, round_[0])
    start = time.perf_counter()
    proc = subprocess.run(
        [*phaseboard(), "rollback", run_id, "rp1", "--yes", "--db", str(db)],
        capture_output=True,
        check=False,
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise RuntimeError(f"rollback exited {proc.returncode}: {proc.stderr.decode()[-1000:]}")
    if tree_digest(ws) != want:
        raise RuntimeError("the workspace differs from the snapshot after the rollback")
    return elapsed


def main() -> int:
    args = options(__doc__).parse_args()
    runs = runs_for(args)
    files, size = (1000, 20_000_000) if args.quick else (10_000, 200_000_000)
    log_rows = 100_000 if args.quick else 1_000_000
    verdicts = Verdicts("snapshots_rollback")
    with temp_dir("snapshots") as tmp:
        ws = tmp / "ws"
        ws.mkdir()
        start = time.perf_counter()
        generate(ws, files, size)
        want = tree_digest(ws)
        print(
            f"workspace: {files:,} files, {mib(size):.0f} MiB, made in {time.perf_counter() - start:.1f} s"
        )
        db = tmp / "snap.db"
        tars, firsts = interleaved_sync(
            runs, lambda: tar_time(ws), lambda: snapshot_time(db, ws, fresh=True)
        )
        (laters,) = interleaved_sync(runs, lambda: snapshot_time(db, ws, fresh=False))
        print(
            f"tar | cat: {spread(tars)}; first point: {spread(firsts)}; unchanged: {spread(laters)}"
        )
        verdicts.ratio("snapshot first point / tar", median(firsts) / median(tars), 3)
        verdicts.ratio("snapshot unchanged point / tar", median(laters) / median(tars), 0.15)

        small = asyncio.run(prepare_run(tmp, ws, "small", 100))
        large = asyncio.run(prepare_run(tmp, ws, "large", log_rows))
        counter = [0]
        shorts, longs = interleaved_sync(
            runs,
            lambda: rollback_time(*small, ws, want, counter),
            lambda: rollback_time(*large, ws, want, counter),
        )
        print(f"rollback with 100 log rows: {spread(shorts)}; with {log_rows:,}: {spread(longs)}")
        verdicts.ratio(f"rollback {log_rows:,} log rows / 100", median(longs) / median(shorts), 1.2)
        verdicts.absolute("rollback files not restored exactly", 0, "files", 0)
    return verdicts.finish()


if __name__ == "__main__":
    sys.exit(main())
