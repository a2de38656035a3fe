"""A problem in a workflow file, located by its path in the raw data (parsed YAML)."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Any, NamedTuple

__all__ = ["DataPath", "Issue", "format_path", "items", "suggest"]

DataPath = tuple[str | int, ...]


class Issue(NamedTuple):
    """A problem found by :func:`find_issues`, located by its path in the raw data."""

    path: DataPath
    message: str
    offset: int | None = None
    """Character offset inside the string at ``path`` (an expression, a command)."""
    related: DataPath | None = None
    """Where the clashing original is (duplicates)."""
    at_key: bool = False
    """Point at the key of ``path`` rather than its value."""


def format_path(path: DataPath) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text or "workflow"


def suggest(word: str, choices: list[str] | set[str]) -> str:
    close = difflib.get_close_matches(word, sorted(choices), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def items(value: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    if isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, dict):
                yield index, item
