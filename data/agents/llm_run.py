"""Running one LLM CLI call for the adapter: without a shell, stdin closed, its output read as it
comes (each stdout line handed to the dialect's reader, which turns it into progress lines), a
heartbeat while it is silent, our own timeout, and a cap on the steps it takes where the CLI has
none of its own. Standard library only.
"""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Protocol

import agentlib
from llm_common import EX_EXHAUSTED, EX_TIMEOUT, AgentError, Reply, one_line

DRAIN_S = 5.0
MAX_STDOUT_BYTES = 64 * 1024 * 1024
STDERR_KEPT = 200
"""Lines of stderr kept for the reader (a CLI may print its error as pretty JSON there)."""


class Reader(Protocol):
    """A dialect's reading of one call's output."""

    steps: int
    """Tool calls, commands and file changes seen so far (what the step cap counts)."""

    def line(self, text: str) -> list[str]:
        """One stdout line, as it comes (stream mode): the progress lines it makes."""
        ...

    def reply(self, stdout: str, stderr: str, returncode: int | None) -> Reply:
        """What the call came to, once it has ended (stdout is whole unless streamed)."""
        ...


@dataclass
class Call:
    returncode: int | None
    stdout: str
    """All of stdout without stream mode; its last lines with it."""
    stderr: str
    """Its last lines."""
    stderr_tail: list[str] = field(default_factory=list)


def _pump(stream: IO[bytes], name: str, sink: queue.Queue[tuple[str, bytes | None]]) -> None:
    for raw in iter(stream.readline, b""):
        sink.put((name, raw))
    sink.put((name, None))


def run_cli(
    command: list[str],
    reader: Reader,
    *,
    cwd: Path,
    stream: bool,
    timeout_s: float,
    heartbeat_s: float,
    max_steps: int = 0,
) -> Call:
    """Run the CLI, echoing progress, until it exits (and its pipes drain) or ``timeout_s``;
    with ``max_steps``, stop it once it has taken more steps than that (exit 75)."""
    name = Path(command[0]).name
    proc = subprocess.Popen(
        command, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    sink: queue.Queue[tuple[str, bytes | None]] = queue.Queue()
    assert proc.stdout is not None and proc.stderr is not None
    for pipe, which in ((proc.stdout, "stdout"), (proc.stderr, "stderr")):
        threading.Thread(target=_pump, args=(pipe, which, sink), daemon=True).start()
    started = last_shown = time.monotonic()
    exited_at: float | None = None
    open_streams, stdout_size = 2, 0
    stdout: list[str] = []
    stderr: list[str] = []
    while open_streams:
        now = time.monotonic()
        if now - started >= timeout_s:
            stop(proc)
            raise AgentError(f"{command[0]} gave no answer within {timeout_s:g}s", EX_TIMEOUT)
        if exited_at is None and proc.poll() is not None:
            exited_at = now
        if exited_at is not None and now - exited_at > DRAIN_S:
            break
        try:
            which, raw = sink.get(timeout=max(0.05, min(1.0, last_shown + heartbeat_s - now)))
        except queue.Empty:
            if time.monotonic() - last_shown >= heartbeat_s:
                agentlib.progress(f"waiting for {name}: {now - started:.0f}s")
                last_shown = time.monotonic()
            continue
        if raw is None:
            open_streams -= 1
            continue
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        if which == "stderr":
            stderr = [*stderr[-(STDERR_KEPT - 1) :], line]
            sys.stderr.write(f"{name}: {one_line(line, 500)}\n")
            continue
        stdout_size += len(raw)
        if stdout_size > MAX_STDOUT_BYTES:
            stop(proc)
            raise AgentError(f"{command[0]} printed more than {MAX_STDOUT_BYTES} bytes")
        if not stream:
            stdout.append(line)
            continue
        stdout = [*stdout[-19:], line]
        for text in reader.line(line):
            agentlib.progress(text)
        last_shown = time.monotonic()
        if max_steps and reader.steps > max_steps:
            stop(proc)
            raise AgentError(
                f"{name} was stopped after {max_steps} steps (tool calls, commands, file "
                "changes): the turn limit (max_turns)",
                EX_EXHAUSTED,
            )
    returncode = proc.wait(timeout=DRAIN_S) if proc.poll() is None else proc.returncode
    return Call(returncode, "\n".join(stdout), "\n".join(stderr), stderr[-20:])


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=DRAIN_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
