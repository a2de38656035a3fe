"""Formatting the counts for people and for scripts."""

from __future__ import annotations

import json


def as_table(rows: list[tuple[str, int]], total: int) -> str:
    """An aligned table of word, count and share of all words."""
    if not rows:
        return "no words found"
    width = max(len(word) for word, _ in rows)
    lines = []
    for word, count in rows:
        share = 100 * count / total if total else 0.0
        lines.append(f"{word.ljust(width)}  {count:>6}  {share:5.1f}%")
    return "\n".join(lines)


def as_json(rows: list[tuple[str, int]], total: int) -> str:
    """The same rows as a JSON document."""
    return json.dumps({"total": total, "top": [{"word": w, "count": c} for w, c in rows]})
