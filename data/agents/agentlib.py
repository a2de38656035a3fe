"""What every bundled agent needs to speak phaseboard's agent protocol.

Agents are run as ``{python} {data}/agents/NAME.py``, so this module is importable
as ``agentlib`` from beside them. It depends on nothing but the standard library:
an agent must run on any interpreter that can run the project it analyses.

A message is one JSON line on stdout in the format of docs/agents.md::

    {"header": {"phase", "agent_id", "timestamp", "priority"},
     "body": {"message_type": "result|error|warning|info", "content", "dependencies", "next_action"},
     "metadata": {"execution_time", "resource_usage", "retry_count", "tokens"?, "cost_usd"?}}

Any other stdout or stderr line is a plain log line.
"""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_STARTED = time.monotonic()

PRIORITIES = ("critical", "high", "normal", "low")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def attempt() -> int:
    return int(os.environ.get("PHASEBOARD_ATTEMPT", "1"))


def agent_id() -> str:
    return os.environ.get("PHASEBOARD_AGENT", Path(sys.argv[0]).stem)


def workspace(argv_index: int = 1) -> Path:
    """The directory to work on: argv[argv_index] if given, else $PHASEBOARD_WORKSPACE, else cwd."""
    if len(sys.argv) > argv_index and sys.argv[argv_index]:
        return Path(sys.argv[argv_index]).resolve()
    return Path(os.environ.get("PHASEBOARD_WORKSPACE", ".")).resolve()


def load_inputs() -> dict[str, Any]:
    """Results and syntheses of earlier stages (``$PHASEBOARD_INPUTS``), or {} when run by hand."""
    path = os.environ.get("PHASEBOARD_INPUTS")
    if not path or not Path(path).is_file():
        return {}
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    return data if isinstance(data, dict) else {}


def scope() -> dict[str, Any] | None:
    """The reduced scope of a reduced-scope retry, or None for a full attempt."""
    raw = os.environ.get("PHASEBOARD_SCOPE")
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def feedback() -> str | None:
    """What was wrong with the previous attempt's result, on a retry."""
    return os.environ.get("PHASEBOARD_FEEDBACK") or None


def emit(
    message_type: str,
    content: Any,
    *,
    priority: str = "normal",
    dependencies: list[Any] | None = None,
    next_action: str = "",
    **metadata: Any,
) -> None:
    message = {
        "header": {
            "phase": os.environ.get("PHASEBOARD_STAGE", ""),
            "agent_id": agent_id(),
            "timestamp": _now(),
            "priority": priority,
        },
        "body": {
            "message_type": message_type,
            "content": content,
            "dependencies": dependencies or [],
            "next_action": next_action,
        },
        "metadata": {
            "execution_time": round(time.monotonic() - _STARTED, 3),
            "resource_usage": {},
            "retry_count": attempt() - 1,
            **metadata,
        },
    }
    sys.stdout.write(json.dumps(message, default=str) + "\n")
    sys.stdout.flush()


def progress(text: str) -> None:
    """A plain progress line, shown live in the agent's pane."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def info(text: str, **metadata: Any) -> None:
    emit("info", text, **metadata)


def warning(text: str, **metadata: Any) -> None:
    emit("warning", text, priority="high", **metadata)


def result(content: dict[str, Any], **metadata: Any) -> None:
    """The agent's result; the last result message of an attempt is the one kept."""
    emit("result", content, **metadata)


def fail(text: str, code: int = 1) -> None:
    """Report an error message and end the attempt as failed."""
    emit("error", text, priority="critical")
    raise SystemExit(code)
