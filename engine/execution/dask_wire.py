"""What the engine and its Dask workers send each other (:mod:`engine.execution.dask_executor`,
:mod:`engine.execution.dask_worker`), as plain lists and dicts: a task's argument, the events
it logs while it runs, and its result. No ``distributed`` import here.

Output lines travel as events of the engine's topic (``Worker.log_event``): one event holds a
block of lines (:class:`engine.execution.log_block.LogBlock`: texts joined by newlines, with
their marks), so a flood costs a slice per event, not an object per line. The scheduler keeps the last 1,000 events of a topic
(``distributed.admin.low-level-log-length``) until the engine leaves; ``EVENT_CHARS`` bounds
what that holds.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any

from engine.execution.attempt_output import MAX_PENDING_BYTES, MAX_PENDING_LINES
from engine.execution.executor import AttemptExit, AttemptSpec
from engine.execution.log_block import LogBlock

STARTED = "phaseboard-started"
"""``[STARTED, key, pid, pgid, create_time, host, worker address]``: the process runs."""
LINES = "phaseboard-lines"
"""``[LINES, key, text, count, ts, marks]``: lines, in order (see :func:`encode_blocks`)."""
EXITED = "phaseboard-exited"
"""``[EXITED, key, exit, lines, stdout_in_result]``: how the attempt ended (``exit_payload``),
after its last lines: the engine needs no round trip to fetch the task's result. A whole stdout
kept in memory (``output: json``) longer than ``EVENT_CHARS`` is the task's result instead."""
CONTROL_OP = "phaseboard"
"""The worker's handler for the engine's requests (ack, stop, kill an orphan)."""
CLAIMS = "phaseboard-claims"
"""Scheduler metadata, ``[CLAIMS, session, key]``: the worker that started an attempt."""
EVENT_CHARS = 32 * 1024
"""Text per event, at most (one longer line travels alone)."""
WINDOW_LINES = MAX_PENDING_LINES
WINDOW_CHARS = MAX_PENDING_BYTES
"""Sent and not yet taken by the engine, at most: past either, the worker stops reading the
attempt's output, which pauses the pipes as a local attempt's do when the engine lags."""


def encode_blocks(batch: list[LogBlock]) -> list[tuple[str, int, float, bytes | None]]:
    """A batch as events' ``(text, count, ts, marks)``: each block cut at a line boundary into
    pieces of at most ``EVENT_CHARS`` characters (a longer line travels alone)."""
    out: list[tuple[str, int, float, bytes | None]] = []
    for block in batch:
        rest: LogBlock | None = block
        while rest is not None:
            head, rest = rest.cut(EVENT_CHARS, at_least_one=True)
            if head is not None:
                out.append((head.text, head.count, head.ts, head.marks))
    return out


def decode_block(text: str, count: int, ts: float, marks: bytes | None) -> LogBlock:
    """The block of one event, as :func:`encode_blocks` wrote it."""
    if marks is not None and len(marks) != count:
        raise ValueError(f"an event of {count} lines has {len(marks)} marks")
    return LogBlock(text, count, ts, marks)


def spec_payload(spec: AttemptSpec) -> dict[str, Any]:
    payload = asdict(spec)
    payload["argv"] = list(spec.argv)
    payload["env"] = dict(spec.env)
    return payload


def spec_from_payload(payload: dict[str, Any]) -> AttemptSpec:
    known = {f.name for f in fields(AttemptSpec)}
    values = {k: v for k, v in payload.items() if k in known}
    values["argv"] = tuple(values["argv"])
    return AttemptSpec(**values)


def exit_payload(exit_: AttemptExit) -> dict[str, Any]:
    return asdict(exit_)


def exit_from_payload(payload: dict[str, Any]) -> AttemptExit:
    known = {f.name for f in fields(AttemptExit)}
    return AttemptExit(**{k: v for k, v in payload.items() if k in known})
