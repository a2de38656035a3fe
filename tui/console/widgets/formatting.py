"""Small text helpers shared by the console's widgets.

Everything an agent wrote reaches the screen through :func:`agent_text`, which
neutralises control sequences and never parses markup.
"""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text

from engine.support.sanitize import sanitize_line

ICONS = {
    "pending": "○",
    "running": "●",
    "succeeded": "✔",
    "failed": "✘",
    "skipped": "–",
    "missing": "?",
    "rolled_back": "↺",
    "paused": "Ⅱ",
    "interrupted": "!",
    "stopped": "■",
    "completed": "✔",
}

STATUS_STYLES = {
    "running": "bold $accent",
    "succeeded": "$success",
    "completed": "$success",
    "failed": "bold $error",
    "missing": "$error",
    "paused": "bold $warning",
    "interrupted": "$warning",
    "stopped": "$warning",
    "rolled_back": "$secondary",
    "skipped": "dim",
    "pending": "dim",
}

VERDICT_STYLES = {
    "PROCEED": "$success",
    "CONDITIONAL_PROCEED": "$warning",
    "BLOCK": "$error",
}


def agent_text(value: Any, limit: int | None = None) -> str:
    """Agent-supplied text made safe for one line of a terminal."""
    text = value if isinstance(value, str) else json_short(value, limit or 10_000)
    text = sanitize_line(text)
    if limit is not None and len(text) > limit:
        text = text[: max(0, limit - 1)] + "…"
    return text


def json_short(value: Any, limit: int = 60) -> str:
    """A JSON value on one line, cut with an ellipsis past ``limit`` characters."""
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return text if len(text) <= limit else text[: max(0, limit - 1)] + "…"


def json_pretty(value: Any) -> str:
    """A JSON value laid out on several lines, sanitised line by line."""
    try:
        text = json.dumps(value, ensure_ascii=False, indent=2, default=str)
    except (TypeError, ValueError):
        text = repr(value)
    return "\n".join(sanitize_line(line) for line in text.splitlines())


def duration(seconds: float | None) -> str:
    """``4.2s``, ``3m07s``, ``2h05m``: short enough for a table cell."""
    if seconds is None:
        return "-"
    seconds = max(0.0, seconds)
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def icon(status: str) -> str:
    return ICONS.get(status, "·")


def resolve_style(spec: str, variables: dict[str, str]) -> str:
    """A style with ``$name`` theme variables replaced by their colours (for rich renderables)."""
    words = []
    for word in spec.split():
        if word.startswith("$"):
            value = variables.get(word[1:], "")
            if value.startswith("#"):
                words.append(value)
        else:
            words.append(word)
    return " ".join(words)


def status_style(status: str, variables: dict[str, str]) -> str:
    return resolve_style(STATUS_STYLES.get(status, ""), variables)


def status_text(status: str, variables: dict[str, str], *, word: bool = True) -> Text:
    """Icon (and status word) styled for the status; status words are ours, never an agent's."""
    label = f"{icon(status)} {status}" if word else icon(status)
    return Text(label, style=status_style(status, variables), no_wrap=True)


def clock_time(ts: float | None) -> str:
    """An event time as HH:MM:SS in UTC, like every other time phaseboard prints."""
    if ts is None:
        return "--:--:--"
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).strftime("%H:%M:%S")


def result_summary(result: Any) -> str:
    """One line about an agent's result: its summary, or what it holds."""
    if result is None:
        return ""
    if isinstance(result, dict):
        parts = []
        summary = result.get("summary")
        findings = result.get("findings")
        risks = result.get("risks")
        if isinstance(findings, dict):
            parts.append(f"{len(findings)} findings")
        if isinstance(risks, list) and risks:
            parts.append(f"{len(risks)} risks")
        head = agent_text(summary, 80) if isinstance(summary, str) and summary else ""
        tail = ", ".join(parts)
        return f"{head} ({tail})" if head and tail else head or tail or json_short(result)
    return json_short(result)


THEME_COLOURS = ("primary", "secondary", "accent", "warning", "error", "success", "foreground")


def theme_colors(app: Any) -> dict[str, str]:
    """The current theme's named colours, for styles of rich renderables.

    Read from the theme itself: ``App.theme_variables`` lags behind a theme set in
    ``on_mount`` until the next CSS refresh.
    """
    theme = app.current_theme
    return {name: getattr(theme, name) or "" for name in THEME_COLOURS}


def show_text(widget: Any, text: Text) -> None:
    """``Static.update`` only when the text differs, and a layout pass only when its shape
    does: under a stream of updates, relayouts are what a frame costs most."""
    key = (text.plain, tuple(text.spans), str(text.style))
    old = getattr(widget, "_shown_key", None)
    if old == key:
        return
    lines = text.plain.split("\n")
    shape = (len(lines), max(len(line) for line in lines))
    widget._shown_key = key
    widget.update(text, layout=shape != getattr(widget, "_shown_shape", None))
    widget._shown_shape = shape
