"""A Dask cluster for the benchmarks of the Dask executor (scenarios 10 and 11): a
``dask scheduler`` and worker processes on loopback, started as a user would (the CLI entry
points of ``distributed``), stopped whatever happens."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

START_S = 60.0


@contextlib.contextmanager
def dask_cluster(root: Path, workers: int = 2, nthreads: int = 8) -> Iterator[str]:
    """Start the cluster in ``root``; yields the scheduler's address."""
    procs: list[subprocess.Popen[bytes]] = []

    def spawn(name: str, *argv: str) -> None:
        with open(root / f"{name}.log", "ab") as log:
            procs.append(
                subprocess.Popen(
                    [sys.executable, "-m", "dask", *argv],
                    cwd=root,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                )
            )

    scheduler_file = root / "scheduler.json"
    try:
        listen = ["--host", "127.0.0.1", "--port", "0", "--no-dashboard"]
        spawn("scheduler", "scheduler", *listen, "--scheduler-file", str(scheduler_file))
        _wait(lambda: scheduler_file.exists() and scheduler_file.stat().st_size > 0, "scheduler")
        address = json.loads(scheduler_file.read_text())["address"]
        plain = ["--no-nanny", "--no-dashboard", "--host", "127.0.0.1"]
        for i in range(workers):
            place = ["--local-directory", str(root / f"w{i}")]
            spawn(f"w{i}", "worker", address, "--nthreads", str(nthreads), *plain, *place)
        for i in range(workers):
            log = root / f"w{i}.log"
            _wait(lambda log=log: b"Registered to:" in log.read_bytes(), f"worker w{i}")
        yield address
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def _wait(condition: object, what: str) -> None:
    deadline = time.monotonic() + START_S
    while True:
        with contextlib.suppress(OSError):
            if condition():  # type: ignore[operator]
                return
        if time.monotonic() > deadline:
            raise TimeoutError(f"the Dask {what} did not start in {START_S:.0f} s")
        time.sleep(0.05)
