"""Evidence: where an agent found the value it reports at a findings path.

An agent's result may carry ``evidence``, a map from a findings path (as in conflicts,
``runtime.python``) to a list of ``{file, line, text, value}`` items: the file and line it read,
the text found there, and the value it took from it. Consolidation copies the items of the
agents in a conflict into the conflict, so the operator resolving it sees why each agent said
what it said (console, ``phaseboard status``, the reports).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["MAX_EVIDENCE", "evidence_by_agent", "evidence_line"]

MAX_EVIDENCE = 20
"""Evidence items kept per agent and path; the text of each is cut at ``MAX_EVIDENCE_TEXT``."""
MAX_EVIDENCE_TEXT = 300


def evidence_by_agent(
    results: Mapping[str, Mapping[str, Any]],
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """The ``evidence`` of each result (findings path -> where the value was found), keeping
    only well-formed items: objects whose ``file``, ``line``, ``text`` and ``value`` are scalars."""
    out: dict[str, dict[str, list[dict[str, Any]]]] = {}
    for agent, result in results.items():
        raw = result.get("evidence")
        if not isinstance(raw, Mapping):
            continue
        for path, items in raw.items():
            kept = [
                {
                    key: item[key][:MAX_EVIDENCE_TEXT] if isinstance(item[key], str) else item[key]
                    for key in ("file", "line", "text", "value")
                    if isinstance(item.get(key), str | int | float)
                    and not isinstance(item.get(key), bool)
                }
                for item in (items if isinstance(items, list) else [items])
                if isinstance(item, Mapping)
            ]
            kept = [item for item in kept if item][:MAX_EVIDENCE]
            if kept:
                out.setdefault(agent, {})[str(path)] = kept
    return out


def evidence_line(item: Mapping[str, Any]) -> str:
    """``pyproject.toml:9: requires-python = ">=3.11"`` (the value when there is no text)."""
    where = str(item.get("file") or "?")
    if item.get("line") is not None:
        where += f":{item['line']}"
    said = item.get("text") if item.get("text") not in (None, "") else item.get("value")
    return f"{where}: {said}" if said not in (None, "") else where
