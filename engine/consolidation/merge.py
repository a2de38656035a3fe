"""Merging the results of a consolidation's input agents into the synthesis document (docs/workflow-file.md).

Everything here is a pure function of its arguments: the runner feeds agent results in and
persists what comes out, so the same inputs always give the same synthesis and conflict ids.

Paths name a place inside ``findings`` (see :mod:`engine.state.finding_paths` for how keys are joined
and escaped). Only dicts are descended into: a list is one leaf value and is compared whole,
because list positions rarely mean the same thing to two agents.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Mapping, Sequence
from fnmatch import fnmatchcase
from typing import Any, Literal, NamedTuple, cast, get_args

from pydantic import BaseModel, ConfigDict

from engine.consolidation.compare_rules import RULES, disagreement
from engine.consolidation.evidence import evidence_by_agent
from engine.consolidation.risk_assessment import (
    DEFAULT_RISK_SEVERITY,
    RISK_SEVERITIES,
    as_list,
    default_decisions,
    merge_risks,
)
from engine.state.finding_paths import (
    MISSING,
    canonical_json,
    get_path,
    join_path,
    set_path,
    split_path,
)

__all__ = [
    "CONFLICT_SEVERITIES",
    "DEFAULT_RISK_SEVERITY",
    "MISSING",
    "RESERVED_SECTIONS",
    "RISK_SEVERITIES",
    "Conflict",
    "Consolidation",
    "Severity",
    "apply_decisions",
    "apply_resolution",
    "canonical_json",
    "conflict_id",
    "consolidate",
    "get_path",
    "join_path",
    "set_path",
    "split_path",
]

Severity = Literal["critical", "high", "medium", "low", "warning"]
CONFLICT_SEVERITIES: tuple[str, ...] = get_args(Severity)
RESERVED_SECTIONS = frozenset({"findings", "conflicts", "dependencies", "risk_assessment"})


class Conflict(BaseModel):
    """One path of the merged findings on which input agents disagree."""

    model_config = ConfigDict(frozen=True)

    id: str
    stage: str
    path: str
    """Dotted path inside ``findings`` (see :mod:`engine.state.finding_paths` for escaping)."""
    severity: Severity
    candidates: dict[str, Any]
    """Agent key ``STAGE.AGENT`` -> that agent's value, for the agents that report the path."""
    rule: str = "equal"
    """The comparison rule that found the values in conflict (see :mod:`engine.consolidation.compare_rules`)."""
    reason: str = ""
    """Why the values cannot all hold, in words."""
    evidence: dict[str, list[dict[str, Any]]] = {}
    """Agent key -> where that agent found its value: ``{file, line, text, value}`` items taken
    from the ``evidence`` of its result, for an operator resolving by hand."""
    resolved: bool = False
    resolution: dict[str, Any] | None = None
    """``{"value": ...}`` once resolved; the runner adds who, when and the note elsewhere."""


class Consolidation(BaseModel):
    """The outcome of one consolidation stage."""

    model_config = ConfigDict(frozen=True)

    synthesis: dict[str, Any]
    """The synthesis document, written as ``STAGE_synthesis.json``."""
    merged_findings: dict[str, Any]
    """A conflicting path holds its first candidate's value until resolved."""
    conflicts: list[Conflict]
    risks: list[dict[str, Any]]
    dependencies: list[Any]

    def conflict(self, conflict_id: str) -> Conflict:
        for item in self.conflicts:
            if item.id == conflict_id:
                return item
        raise KeyError(f"unknown conflict {conflict_id!r}")

    @property
    def open_conflicts(self) -> list[Conflict]:
        return [item for item in self.conflicts if not item.resolved]


def conflict_id(stage: str, path: str) -> str:
    """Short, stable and safe in a file name or on a command line."""
    return "c_" + hashlib.sha1(f"{stage}\0{path}".encode()).hexdigest()[:8]


def consolidate(
    stage: str,
    inputs: Mapping[str, Mapping[str, Any] | None],
    *,
    input_order: Sequence[str] | None = None,
    sections: Mapping[str, str] | None = None,
    severity_rules: Sequence[tuple[str, str]] = (),
    compare_rules: Sequence[tuple[str, str, float | None]] = (),
    timestamp: str,
) -> Consolidation:
    """Merge the results of the input agents (key ``STAGE.AGENT``; ``None`` when missing).

    Keys named in ``input_order`` but absent from ``inputs`` count as missing; keys of ``inputs``
    not named there follow in mapping order. ``severity_rules`` are ``(glob, severity)`` and
    ``compare_rules`` ``(glob, rule, tolerance)``; the first rule whose glob matches a path wins.
    """
    for pattern, severity in severity_rules:
        if severity not in CONFLICT_SEVERITIES:
            raise ValueError(
                f"severity {severity!r} of rule {pattern!r} is not one of {CONFLICT_SEVERITIES}"
            )
    for pattern, rule, _ in compare_rules:
        if rule not in RULES:
            raise ValueError(f"comparison {rule!r} of rule {pattern!r} is not one of {RULES}")
    order = list(dict.fromkeys([*(input_order or ()), *inputs]))
    warnings: list[str] = []
    results: dict[str, dict[str, Any]] = {}
    missing: list[str] = []
    for key in order:
        raw = inputs.get(key)
        if raw is None:
            missing.append(key)
        elif not isinstance(raw, Mapping):
            warnings.append(f"{key}: result is a {type(raw).__name__}, not an object; ignored")
            results[key] = {}
        else:
            results[key] = dict(raw)

    findings: dict[str, dict[str, Any]] = {}
    for key, result in results.items():
        value = result.get("findings", {})
        if not isinstance(value, Mapping):
            warnings.append(f"{key}: findings is a {type(value).__name__}, not an object; ignored")
            value = {}
        findings[key] = dict(value)

    conflicts: list[Conflict] = []
    rules = _Rules(stage, tuple(severity_rules), tuple(compare_rules), evidence_by_agent(results))
    merged = _merge(rules, [], list(findings.items()), conflicts)
    risks = merge_risks(results, warnings)
    dependencies = _merge_dependencies(results, warnings)
    section_values = _sections(order, findings, sections or {}, warnings)

    by_severity = {name: 0 for name in RISK_SEVERITIES}
    for risk in risks:
        by_severity[risk["severity"]] += 1
    synthesis: dict[str, Any] = {
        "timestamp": timestamp,
        "phase": stage,
        "inputs": order,
        "missing": missing,
        "synthesis": {
            **section_values,
            "findings": copy.deepcopy(merged),
            "conflicts": [item.model_dump() for item in conflicts],
            "dependencies": copy.deepcopy(dependencies),
            "risk_assessment": {
                "risks": copy.deepcopy(risks),
                "by_severity": by_severity,
                "highest": risks[0]["severity"] if risks else None,
            },
        },
        "decisions": default_decisions(risks),
        "summaries": _summaries(results),
        "metrics": {
            key: copy.deepcopy(result["metrics"])
            for key, result in results.items()
            if isinstance(result.get("metrics"), Mapping)
        },
        "warnings": warnings,
    }
    return Consolidation(
        synthesis=synthesis,
        merged_findings=merged,
        conflicts=conflicts,
        risks=risks,
        dependencies=dependencies,
    )


class _Rules(NamedTuple):
    stage: str
    severity: tuple[tuple[str, str], ...]
    compare: tuple[tuple[str, str, float | None], ...]
    evidence: dict[str, dict[str, list[dict[str, Any]]]]
    """Agent key -> findings path -> evidence items."""


def _merge(
    rules: _Rules, keys: list[str], reports: list[tuple[str, Any]], conflicts: list[Conflict]
) -> Any:
    """Merge ``reports`` (agent, value) found at ``keys``; disagreements go to ``conflicts``."""
    if all(isinstance(value, Mapping) for _, value in reports):
        as_str = [(agent, {str(k): v for k, v in value.items()}) for agent, value in reports]
        names = dict.fromkeys(name for _, value in as_str for name in value)
        return {
            name: _merge(
                rules,
                [*keys, name],
                [(agent, value[name]) for agent, value in as_str if name in value],
                conflicts,
            )
            for name in names
        }
    path = join_path(keys)
    rule, tolerance = _comparison(path, rules.compare)
    reason = disagreement(rule, reports, tolerance) if len(reports) > 1 else None
    if reason is not None:
        conflicts.append(
            Conflict(
                id=conflict_id(rules.stage, path),
                stage=rules.stage,
                path=path,
                severity=_severity(path, rules.severity),
                candidates={agent: copy.deepcopy(value) for agent, value in reports},
                rule=rule,
                reason=reason,
                evidence={
                    agent: copy.deepcopy(rules.evidence[agent][path])
                    for agent, _ in reports
                    if path in rules.evidence.get(agent, {})
                },
            )
        )
    return copy.deepcopy(reports[0][1])


def _severity(path: str, rules: Sequence[tuple[str, str]]) -> Severity:
    for pattern, severity in rules:
        if fnmatchcase(path, pattern):
            return cast(Severity, severity)
    return "warning"


def _comparison(
    path: str, rules: Sequence[tuple[str, str, float | None]]
) -> tuple[str, float | None]:
    for pattern, rule, tolerance in rules:
        if fnmatchcase(path, pattern):
            return rule, tolerance
    return "equal", None


def _merge_dependencies(results: Mapping[str, Mapping[str, Any]], warnings: list[str]) -> list[Any]:
    seen: dict[str, Any] = {}
    for agent, result in results.items():
        for item in as_list(result.get("dependencies"), f"{agent}: dependencies", warnings):
            seen.setdefault(canonical_json(item), copy.deepcopy(item))
    return list(seen.values())


def _sections(
    order: Sequence[str],
    findings: Mapping[str, dict[str, Any]],
    sections: Mapping[str, str],
    warnings: list[str],
) -> dict[str, Any]:
    """Section name -> the findings of the agent it names (``{}`` when that agent is missing)."""
    agent_ids = [key.rpartition(".")[2] for key in order]
    if not sections:
        sections = {
            (
                agent_id
                if agent_ids.count(agent_id) == 1 and agent_id not in RESERVED_SECTIONS
                else key.replace(".", "_")
            ): key
            for key, agent_id in zip(order, agent_ids, strict=True)
        }
    out: dict[str, Any] = {}
    for name, ref in sections.items():
        if name in RESERVED_SECTIONS:
            warnings.append(f"section {name!r} is a reserved name of the synthesis; skipped")
            continue
        matches = [
            key for key, agent_id in zip(order, agent_ids, strict=True) if ref in (key, agent_id)
        ]
        if not matches:
            warnings.append(f"section {name!r}: no input agent {ref!r}")
        elif len(matches) > 1:
            warnings.append(f"section {name!r}: {ref!r} is ambiguous, took {matches[0]}")
        out[name] = copy.deepcopy(findings.get(matches[0], {})) if matches else {}
    return out


def _summaries(results: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, result in results.items():
        summary = result.get("summary")
        if summary is None:
            continue
        out[key] = summary if isinstance(summary, str) else canonical_json(summary)
    return out


def apply_resolution(consolidation: Consolidation, conflict_id: str, value: Any) -> Consolidation:
    """Put ``value`` at the conflict's path and mark it resolved; the input is left as it was."""
    target = consolidation.conflict(conflict_id)
    findings = set_path(consolidation.merged_findings, target.path, value)
    resolution = {"value": copy.deepcopy(value)}
    conflicts = [
        item.model_copy(update={"resolved": True, "resolution": resolution}, deep=True)
        if item.id == conflict_id
        else item
        for item in consolidation.conflicts
    ]
    synthesis = copy.deepcopy(consolidation.synthesis)
    body = synthesis.setdefault("synthesis", {})
    body["findings"] = copy.deepcopy(findings)
    for entry in body.setdefault("conflicts", []):
        if isinstance(entry, dict) and entry.get("id") == conflict_id:
            entry["resolved"] = True
            entry["resolution"] = copy.deepcopy(resolution)
    return consolidation.model_copy(
        update={"synthesis": synthesis, "merged_findings": findings, "conflicts": conflicts},
        deep=True,
    )


def apply_decisions(consolidation: Consolidation, decisions: Mapping[str, Any]) -> Consolidation:
    """Lay a synthesizer's ``decisions`` over the defaults (dicts merged key by key)."""
    if not isinstance(decisions, Mapping):
        raise TypeError(f"decisions must be an object, not {type(decisions).__name__}")
    synthesis = copy.deepcopy(consolidation.synthesis)
    synthesis["decisions"] = _deep_merge(synthesis.get("decisions") or {}, decisions)
    return consolidation.model_copy(update={"synthesis": synthesis}, deep=True)


def _deep_merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    result = copy.deepcopy(dict(base))
    for key, value in over.items():
        if isinstance(result.get(key), Mapping) and isinstance(value, Mapping):
            result[key] = _deep_merge(result[key], value)
        else:
            result[key] = copy.deepcopy(value)
    return result
