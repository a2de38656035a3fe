"""Text of the final report and the continuity file: untrusted values made safe markdown.

Agent-supplied text is put on one line, stripped of control characters, and escaped where it
sits in a table.
"""

from __future__ import annotations

import json
from typing import Any

from engine.support.text import plain

CELL = 80


def as_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("message"), str):
        return value["message"]
    return json.dumps(value, ensure_ascii=False, default=str)


def md(value: Any, limit: int | None = None) -> str:
    return plain(value, limit).replace("<", "&lt;")


def md_cell(value: Any) -> str:
    if not isinstance(value, str):
        value = json.dumps(value, ensure_ascii=False, default=str)
    return md(value, CELL).replace("|", "\\|") or " "


def md_row(*cells: Any) -> str:
    return "| " + " | ".join(md_cell(c) for c in cells) + " |"


def md_code(text: str) -> str:
    text = plain(text)
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def md_list(items: list[Any], empty: str) -> list[str]:
    if not items:
        return [f"_{empty}_"]
    return [f"- {md(item if isinstance(item, str) else as_text(item), 300)}" for item in items]


def tidy(lines: list[str]) -> list[str]:
    """No runs of blank lines, none at the start or end."""
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    while out and not out[-1]:
        out.pop()
    return out


def _decision_text(d: dict[str, Any]) -> str:
    kind = d.get("kind")
    if kind == "resolve":
        how = f"picked {d['picked']}" if d.get("picked") else f"value {as_text(d.get('value'))}"
        return f"resolved conflict {d.get('conflict')}: {how}" + (
            f" — {d['note']}" if d.get("note") else ""
        )
    if kind == "accept":
        return f"accepted checkpoint {d.get('checkpoint')}: {d.get('note', '')}"
    if kind == "retry":
        return f"retry of {d.get('agent')} ({d.get('mode')})"
    if kind == "rollback":
        return f"rolled back to {d.get('point')}"
    if kind == "synthesis":
        return f"decisions of {d.get('stage')}: {as_text(d.get('decisions'))}"
    return as_text(d)


def decisions_md(decisions: list[dict[str, Any]]) -> list[str]:
    lines = ["", "## Decisions", ""]
    for d in decisions:
        who = f" by {md(d['by'])}" if d.get("by") else ""
        when = md(d["at"]) if d.get("at") else "-"
        lines.append(f"- {when}{who}: {md(_decision_text(d), 400)}")
    if not decisions:
        lines.append("_None._")
    return lines
