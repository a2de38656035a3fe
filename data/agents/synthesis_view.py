"""Reading what earlier stages produced out of ``$PHASEBOARD_INPUTS``, for the later agents.

The synthesizer gets the whole synthesis document (``inputs["synthesis"]``); agents of later stages
find it under ``inputs["stages"][ID]``. Both shapes are accepted everywhere, so an agent works the
same whichever way it was given the synthesis.
"""

from __future__ import annotations

import os
from typing import Any

SEVERITIES = ("critical", "high", "medium", "low")


def severity_rank(severity: Any) -> int:
    text = str(severity).lower()
    return SEVERITIES.index(text) if text in SEVERITIES else len(SEVERITIES)


def sorted_risks(risks: Any) -> list[dict[str, Any]]:
    """Risks, most severe first, then by id: the priority order."""
    items = [r for r in risks or [] if isinstance(r, dict)]
    return sorted(items, key=lambda r: (severity_rank(r.get("severity")), str(r.get("id", ""))))


def value_text(value: Any) -> str:
    """A finding's value for a sentence: a list as ``3.11, 3.12``, anything else as itself."""
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    return str(value)


def inner(document: Any) -> dict[str, Any]:
    """The body of a synthesis (sections, findings, conflicts, risks) from either shape."""
    if not isinstance(document, dict):
        return {}
    body = document.get("synthesis")
    if isinstance(body, dict) and ("findings" in body or "risk_assessment" in body):
        return body
    return document


class Consolidated:
    """One consolidation stage as later agents see it: its synthesis, decisions and conflicts."""

    def __init__(self, stage_id: str, entry: dict[str, Any]) -> None:
        self.stage_id = stage_id
        self.synthesis = inner(entry.get("synthesis"))
        decisions = entry.get("decisions") or (entry.get("synthesis") or {}).get("decisions")
        self.decisions: dict[str, Any] = decisions if isinstance(decisions, dict) else {}
        conflicts = entry.get("conflicts") or self.synthesis.get("conflicts") or []
        self.conflicts: list[dict[str, Any]] = [c for c in conflicts if isinstance(c, dict)]

    @property
    def findings(self) -> dict[str, Any]:
        value = self.synthesis.get("findings")
        return value if isinstance(value, dict) else {}

    def section(self, name: str) -> dict[str, Any]:
        """A section of the synthesis; the merged findings stand in when it is empty (failover)."""
        value = self.synthesis.get(name)
        return value if isinstance(value, dict) and value else self.findings

    @property
    def risks(self) -> list[dict[str, Any]]:
        assessment = self.synthesis.get("risk_assessment") or {}
        return sorted_risks(assessment.get("risks") if isinstance(assessment, dict) else [])

    def value(self, path: str) -> Any:
        """The merged value at a dotted findings path (resolutions applied), or None."""
        node: Any = self.findings
        for key in path.split("."):
            if not isinstance(node, dict) or key not in node:
                return None
            node = node[key]
        return node


def consolidation(inputs: dict[str, Any], stage_id: str | None = None) -> Consolidated:
    """The named consolidation stage, else the latest one in the inputs; empty if none."""
    if "synthesis" in inputs and stage_id is None:
        return Consolidated(os.environ.get("PHASEBOARD_STAGE", ""), inputs)
    stages = inputs.get("stages") or {}
    candidates = [
        sid
        for sid, entry in stages.items()
        if isinstance(entry, dict)
        and entry.get("kind") == "consolidation"
        and entry.get("synthesis")
    ]
    chosen = stage_id if stage_id in stages else (candidates[-1] if candidates else None)
    return Consolidated(chosen or "", (stages.get(chosen) or {}) if chosen else {})


def agent_result(inputs: dict[str, Any], agent: str, stage: str | None = None) -> dict[str, Any]:
    """The latest result of ``agent`` (in ``stage`` if given) among the earlier stages, or {}."""
    for sid, entry in reversed(list((inputs.get("stages") or {}).items())):
        if stage not in (None, sid) or not isinstance(entry, dict):
            continue
        agents = entry.get("agents") or {}
        result = (agents.get(agent) or {}).get("result")
        if isinstance(result, dict):
            return result
    return {}


def run_id(inputs: dict[str, Any]) -> str:
    return str(inputs.get("run_id") or os.environ.get("PHASEBOARD_RUN_ID") or "manual")
