"""A real Dask cluster for the tests that need one: a ``dask scheduler`` and two ``dask worker``
processes (the CLI entry points of ``distributed``) on loopback, on random ports, started once
per test session and shared (tests/dask/test_dask_cluster.py). Workers run without a nanny, so
a test can kill one for good, and declare the resources agents ask for."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

START_S = 60.0
RESOURCES = "memory_mb=4096 cpu_percent=100"
CONNECT_TIMEOUT = "1s"
"""How long a client (the engine) tries to reach the scheduler: a run whose scheduler went away
pauses this soon."""


def dask_env() -> dict[str, str]:
    env = {**os.environ, "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": CONNECT_TIMEOUT}
    env.pop("PHASEBOARD_DASK_SCHEDULER", None)
    return env


@dataclass
class Cluster:
    root: Path
    address: str = ""
    port: int = 0
    scheduler: subprocess.Popen[bytes] | None = None
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    started_workers: int = 0

    def start_scheduler(self, *, wait_ready: bool = True) -> None:
        """Start the scheduler, on a random port the first time, then on the same one."""
        scheduler_file = self.root / "scheduler.json"
        scheduler_file.unlink(missing_ok=True)
        argv = ["scheduler", "--host", "127.0.0.1", "--port", str(self.port)]
        argv += ["--scheduler-file", str(scheduler_file), "--no-dashboard"]
        self.scheduler = self._spawn(argv, "scheduler")
        if not wait_ready:
            return
        wait(lambda: scheduler_file.exists() and scheduler_file.stat().st_size, "the scheduler")
        self.address = json.loads(scheduler_file.read_text())["address"]
        self.port = int(self.address.rsplit(":", 1)[1])

    def start_workers(self, count: int) -> None:
        """Start ``count`` workers (a scheduler that is starting is waited for), and wait until
        each has registered."""
        logs = []
        for _ in range(count):
            self.started_workers += 1
            name = f"w{self.started_workers}"
            argv = ["worker", self.address, "--name", name, "--nthreads", "4", "--no-nanny"]
            argv += ["--no-dashboard", "--host", "127.0.0.1", "--resources", RESOURCES]
            argv += ["--local-directory", str(self.root / name)]
            self.workers.append(self._spawn(argv, name))
            logs.append(self.root / f"{name}.log")
        for log in logs:
            wait(lambda log=log: b"Registered to:" in log.read_bytes(), f"worker {log.stem}")

    def kill_scheduler(self) -> None:
        assert self.scheduler is not None
        self.scheduler.send_signal(signal.SIGKILL)
        self.scheduler.wait(10)

    def live_workers(self) -> list[subprocess.Popen[bytes]]:
        return [w for w in self.workers if w.poll() is None]

    def stop(self) -> None:
        for proc in [*self.workers, self.scheduler]:
            if proc is not None and proc.poll() is None:
                proc.terminate()
        for proc in [*self.workers, self.scheduler]:
            if proc is not None:
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()

    def _spawn(self, argv: list[str], name: str) -> subprocess.Popen[bytes]:
        with open(self.root / f"{name}.log", "ab") as log:
            return subprocess.Popen(
                [sys.executable, "-m", "dask", *argv],
                cwd=self.root,
                env=dask_env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
            )


def wait(condition: object, what: str, timeout: float = START_S) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if condition():  # type: ignore[operator]
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.02)


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    pytest.importorskip("distributed")
    found = Cluster(tmp_path_factory.mktemp("dask"))
    try:
        found.start_scheduler()
        found.start_workers(2)
        yield found
    finally:
        found.stop()
