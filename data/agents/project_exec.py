"""Running the analysed project's own code (tests, imports, entry points), always bounded.

Each command runs in its own process group and the whole group is stopped at the timeout; the
project's code never writes bytecode into the workspace and never sees phaseboard's variables.
"""

from __future__ import annotations

import collections
import contextlib
import importlib.util
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from repo_scan import Repo, is_test_file

TEST_DEPTH_ENV = "PHASEBOARD_TEST_DEPTH"
"""How many test runs of bundled agents enclose this one; stops a suite that runs itself looping."""


@dataclass
class Completed:
    argv: list[str]
    returncode: int | None
    stdout: str
    stderr: str
    duration_s: float
    timed_out: bool


def child_env(repo: Repo, extra_path: bool = True) -> dict[str, str]:
    """Environment for running the project's code: no bytecode left in the workspace, none of
    phaseboard's own variables; with ``extra_path`` the source roots importable without an
    install (test runs set up their own path, as ``python -m pytest`` does)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHASEBOARD_")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env[TEST_DEPTH_ENV] = str(test_depth() + 1)
    if extra_path:
        paths = [*repo.python_roots, env.get("PYTHONPATH", "")]
        env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    return env


def test_depth() -> int:
    value = os.environ.get(TEST_DEPTH_ENV, "0")
    return int(value) if value.isdigit() else 0


def run_bounded(
    argv: list[str], cwd: Path, timeout: float, env: dict[str, str] | None = None
) -> Completed:
    """Run a command in its own process group; stop the whole group when ``timeout`` passes."""
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,
        )
    except OSError as exc:
        return Completed(argv, None, "", str(exc), 0.0, False)
    timed_out = False
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(proc.pid)
        try:
            out, err = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            out, err = "", ""
    return Completed(
        argv, proc.returncode, out, err, round(time.monotonic() - started, 3), timed_out
    )


def run_streaming(
    argv: list[str],
    cwd: Path,
    timeout: float,
    env: dict[str, str] | None,
    on_line: Callable[[str], None],
    on_tick: Callable[[], None] | None = None,
    tick_s: float = 1.0,
    keep_lines: int = 200,
) -> Completed:
    """Run a command like :func:`run_bounded`, handing each output line to ``on_line`` as it is
    printed, so that what a suite reported before its timeout is not lost with the process.

    stderr is merged into stdout (unittest and cargo report on stderr) and only the last
    ``keep_lines`` lines are kept, as ``stdout``: a long suite's output is parsed as it goes, never
    held whole. ``on_tick`` is called from this thread about every ``tick_s`` seconds while the
    command runs (for progress lines); ``on_line`` is called from a reader thread.
    """
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,
        )
    except OSError as exc:
        return Completed(argv, None, "", str(exc), 0.0, False)
    tail: collections.deque[str] = collections.deque(maxlen=keep_lines)
    lock = threading.Lock()

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            line = line.rstrip("\r\n")
            with lock:
                tail.append(line)
                on_line(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = started + timeout
    timed_out = False
    while True:
        try:
            proc.wait(timeout=max(0.0, min(tick_s, deadline - time.monotonic())))
            break
        except subprocess.TimeoutExpired:
            if time.monotonic() >= deadline:
                timed_out = True
                _kill_group(proc.pid)
                break
            if on_tick is not None:
                on_tick()
    reader.join(timeout=2)
    if reader.is_alive():  # what the command left running in its group still holds the pipe
        _kill_group(proc.pid)
        reader.join(timeout=3)
    if timed_out:
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
    duration = round(time.monotonic() - started, 3)
    with lock:
        text = "\n".join(tail)
    return Completed(argv, proc.returncode, text, "", duration, timed_out)


def _kill_group(pgid: int) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        time.sleep(0.2)


def has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


IMPORT_PROBE = """
import importlib, sys, time
started = time.process_time()
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except Exception:
        if name == sys.argv[1]:
            raise
print(time.process_time() - started)
"""
MAX_PROBED_MODULES = 30


def import_times(repo: Repo, packages: list[str], timeout: float = 20.0) -> dict[str, float]:
    """CPU seconds to import each package and its modules in a fresh interpreter: the
    performance baseline. CPU time, not wall time, so a busy machine (the test suite running
    beside it) does not look like a slowdown. ``__main__`` and test modules are left out."""
    times: dict[str, float] = {}
    for name in packages:
        modules = [
            module
            for module, rel in sorted(repo.python_modules.items())
            if (module == name or module.startswith(name + "."))
            and not module.endswith("__main__")
            and not is_test_file(rel)
        ]
        argv = [sys.executable, "-c", IMPORT_PROBE, name, *modules[:MAX_PROBED_MODULES]]
        done = run_bounded(argv, repo.root, timeout, child_env(repo))
        value = _last_float(done.stdout) if done.returncode == 0 else None
        if value is not None:
            times[name] = round(value, 4)
    return times


def _last_float(text: str) -> float | None:
    try:
        return float(text.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None
