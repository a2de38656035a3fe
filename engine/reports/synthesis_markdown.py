"""The human-readable ``STAGE_consolidated.md`` of a consolidation.

Output depends only on the arguments (no clock, no environment), so rewriting the file after an
operator action changes exactly what the action changed. Agent text is untrusted: it is quoted,
collapsed to one line where it sits in a table or bullet, and truncated.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from engine.consolidation.evidence import evidence_line
from engine.consolidation.merge import RESERVED_SECTIONS, RISK_SEVERITIES, Conflict, Consolidation

MAX_ITEMS = 20
"""Entries of a list or dict shown before "(N more)"."""
MAX_TEXT = 200
"""Characters of a value shown in a bullet."""
MAX_CELL = 80
"""Characters of a value shown in a table cell."""
MAX_DEPTH = 6


def render_consolidation_markdown(
    consolidation: Consolidation,
    *,
    title: str | None = None,
    resolutions: Mapping[str, Mapping[str, Any]] | None = None,
) -> str:
    """Render the synthesis; ``resolutions`` maps conflict id -> {value, picked, note, by, at}."""
    synthesis = consolidation.synthesis
    body = synthesis.get("synthesis") or {}
    phase = str(synthesis.get("phase", ""))
    lines = [f"# {_line(title or f'Consolidation: {phase}')}", ""]
    lines += [f"- Phase: {_line(phase)}", f"- Timestamp: {_line(synthesis.get('timestamp', ''))}"]
    lines += _inputs(synthesis)
    lines += _summaries(synthesis.get("summaries") or {})
    lines += _sections(body)
    lines += _conflicts(consolidation.conflicts, resolutions or {})
    lines += _risks(body.get("risk_assessment") or {})
    lines += _heading("Dependencies")
    lines += _bullets(consolidation.dependencies) or ["_None reported._"]
    lines += _decisions(synthesis.get("decisions") or {})
    warnings = synthesis.get("warnings") or []
    if warnings:
        lines += _heading("Warnings") + [f"- {_line(item)}" for item in warnings]
    tidy = [line for n, line in enumerate(lines) if line or (n and lines[n - 1])]
    return "\n".join(tidy).strip("\n") + "\n"


def _heading(text: str, level: int = 2) -> list[str]:
    return ["", f"{'#' * level} {_line(text)}", ""]


def _inputs(synthesis: Mapping[str, Any]) -> list[str]:
    missing = set(synthesis.get("missing") or [])
    lines = _heading("Inputs")
    for key in synthesis.get("inputs") or []:
        lines.append(f"- {_line(key)}{' — **missing**' if key in missing else ''}")
    if not synthesis.get("inputs"):
        lines.append("_No input agents._")
    if missing:
        lines += ["", f"Missing: {', '.join(_line(key) for key in sorted(missing))}"]
    return lines


def _summaries(summaries: Mapping[str, Any]) -> list[str]:
    if not summaries:
        return []
    lines = _heading("Summaries")
    for key, text in summaries.items():
        lines += _heading(str(key), 3)
        lines += [f"> {row}".rstrip() for row in str(text).splitlines() or [""]]
    return lines


def _sections(body: Mapping[str, Any]) -> list[str]:
    names = [name for name in body if name not in RESERVED_SECTIONS]
    if not names:
        return []
    lines = _heading("Sections")
    for name in names:
        lines += _heading(str(name), 3)
        lines += _bullets(body[name]) or ["_(empty)_"]
    return lines


def _conflicts(
    conflicts: list[Conflict], resolutions: Mapping[str, Mapping[str, Any]]
) -> list[str]:
    lines = _heading("Conflicts")
    if not conflicts:
        return [*lines, "_No conflicts._"]
    open_count = sum(not item.resolved and item.id not in resolutions for item in conflicts)
    lines += [f"{len(conflicts)} conflict(s), {open_count} open.", ""]
    lines += [
        "| ID | Path | Severity | Why | Candidates (and where each was found) | Resolution |",
        "|---|---|---|---|---|---|",
    ]
    for item in conflicts:
        candidates = "; ".join(
            f"{agent}: {_json(value)}" + _found(item.evidence.get(agent, []))
            for agent, value in item.candidates.items()
        )
        cells = [
            item.id,
            item.path,
            item.severity,
            item.reason,
            candidates,
            _resolution(item, resolutions),
        ]
        lines.append(_row(cells))
    return lines


def _found(evidence: list[dict[str, Any]]) -> str:
    return f" (from {', '.join(evidence_line(e) for e in evidence[:3])})" if evidence else ""


def _resolution(item: Conflict, resolutions: Mapping[str, Mapping[str, Any]]) -> str:
    record = dict(item.resolution or {})
    record.update(resolutions.get(item.id) or {})
    if not item.resolved and not record:
        return "open"
    parts = [f"= {_json(record['value'])}"] if "value" in record else ["resolved"]
    for key, label in (("picked", "picked"), ("by", "by"), ("at", "at"), ("note", "note:")):
        if record.get(key):
            parts.append(f"{label} {_inline(record[key], MAX_CELL)}")
    return ", ".join(parts)


def _risks(assessment: Mapping[str, Any]) -> list[str]:
    lines = _heading("Risk assessment")
    counts = assessment.get("by_severity") or {}
    summary = ", ".join(f"{name} {counts.get(name, 0)}" for name in RISK_SEVERITIES)
    lines += [f"{summary} (highest: {assessment.get('highest') or 'none'})", ""]
    risks = assessment.get("risks") or []
    if not risks:
        return [*lines, "_No risks reported._"]
    lines += ["| ID | Severity | Title | Reported by |", "|---|---|---|---|"]
    for risk in risks:
        reporters = ", ".join(str(key) for key in risk.get("reported_by") or [])
        title = _inline(risk.get("title", ""), MAX_TEXT)
        lines.append(_row([risk.get("id", ""), risk.get("severity", ""), title, reporters]))
    return lines


def _decisions(decisions: Mapping[str, Any]) -> list[str]:
    lines = _heading("Decisions")
    strategy = decisions.get("implementation_strategy") or "_(not defined)_"
    order = decisions.get("priority_order") or []
    lines.append(f"- Implementation strategy: {_inline(strategy, MAX_TEXT * 2)}")
    lines.append(f"- Priority order: {', '.join(_inline(item) for item in order) or '_(none)_'}")
    allocation = decisions.get("resource_allocation") or {}
    lines.append("- Resource allocation:" + ("" if allocation else " _(none)_"))
    lines += _bullets(allocation, depth=1)
    known = {"implementation_strategy", "priority_order", "resource_allocation"}
    lines += _bullets({key: value for key, value in decisions.items() if key not in known})
    return lines


def _bullets(value: Any, depth: int = 0) -> list[str]:
    """Nested bullets for a dict or list; a scalar becomes a single bullet."""
    indent = "  " * depth
    if isinstance(value, Mapping):
        entries: list[tuple[str | None, Any]] = [(str(key), item) for key, item in value.items()]
    elif isinstance(value, list | tuple):
        entries = [(None, item) for item in value]
    else:
        return [f"{indent}- {_inline(value, MAX_TEXT)}"]
    lines: list[str] = []
    for key, item in entries[:MAX_ITEMS]:
        label = f"{_line(key, MAX_CELL)}:" if key is not None else ""
        nested = isinstance(item, Mapping | list | tuple) and item
        if nested and key is None and len(_json(item, MAX_CELL + 1)) <= MAX_CELL:
            nested = False
        if nested and depth + 1 < MAX_DEPTH:
            lines.append(f"{indent}- {label or '(item)'}")
            lines += _bullets(item, depth + 1)
        else:
            lines.append(f"{indent}- {label}{' ' if label else ''}{_inline(item, MAX_TEXT)}")
    if len(entries) > MAX_ITEMS:
        lines.append(f"{indent}- … ({len(entries) - MAX_ITEMS} more)")
    return lines


def _inline(value: Any, limit: int = MAX_TEXT) -> str:
    """One line of text for a value: strings as they are, anything else as compact JSON."""
    if isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=repr)
    return _line(text, limit)


def _json(value: Any, limit: int = MAX_CELL) -> str:
    """Conflict values as JSON, so that ``"3"`` and ``3`` do not look alike."""
    return _line(
        json.dumps(value, ensure_ascii=False, separators=(", ", ": "), default=repr), limit
    )


def _line(value: Any, limit: int | None = None) -> str:
    text = " ".join(str(value).split())
    if limit is not None and len(text) > limit:
        text = f"{text[:limit]}… ({len(text) - limit} more chars)"
    return text


def _row(cells: list[Any]) -> str:
    return "| " + " | ".join(_cell(cell) for cell in cells) + " |"


def _cell(value: Any) -> str:
    return _line(value).replace("|", "\\|") or " "
