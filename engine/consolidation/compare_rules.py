"""When two agents' values at one findings path cannot both hold: the comparison rules of a
consolidation (``compare:`` in the workflow file).

- ``equal`` (the default): the values differ (key order and ``3`` vs ``3.0`` aside).
- ``version_in_range``: each value is a version, a range, or a list of them (see
  :mod:`engine.consolidation.version_ranges`). Every version one agent names must fit every range another
  agent names, and ranges of different agents must share a version. Two agents naming different
  versions do not disagree: a project tested on 3.11 and 3.12 is configured for both.
- ``tolerance``: numbers at most ``tolerance`` apart agree.
- ``overlap``: lists (a scalar is a list of one) agree when every two of them share an item.

Values a rule cannot read (a version rule given ``latest``, a tolerance given a string) are
compared with ``equal``, so nothing unreadable passes silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations
from typing import Any, Literal

from engine.consolidation.version_ranges import Family, Range, fits, overlaps, parse_item
from engine.state.finding_paths import canonical_json

__all__ = ["RULES", "RuleName", "disagreement"]

RuleName = Literal["equal", "version_in_range", "tolerance", "overlap"]
RULES: tuple[str, ...] = ("equal", "version_in_range", "tolerance", "overlap")

Reports = Sequence[tuple[str, Any]]
"""(agent key, value) pairs for one path, one per agent that reported it."""


def disagreement(rule: str, reports: Reports, tolerance: float | None = None) -> str | None:
    """Why the values cannot all hold, in words; None when they agree under ``rule``."""
    if any(isinstance(value, dict) for _, value in reports):
        return _equal(reports)
    if rule == "version_in_range":
        return _versions(reports)
    if rule == "tolerance":
        return _tolerance(reports, tolerance or 0.0)
    if rule == "overlap":
        return _overlap(reports)
    return _equal(reports)


def _equal(reports: Reports) -> str | None:
    if len({canonical_json(value) for _, value in reports}) <= 1:
        return None
    return "the agents report different values"


def _items(value: Any) -> list[Family | Range] | None:
    values = value if isinstance(value, list) else [value]
    if not values or not all(isinstance(v, str | int | float) for v in values):
        return None
    items = [parse_item(str(v)) for v in values]
    return None if any(item is None for item in items) else [i for i in items if i is not None]


def _versions(reports: Reports) -> str | None:
    parsed = [(agent, _items(value)) for agent, value in reports]
    if any(items is None for _, items in parsed):
        return _equal(reports)
    for (agent_a, items_a), (agent_b, items_b) in combinations(parsed, 2):
        for a in items_a or []:
            for b in items_b or []:
                why = _version_pair(agent_a, a, agent_b, b)
                if why:
                    return why
    return None


def _version_pair(agent_a: str, a: Family | Range, agent_b: str, b: Family | Range) -> str | None:
    if isinstance(a, Family) and isinstance(b, Range) and not fits(a, b):
        return f"{a.text} ({agent_a}) is outside {b.text} ({agent_b})"
    if isinstance(a, Range) and isinstance(b, Family) and not fits(b, a):
        return f"{b.text} ({agent_b}) is outside {a.text} ({agent_a})"
    if isinstance(a, Range) and isinstance(b, Range) and not overlaps(a, b):
        return f"no version satisfies both {a.text} ({agent_a}) and {b.text} ({agent_b})"
    return None


def _tolerance(reports: Reports, tolerance: float) -> str | None:
    numbers = [
        (agent, value)
        for agent, value in reports
        if isinstance(value, int | float) and not isinstance(value, bool)
    ]
    if len(numbers) < len(reports):
        return _equal(reports)
    (low_agent, low), (high_agent, high) = min(numbers, key=_second), max(numbers, key=_second)
    if high - low <= tolerance:
        return None
    return f"{high} ({high_agent}) and {low} ({low_agent}) are more than {tolerance:g} apart"


def _second(pair: tuple[str, Any]) -> Any:
    return pair[1]


def _overlap(reports: Reports) -> str | None:
    sets = [
        (agent, {canonical_json(v) for v in (value if isinstance(value, list) else [value])})
        for agent, value in reports
    ]
    for (agent_a, a), (agent_b, b) in combinations(sets, 2):
        if not a & b:
            return f"{agent_a} and {agent_b} share no item"
    return None
