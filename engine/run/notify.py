"""Telling the operator that a run needs them, or has ended: the notify hook.

The engine, not the console, notifies, so it happens with no console attached. A ``run_status``
event the engine records is a *notice* when the run is paused for the operator (a checkpoint
failed on an open conflict, a failed criterion or an agent stopped at its budget, under
``manual_resolution`` or ``escalate``; or the executor cannot run the next stage now: the engine
has such a pause say what it awaits) or when the run completed or failed. A pause the operator asked for, a rollback's hold, a stop and an interrupted
engine are no notices: the operator already knows.

The engine that records the event runs the hook once for it, in the background (a shell command
with the notice as JSON on stdin and ``PHASEBOARD_*`` variables in its environment, under a
timeout), and then records a :class:`~engine.state.events.NotificationSent` with how it went. A
hook that fails or hangs never stops or slows the run: its failure is recorded, and said on the
engine's stderr (``engine.log`` for a background engine).

The hook is the first of: ``--notify CMD`` (passed to the engine), ``$PHASEBOARD_NOTIFY``, the
workflow's ``notify:``. An empty command turns notifying off.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from engine.reports.next_actions import waiting_checkpoint
from engine.run.outcome import RunOutcome
from engine.state.events import Event, NotificationSent
from engine.state.run_state import RunState
from engine.support.sanitize import sanitize_line
from engine.support.text import iso, plain

if TYPE_CHECKING:
    from engine.run.session import RunSession

NOTIFY_ENV = "PHASEBOARD_NOTIFY"
TIMEOUT_ENV = "PHASEBOARD_NOTIFY_TIMEOUT"
TIMEOUT_S = 30.0
"""How long a hook may run before its process group is killed (``$PHASEBOARD_NOTIFY_TIMEOUT``)."""
STDERR_KEPT = 4096
"""Bytes of a hook's stderr kept to say why it failed."""
SHELL = "/bin/sh"

NoticeKind = Literal["paused", "finished"]


@dataclass(frozen=True)
class Hook:
    command: str
    """Run by ``/bin/sh -c``."""
    source: str
    """``--notify``, ``PHASEBOARD_NOTIFY`` or ``workflow``."""
    timeout_s: float = TIMEOUT_S


def choose_hook(
    explicit: str | None, workflow_notify: str | None, environ: Mapping[str, str]
) -> Hook | None:
    """The hook this engine runs: ``--notify``, else ``$PHASEBOARD_NOTIFY``, else the
    workflow's ``notify``; None when none is set or the chosen one is empty."""
    if explicit is not None:
        command, source = explicit, "--notify"
    elif NOTIFY_ENV in environ:
        command, source = environ[NOTIFY_ENV], NOTIFY_ENV
    elif workflow_notify is not None:
        command, source = workflow_notify, "workflow"
    else:
        return None
    if not command.strip():
        return None
    return Hook(command, source, _timeout(environ.get(TIMEOUT_ENV)))


def _timeout(text: str | None) -> float:
    try:
        value = float(text) if text else TIMEOUT_S
    except ValueError:
        return TIMEOUT_S
    return value if 0 < value < float("inf") else TIMEOUT_S


def notice_kind(status: str, awaiting: Sequence[str]) -> NoticeKind | None:
    """``paused`` for a pause that awaits the operator, ``finished`` for a completed or failed
    run, None for every other status (see the module's docstring). The console rings by the
    same rule."""
    if status == "paused":
        return "paused" if awaiting else None
    if status in ("completed", "failed"):
        return "finished"
    return None


def headline(state: RunState, status: str, decision: str | None) -> tuple[str, str]:
    """A notice's title and one-line body, from phaseboard's own words and ids only (never an
    agent's text): safe for a desktop notification and a terminal."""
    name = plain(state.workflow_name, 40) or "run"
    if status == "paused":
        checkpoint = waiting_checkpoint(state)
        where = f" at checkpoint {checkpoint.id}" if checkpoint is not None else ""
        return "phaseboard: your turn", f"{name} {state.run_id} paused{where}"
    verdict = f": {decision}" if decision else ""
    return f"phaseboard: run {status}", f"{name} {state.run_id} {status}{verdict}"


@dataclass(frozen=True)
class Notice:
    """What a hook is told about one ``run_status`` event."""

    kind: NoticeKind
    seq: int
    run_id: str
    status: str
    reason: str
    decision: str | None
    awaiting: tuple[str, ...]
    title: str
    message: str
    document: dict[str, Any]

    def environment(self) -> dict[str, str]:
        return {
            "PHASEBOARD_EVENT": self.kind,
            "PHASEBOARD_RUN_ID": self.run_id,
            "PHASEBOARD_STATUS": self.status,
            "PHASEBOARD_REASON": self.reason,
            "PHASEBOARD_DECISION": self.decision or "",
            "PHASEBOARD_TITLE": self.title,
            "PHASEBOARD_MESSAGE": self.message,
        }


def notice_of(event: Event, state: RunState) -> Notice | None:
    """The notice a committed ``run_status`` event makes, or None (``state`` is the run's state
    with the event folded in)."""
    if event.kind != "run_status":
        return None
    data = event.data
    status = str(data.get("status", ""))
    awaiting = tuple(sanitize_line(str(line)) for line in data.get("awaiting") or ())
    kind = notice_kind(status, awaiting)
    if kind is None:
        return None
    decision = data.get("decision") or (state.decision if status == "completed" else None)
    reason = plain(data.get("reason", ""), 500)
    title, message = headline(state, status, decision)
    document = {
        "event": kind,
        "run_id": state.run_id,
        "workflow": state.workflow_name,
        "status": status,
        "decision": decision,
        "reason": reason,
        "awaiting": list(awaiting),
        "exit_code": RunOutcome(status, decision).exit_code,
        "title": title,
        "message": message,
        "seq": event.seq,
        "at": iso(event.ts),
        "host": socket.gethostname(),
        "workspace": state.workspace,
        "run_dir": state.run_dir,
    }
    return Notice(
        kind, event.seq, state.run_id, status, reason, decision, awaiting, title, message, document
    )


@dataclass(frozen=True)
class HookResult:
    ok: bool
    exit_code: int | None
    duration_s: float
    error: str = ""


async def run_hook(hook: Hook, notice: Notice, cwd: str | None = None) -> HookResult:
    """Run the hook once for ``notice``: its own process group, the notice on stdin, killed
    (with whatever it started) at its timeout."""
    started = time.monotonic()
    env = {**os.environ, **notice.environment()}
    env.pop(NOTIFY_ENV, None)
    try:
        proc = await asyncio.create_subprocess_exec(
            SHELL,
            "-c",
            hook.command,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            env=env,
            cwd=cwd if cwd and os.path.isdir(cwd) else None,
            start_new_session=True,
        )
    except OSError as exc:
        return HookResult(False, None, 0.0, f"could not start: {exc.strerror or exc}")
    tail = bytearray()
    reader = asyncio.create_task(_keep_tail(proc, tail))
    payload = json.dumps(notice.document, default=str).encode() + b"\n"
    try:
        code: int | None = await asyncio.wait_for(_feed_and_wait(proc, payload), hook.timeout_s)
    except TimeoutError:
        code = None
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
        # a background child of the hook may hold its stderr open: read what came, no more
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(reader), 0.5)
        reader.cancel()
    duration = round(time.monotonic() - started, 3)
    if code is None:
        return HookResult(False, None, duration, f"timed out after {hook.timeout_s:g}s")
    if code != 0:
        last = _last_line(tail)
        return HookResult(
            False, code, duration, f"exit code {code}" + (f": {last}" if last else "")
        )
    return HookResult(True, 0, duration)


async def _feed_and_wait(proc: asyncio.subprocess.Process, payload: bytes) -> int:
    assert proc.stdin is not None
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        proc.stdin.write(payload)
        await proc.stdin.drain()
    proc.stdin.close()
    return await proc.wait()


async def _keep_tail(proc: asyncio.subprocess.Process, tail: bytearray) -> None:
    assert proc.stderr is not None
    while chunk := await proc.stderr.read(65536):
        tail.extend(chunk)
        del tail[:-STDERR_KEPT]


def _last_line(tail: bytearray) -> str:
    lines = [line for line in tail.decode("utf-8", "replace").splitlines() if line.strip()]
    return plain(lines[-1], 200) if lines else ""


class Notifier:
    """Runs the hook for each notice a session's events make, in the background, and records
    the outcome. :meth:`drain` waits for those still running (each ends by its timeout)."""

    def __init__(self, session: RunSession, hook: Hook | None) -> None:
        self.session = session
        self.hook = hook
        self._pending: set[asyncio.Task[None]] = set()

    def observe(self, events: Sequence[Event]) -> None:
        if self.hook is None:
            return
        for event in events:
            notice = notice_of(event, self.session.state)
            if notice is not None:
                task = asyncio.create_task(self._send(self.hook, notice), name="notify")
                self._pending.add(task)
                task.add_done_callback(self._pending.discard)

    async def _send(self, hook: Hook, notice: Notice) -> None:
        result = await run_hook(hook, notice, self.session.state.workspace)
        await self.session.emit(
            NotificationSent(
                about=notice.seq,
                event=notice.kind,
                status=notice.status,  # type: ignore[arg-type]
                source=hook.source,
                ok=result.ok,
                exit_code=result.exit_code,
                duration_s=result.duration_s,
                error=result.error,
            )
        )

    async def drain(self) -> None:
        """Wait for the hooks still running and their records."""
        while self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)
