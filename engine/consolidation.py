"""Merging the results of a consolidation's input agents into the seed's synthesis.

Everything here is a pure function of its arguments: the runner feeds agent results in and
persists what comes out, so the same inputs always give the same synthesis and conflict ids.

Paths name a place inside ``findings``: the keys from the top, joined with ``.``. Inside a key,
``\\`` is written ``\\\\`` and ``.`` is written ``\\.``, so :func:`split_path` undoes
:func:`join_path` whatever the keys contain. Only dicts are descended into: a list is one leaf
value and is compared whole, because list positions rarely mean the same thing to two agents.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from enum import Enum
from fnmatch import fnmatchcase
from typing import Any, Literal, cast, get_args

from pydantic import BaseModel, ConfigDict

Severity = Literal["critical", "high", "medium", "low", "warning"]
CONFLICT_SEVERITIES: tuple[str, ...] = get_args(Severity)
RISK_SEVERITIES: tuple[str, ...] = ("critical", "high", "medium", "low")
_RISK_RANK = {name: rank for rank, name in enumerate(RISK_SEVERITIES)}
DEFAULT_RISK_SEVERITY = "medium"
"""Given to a risk whose severity is missing or unknown: loud enough not to be overlooked."""
RESERVED_SECTIONS = frozenset({"findings", "conflicts", "dependencies", "risk_assessment"})


class _Missing(Enum):
    MISSING = "MISSING"


MISSING = _Missing.MISSING
"""Default of :func:`get_path`: raise ``KeyError`` when the path is absent."""


class Conflict(BaseModel):
    """One path of the merged findings on which input agents disagree."""

    model_config = ConfigDict(frozen=True)

    id: str
    stage: str
    path: str
    """Dotted path inside ``findings`` (see the module docstring for escaping)."""
    severity: Severity
    candidates: dict[str, Any]
    """Agent key ``STAGE.AGENT`` -> that agent's value, for the agents that report the path."""
    resolved: bool = False
    resolution: dict[str, Any] | None = None
    """``{"value": ...}`` once resolved; the runner adds who, when and the note elsewhere."""


class Consolidation(BaseModel):
    """The outcome of one consolidation stage."""

    model_config = ConfigDict(frozen=True)

    synthesis: dict[str, Any]
    """The seed's template, written as ``STAGE_synthesis.json``."""
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


def join_path(keys: Iterable[str]) -> str:
    parts = [str(key).replace("\\", "\\\\").replace(".", "\\.") for key in keys]
    if not parts:
        raise ValueError("a path needs at least one key")
    return ".".join(parts)


def split_path(dotted: str) -> list[str]:
    keys: list[str] = []
    current: list[str] = []
    chars = iter(dotted)
    for char in chars:
        if char == "\\":
            current.append(next(chars, "\\"))
        elif char == ".":
            keys.append("".join(current))
            current = []
        else:
            current.append(char)
    keys.append("".join(current))
    return keys


def get_path(d: Mapping[str, Any], dotted: str, default: Any = MISSING) -> Any:
    """The value at ``dotted``; ``default`` if absent, or ``KeyError`` when no default is given."""
    node: Any = d
    for key in split_path(dotted):
        if not isinstance(node, Mapping) or key not in node:
            if default is MISSING:
                raise KeyError(dotted)
            return default
        node = node[key]
    return node


def set_path(d: Mapping[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    """A deep copy of ``d`` with ``value`` at ``dotted``; missing dicts on the way are created.

    Raises ``TypeError`` rather than overwrite a non-dict value standing on the way.
    """
    result = copy.deepcopy(dict(d))
    keys = split_path(dotted)
    node = result
    for depth, key in enumerate(keys[:-1]):
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise TypeError(f"{join_path(keys[: depth + 1])!r} is not a dict")
        node = child
    node[keys[-1]] = copy.deepcopy(value)
    return result


def canonical_json(value: Any) -> str:
    """The form in which values are compared: key order and ``3`` vs ``3.0`` do not matter."""
    return json.dumps(
        _normalise(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=repr
    )


def _normalise(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {str(key): _normalise(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_normalise(item) for item in value]
    return value


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
    timestamp: str,
) -> Consolidation:
    """Merge the results of the input agents (key ``STAGE.AGENT``; ``None`` when missing).

    Keys named in ``input_order`` but absent from ``inputs`` count as missing; keys of ``inputs``
    not named there follow in mapping order.
    """
    for pattern, severity in severity_rules:
        if severity not in CONFLICT_SEVERITIES:
            raise ValueError(
                f"severity {severity!r} of rule {pattern!r} is not one of {CONFLICT_SEVERITIES}"
            )
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
    merged = _merge(stage, [], list(findings.items()), severity_rules, conflicts)
    risks = _merge_risks(results, warnings)
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
        "decisions": _default_decisions(risks),
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


def _merge(
    stage: str,
    keys: list[str],
    reports: list[tuple[str, Any]],
    rules: Sequence[tuple[str, str]],
    conflicts: list[Conflict],
) -> Any:
    """Merge ``reports`` (agent, value) found at ``keys``; disagreements go to ``conflicts``."""
    if all(isinstance(value, Mapping) for _, value in reports):
        as_str = [(agent, {str(k): v for k, v in value.items()}) for agent, value in reports]
        names = dict.fromkeys(name for _, value in as_str for name in value)
        return {
            name: _merge(
                stage,
                [*keys, name],
                [(agent, value[name]) for agent, value in as_str if name in value],
                rules,
                conflicts,
            )
            for name in names
        }
    values = [value for _, value in reports]
    mixed = any(isinstance(value, Mapping) for value in values)
    if mixed or len({canonical_json(value) for value in values}) > 1:
        path = join_path(keys)
        conflicts.append(
            Conflict(
                id=conflict_id(stage, path),
                stage=stage,
                path=path,
                severity=_severity(path, rules),
                candidates={agent: copy.deepcopy(value) for agent, value in reports},
            )
        )
    return copy.deepcopy(values[0])


def _severity(path: str, rules: Sequence[tuple[str, str]]) -> Severity:
    for pattern, severity in rules:
        if fnmatchcase(path, pattern):
            return cast(Severity, severity)
    return "warning"


def _merge_risks(
    results: Mapping[str, Mapping[str, Any]], warnings: list[str]
) -> list[dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    for agent, result in results.items():
        for item in _as_list(result.get("risks"), f"{agent}: risks", warnings):
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


def _merge_dependencies(results: Mapping[str, Mapping[str, Any]], warnings: list[str]) -> list[Any]:
    seen: dict[str, Any] = {}
    for agent, result in results.items():
        for item in _as_list(result.get("dependencies"), f"{agent}: dependencies", warnings):
            seen.setdefault(canonical_json(item), copy.deepcopy(item))
    return list(seen.values())


def _as_list(value: Any, what: str, warnings: list[str]) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return list(value)
    warnings.append(f"{what} is a {type(value).__name__}, not a list; taken as one item")
    return [value]


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


def _default_decisions(risks: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
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
