"""What the engine and its Dask workers send each other (:mod:`engine.execution.dask_executor`,
:mod:`engine.execution.dask_worker`), as plain lists and dicts: a task's argument, the events
it logs while it runs, and its result. No ``distributed`` import here.

Output lines travel as events of the engine's topic (``Worker.log_event``): one event holds
the lines of a slice of a batch, their texts joined by newlines (a line never holds one) and
their stream, time and ``partial`` flag run-length encoded, so a flood costs a join and a split
per event, not an object per line. The scheduler keeps the last 1,000 events of a topic
(``distributed.admin.low-level-log-length``) until the engine leaves; ``EVENT_CHARS`` bounds
what that holds.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from itertools import groupby
from typing import Any

from engine.execution.attempt_output import MAX_PENDING_BYTES, MAX_PENDING_LINES
from engine.execution.executor import AttemptExit, AttemptSpec, LogLine

STARTED = "phaseboard-started"
"""``[STARTED, key, pid, pgid, create_time, host, worker address]``: the process runs."""
LINES = "phaseboard-lines"
"""``[LINES, key, text, runs]``: lines, in order (see :func:`encode_lines`)."""
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


def encode_lines(batch: list[LogLine]) -> list[tuple[str, list[Any], int, int]]:
    """A batch as events: ``(text, runs, lines, chars)`` for each, ``runs`` a flat list of
    ``count, stream, ts, partial`` for consecutive lines that share them."""
    texts = [line[1] for line in batch]
    total = sum(map(len, texts)) + len(texts)
    pieces = max(1, -(-total // EVENT_CHARS))
    step = max(1, -(-len(batch) // pieces))
    out: list[tuple[str, list[Any], int, int]] = []
    for start in range(0, len(batch), step):
        part = batch[start : start + step]
        text = "\n".join(texts[start : start + step])
        runs: list[Any] = []
        for (stream, ts, partial), group in groupby((s, t, p) for s, _, t, p in part):
            runs += (len(list(group)), stream, ts, partial)
        out.append((text, runs, len(part), len(text) + 1))
    return out


def decode_lines(text: str, runs: list[Any]) -> list[LogLine]:
    """The lines of one event, as :func:`encode_lines` wrote them."""
    texts = text.split("\n")
    out: list[LogLine] = []
    at = 0
    for i in range(0, len(runs), 4):
        count, stream, ts, partial = runs[i : i + 4]
        out += [(stream, t, ts, partial) for t in texts[at : at + count]]
        at += count
    return out


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
