"""Shared helpers for the benchmarks: options, medians, verdict lines, runs in-process and as
subprocesses, and peak memory of a subprocess.

Every scenario script prints its figures, one verdict line per check, and as its last line the
verdict of its worst check, in the form ``bench/run_all.py`` collects:
``NAME: ratio X (target Y) PASS|FAIL`` or ``NAME: X UNIT (target Y) PASS|FAIL``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def options(doc: str | None, **defaults: Any) -> argparse.ArgumentParser:
    """The options every scenario takes: ``--runs N`` and ``--quick`` (a fast smoke run)."""
    p = argparse.ArgumentParser(description=(doc or "").strip().splitlines()[0])
    p.add_argument("--runs", type=int, default=defaults.get("runs", 5), help="median of N runs")
    p.add_argument("--quick", action="store_true", help="smaller scenarios, fewer runs")
    return p


def runs_for(args: argparse.Namespace, quick_runs: int = 1) -> int:
    """``--runs`` as given, or ``quick_runs`` under ``--quick`` unless ``--runs`` was passed."""
    if args.quick and "--runs" not in sys.argv:
        return quick_runs
    return max(1, args.runs)


def median(values: list[float]) -> float:
    return statistics.median(values)


def spread(values: list[float], unit: str = "s") -> str:
    """``median (min-max, n=N)`` for the figures printed above a verdict."""
    return f"{median(values):.3f}{unit} ({min(values):.3f}-{max(values):.3f}, n={len(values)})"


async def interleaved(runs: int, *fns: Callable[[], Awaitable[float]]) -> list[list[float]]:
    """Run each measurement once per round, round after round, so load from other work on
    the machine falls on the baseline and on phaseboard alike. One list of values per fn."""
    values: list[list[float]] = [[] for _ in fns]
    for _ in range(runs):
        for i, fn in enumerate(fns):
            values[i].append(await fn())
    return values


def interleaved_sync(runs: int, *fns: Callable[[], float]) -> list[list[float]]:
    values: list[list[float]] = [[] for _ in fns]
    for _ in range(runs):
        for i, fn in enumerate(fns):
            values[i].append(fn())
    return values


@dataclass
class Check:
    name: str
    value: float
    target: float
    unit: str | None
    """None for a ratio."""

    @property
    def passed(self) -> bool:
        return self.value <= self.target

    @property
    def line(self) -> str:
        ratio = f"{self.value:.3f}" if self.value < 10 else f"{self.value:.1f}"
        figure = f"ratio {ratio}" if self.unit is None else f"{_fmt(self.value)} {self.unit}"
        return f"{self.name}: {figure} (target {_fmt(self.target)}) {'PASS' if self.passed else 'FAIL'}"


def _fmt(value: float) -> str:
    if value == int(value) and abs(value) >= 1:
        return str(int(value))
    return f"{value:.3g}" if abs(value) < 10 else f"{value:.1f}"


class Verdicts:
    """The checks of one scenario script; :meth:`finish` prints the last line, gives the exit code."""

    def __init__(self, scenario: str) -> None:
        self.scenario = scenario
        self.checks: list[Check] = []

    def ratio(self, name: str, value: float, target: float) -> Check:
        return self._add(Check(name, value, target, None))

    def absolute(self, name: str, value: float, unit: str, target: float) -> Check:
        return self._add(Check(name, value, target, unit))

    def _add(self, check: Check) -> Check:
        self.checks.append(check)
        print(check.line, flush=True)
        return check

    def finish(self) -> int:
        if not self.checks:
            print(f"{self.scenario}: 0 checks (target 1) FAIL")
            return 1
        failed = [c for c in self.checks if not c.passed]
        worst = max(self.checks, key=lambda c: c.value / c.target if c.target else c.value)
        print(f"{len(self.checks)} checks, {len(failed)} failed; worst: {worst.name}")
        last = Check(self.scenario, worst.value, worst.target, worst.unit)
        line = last.line
        if failed and last.passed:  # a zero-target check failed while the worst quotient passed
            line = line.rsplit(" ", 1)[0] + " FAIL"
        print(line, flush=True)
        return 1 if failed else 0


class PeakRss:
    """Samples this process's resident memory every 10 ms in a thread; ``growth`` is the peak
    over the value when sampling started."""

    def __init__(self) -> None:
        import psutil

        self._proc = psutil.Process()
        self.start = self.peak = self._proc.memory_info().rss
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._done.wait(0.01):
            self.peak = max(self.peak, self._proc.memory_info().rss)

    @property
    def growth(self) -> int:
        return self.peak - self.start


@contextlib.contextmanager
def temp_dir(tag: str) -> Iterator[Path]:
    """A scratch folder under the system temp dir, removed afterwards whatever happens."""
    path = Path(tempfile.mkdtemp(prefix=f"phaseboard-bench-{tag}-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def describe_filesystem(path: Path) -> str:
    """The filesystem ``path`` lies on, as ``TYPE on DEVICE`` plus, for ext4, whether it has a
    journal: without one, ext4 skips every inode freed in the last 60 s when it creates a file,
    one lookup each, so creating files right after removing many costs several times more."""
    best: tuple[int, str, str] = (-1, "?", "?")
    try:
        mounts = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return "unknown filesystem"
    target = str(path.resolve())
    for line in mounts:
        fields, _, rest = line.partition(" - ")
        mount_point = fields.split()[4]
        inside = target == mount_point or target.startswith(mount_point.rstrip("/") + "/")
        if inside and len(mount_point) > best[0]:
            fstype, device = rest.split()[:2]
            best = (len(mount_point), fstype, device)
    _, fstype, device = best
    text = f"{fstype} on {device}"
    if fstype == "ext4":
        with contextlib.suppress(OSError):
            options = Path(f"/proc/fs/ext4/{Path(device).name}/options").read_text().split()
            text += ", journal" if any(o.startswith("data=") for o in options) else ", no journal"
    return text


def agents_yaml(
    stages: list[list[str]],
    *,
    defaults: str = "{retries: 0, timeout: 600}",
    max_parallel: int | None = None,
    output: str = "json",
) -> str:
    """A workflow of agents stages; each stage is a list of flow-style ``run:`` values."""
    limit = f"    max_parallel: {max_parallel}\n" if max_parallel else ""
    body = []
    for s, runs in enumerate(stages):
        agents = "\n".join(
            f"      - {{id: a{i}, output: {output}, run: {run}}}" for i, run in enumerate(runs)
        )
        body.append(
            f"  - id: s{s}\n    kind: agents\n    mode: parallel\n{limit}    agents:\n{agents}"
        )
    return f"version: 1\nname: bench\ndefaults: {defaults}\nstages:\n" + "\n".join(body) + "\n"


async def new_run(
    workspace: Path, yaml_text: str, db: Path | None = None, executor: dict[str, str] | None = None
) -> tuple[Path, str]:
    """Write the workflow beside the workspace, create a run of it (on ``executor``, as
    ``RunCreated`` records it: None for the local one); returns (db path, run id)."""
    from engine.run.runs import create_run
    from engine.store.database import Store
    from engine.store.location import default_db
    from engine.workflow.loader import parse_workflow

    workspace.mkdir(parents=True, exist_ok=True)
    wf_path = workspace.parent / "wf.yaml"
    wf_path.write_text(yaml_text)
    workflow = parse_workflow(yaml_text, str(wf_path))
    db = db or default_db(workspace)
    store = await Store.open(db)
    try:
        run_id = await create_run(
            store,
            workflow=workflow,
            workflow_path=wf_path,
            workflow_text=yaml_text,
            workspace=workspace,
            params=dict(workflow.params),
            executor=executor,
        )
    finally:
        await store.close()
    return db, run_id


async def drive_workflow(
    tmp: Path,
    yaml_text: str,
    db: Path | None = None,
    workspace: Path | None = None,
    executor: dict[str, str] | None = None,
) -> tuple[float, Any]:
    """Create a run of ``yaml_text`` on ``workspace`` (default ``tmp/ws``), drive it in this process
    (on ``executor``, as a run records it: None for a ``LocalExecutor``).

    Returns (seconds spent in ``Engine.drive``, the final state).
    """
    from engine.execution.local_executor import LocalExecutor
    from engine.run.engine import Engine
    from engine.run.session import RunSession
    from engine.store.database import Store

    db, run_id = await new_run(workspace or tmp / "ws", yaml_text, db, executor)
    store = await Store.open(db)
    try:
        engine = await Engine.open(store, run_id, None if executor else LocalExecutor())
        start = time.perf_counter()
        await engine.drive()
        elapsed = time.perf_counter() - start
        state = (await RunSession.load(store, run_id)).state
    finally:
        await store.close()
    return elapsed, state


def phaseboard() -> list[str]:
    """The installed ``phaseboard`` command of this interpreter's environment."""
    script = Path(sys.executable).parent / "phaseboard"
    return [str(script)] if script.exists() else [sys.executable, "-m", "tui.cli"]


def start_phaseboard(args: list[str], cwd: Path, log: Path) -> subprocess.Popen[bytes]:
    """``phaseboard ARGS`` as a subprocess with its output in ``log``."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    with open(log, "ab") as out:
        return subprocess.Popen(
            [*phaseboard(), *args],
            cwd=cwd,
            stdout=out,
            stderr=out,
            stdin=subprocess.DEVNULL,
            env=env,
        )


def wait_peak_rss(proc: subprocess.Popen[bytes], timeout_s: float) -> tuple[int, int]:
    """Wait for ``proc``; returns (exit code, its peak resident memory in bytes).

    The peak is the kernel's high-water mark of the process's own memory (``VmHWM`` in
    ``/proc/PID/status``), read every 10 ms until it exits: it never goes down, so a brief peak
    is caught unless it falls in the last 10 ms. Not ``wait4``'s ``ru_maxrss``: a child forked
    from this process starts with this process's memory counted in it, so that figure would
    grow with whatever the benchmark itself holds.
    """
    deadline = time.monotonic() + timeout_s
    peak = 0
    while True:
        with contextlib.suppress(OSError, ValueError), open(f"/proc/{proc.pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    peak = max(peak, int(line.split()[1]) * 1024)
        pid, code, _ = os.wait4(proc.pid, os.WNOHANG)
        if pid == proc.pid:
            proc.returncode = os.waitstatus_to_exitcode(code)
            return proc.returncode, peak
        if time.monotonic() > deadline:
            proc.kill()
            raise TimeoutError(f"{proc.args} still running after {timeout_s:.0f} s")
        time.sleep(0.01)


def stop_process(proc: subprocess.Popen[bytes]) -> None:
    """Last-resort cleanup of a subprocess a scenario started (SIGKILL if still running)."""
    if proc.poll() is None:
        proc.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(5)


def wait_for(
    condition: Callable[[], bool], timeout_s: float, what: str, poll_s: float = 0.05
) -> float:
    """Poll ``condition`` until true; returns the seconds it took, raises past ``timeout_s``."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout_s:
            raise TimeoutError(f"gave up waiting for {what} after {timeout_s:.0f} s")
        time.sleep(poll_s)
    return time.monotonic() - start


def count_events(db: Path, kind: str) -> int:
    """Events of ``kind`` in the database, read with a plain connection (WAL: no blocking)."""
    import sqlite3

    if not db.exists():
        return 0
    try:
        conn = sqlite3.connect(db, timeout=30)
        try:
            row = conn.execute("SELECT COUNT(*) FROM events WHERE kind = ?", (kind,)).fetchone()
        finally:
            conn.close()
    except sqlite3.OperationalError:  # not created yet
        return 0
    return int(row[0])


def mib(n_bytes: float) -> float:
    return n_bytes / 2**20
