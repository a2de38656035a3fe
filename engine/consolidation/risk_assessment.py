"""The risks a consolidation's input agents report: merged by id and ranked by severity.

The ranked risks also give the synthesis its default decisions (what to address first).
"""

from __future__ import annotations

import copy
import hashlib
import re
from collections.abc import Mapping, Sequence
from typing import Any

from engine.state.finding_paths import canonical_json

__all__ = [
    "DEFAULT_RISK_SEVERITY",
    "RISK_SEVERITIES",
    "as_list",
    "default_decisions",
    "merge_risks",
]


RISK_SEVERITIES: tuple[str, ...] = ("critical", "high", "medium", "low")
_RISK_RANK = {name: rank for rank, name in enumerate(RISK_SEVERITIES)}
DEFAULT_RISK_SEVERITY = "medium"
"""Given to a risk whose severity is missing or unknown: loud enough not to be overlooked."""


def merge_risks(
    results: Mapping[str, Mapping[str, Any]], warnings: list[str]
) -> list[dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    for agent, result in results.items():
        for item in as_list(result.get("risks"), f"{agent}: risks", warnings):
            risk = _normalise_risk(item, agent, warnings)
            if risk is None:
                continue
            current = merged.get(risk["id"])
            if current is None:
                merged[risk["id"]] = {**risk, "reported_by": [agent]}
                continue
            reporters = current["reported_by"]
            if agent not in reporters:
                reporters = [*reporters, agent]
            if _RISK_RANK[risk["severity"]] < _RISK_RANK[current["severity"]]:
                merged[risk["id"]] = {**risk, "reported_by": reporters}
            else:
                current["reported_by"] = reporters
    return sorted(merged.values(), key=lambda risk: (_RISK_RANK[risk["severity"]], risk["id"]))


def _normalise_risk(item: Any, agent: str, warnings: list[str]) -> dict[str, Any] | None:
    if isinstance(item, str):
        item = {"title": item}
    if not isinstance(item, Mapping):
        warnings.append(f"{agent}: a risk is a {type(item).__name__}, not an object; ignored")
        return None
    risk = copy.deepcopy(dict(item))
    risk_id = risk.get("id")
    if risk_id is None or str(risk_id) == "":
        risk_id = _slug(str(risk.get("title") or "")) or "risk_" + _canonical_hash(risk)
    risk["id"] = str(risk_id)
    severity = str(risk.get("severity", "")).strip().lower()
    if severity not in _RISK_RANK:
        warnings.append(
            f"{agent}: risk {risk['id']!r} has severity {risk.get('severity')!r}; "
            f"counted as {DEFAULT_RISK_SEVERITY}"
        )
        severity = DEFAULT_RISK_SEVERITY
    risk["severity"] = severity
    return risk


def _canonical_hash(value: Any) -> str:
    return hashlib.sha1(canonical_json(value).encode()).hexdigest()[:8]


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:64].rstrip("_")


def as_list(value: Any, what: str, warnings: list[str]) -> list[Any]:
    """An agent's list field; anything else is taken as one item, with a warning."""
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    warnings.append(f"{what} is a {type(value).__name__}, not a list; taken as one item")
    return [value]


def default_decisions(risks: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return {
        "implementation_strategy": _strategy(risks),
        "priority_order": [risk["id"] for risk in risks],
        "resource_allocation": {},
    }


def _strategy(risks: Sequence[Mapping[str, Any]]) -> str:
    if not risks:
        return "no risks reported: proceed with the planned implementation"
    urgent = [risk for risk in risks if risk["severity"] in ("critical", "high")]
    chosen = urgent or list(risks)
    shown = ", ".join(str(risk["id"]) for risk in chosen[:5])
    if len(chosen) > 5:
        shown += f" (and {len(chosen) - 5} more)"
    noun = "risk" if len(chosen) == 1 else "risks"
    if urgent:
        counts = [
            f"{n} {name}"
            for name in ("critical", "high")
            if (n := sum(risk["severity"] == name for risk in urgent))
        ]
        return f"address {' and '.join(counts)} {noun} first: {shown}"
    return f"no critical or high risks: proceed, tracking {len(chosen)} lower {noun}: {shown}"
