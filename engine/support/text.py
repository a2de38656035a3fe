"""Text as phaseboard prints it: times in ISO-8601 UTC, agent-supplied text made safe for a
terminal on one line, and command lines the operator can paste."""

from __future__ import annotations

import shlex
from datetime import UTC, datetime
from typing import Any

from engine.support.sanitize import sanitize_line


def command(*words: str) -> str:
    """A command line the operator can paste: each word shell-quoted where needed."""
    return " ".join(shlex.quote(word) for word in words)


def iso(ts: float | None) -> str | None:
    """An event time as ISO-8601 in UTC, the form of every time phaseboard prints."""
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def plain(value: Any, limit: int | None = None) -> str:
    """One line of agent-supplied text that cannot drive the terminal: white space collapsed,
    escape sequences removed, other control characters made visible."""
    text = sanitize_line(" ".join(str(value).split()))
    if limit is not None and len(text) > limit:
        text = text[: max(0, limit - 1)] + "…"
    return text


def duration_between(start: float | None, end: float | None) -> float | None:
    """Seconds from ``start`` to ``end`` (to the millisecond), or None when either is unknown."""
    if start is None or end is None:
        return None
    return round(end - start, 3)
