"""Consolidation synthesizer: turns the analysis synthesis into the synthesis's ``decisions``.

Reads the synthesis document from ``$PHASEBOARD_INPUTS`` and answers with
``{"decisions": {"implementation_strategy", "priority_order", "resource_allocation"}}``: risks in
order of severity, a strategy that names what must be settled first, and where effort and test
capacity should go (the largest components, the most complex functions, the test runner found).
"""

from __future__ import annotations

from typing import Any

import agentlib
import repo_scan
from synthesis_view import SEVERITIES, Consolidated, consolidation, value_text


def strategy(view: Consolidated) -> str:
    risks = view.risks
    open_conflicts = [c for c in view.conflicts if not c.get("resolved")]
    steps: list[str] = []
    blocking = [c for c in open_conflicts if c.get("severity") == "critical"]
    if blocking:
        shown = "; ".join(_conflict_text(c) for c in blocking[:3])
        steps.append(f"resolve {len(blocking)} critical conflict(s) first ({shown})")
    urgent = [r for r in risks if r.get("severity") in ("critical", "high")]
    if urgent:
        ids = ", ".join(str(r.get("id")) for r in urgent[:5])
        steps.append(f"address {len(urgent)} critical/high risk(s) before other changes: {ids}")
    components = view.section("architecture_map").get("components") or []
    tests = view.section("infrastructure_state").get("tests") or {}
    steps.append(
        f"document the {len(components)} component(s) and the risk register, "
        f"and record the findings in the changelog"
    )
    if tests.get("files"):
        steps.append(f"guard every step with the existing {tests.get('runner')} suite")
    else:
        steps.append("add tests before changing behaviour: none exist yet")
    lower = [r for r in risks if r.get("severity") in ("medium", "low")]
    if lower:
        steps.append(f"track {len(lower)} medium/low risk(s) as follow-ups")
    text = "; then ".join(steps)
    return text[0].upper() + text[1:] + "."


def _conflict_text(conflict: dict[str, Any]) -> str:
    values = ", ".join(
        f"{k.rpartition('.')[2]}={value_text(v)}"
        for k, v in (conflict.get("candidates") or {}).items()
    )
    return f"{conflict.get('path')}: {values}" if values else str(conflict.get("path"))


def allocation(view: Consolidated) -> dict[str, Any]:
    architecture = view.section("architecture_map")
    code = view.section("code_patterns")
    infra = view.section("infrastructure_state")
    components = sorted(
        architecture.get("components") or [], key=lambda c: -int(c.get("lines") or 0)
    )
    hotspots = [
        f"{f.get('name')} ({f.get('path')}:{f.get('line')}, complexity {f.get('complexity')})"
        for f in (code.get("complex_functions") or [])[:5]
    ]
    by_severity = {s: sum(r.get("severity") == s for r in view.risks) for s in SEVERITIES}
    extended = by_severity["critical"] + by_severity["high"] > 0 or len(components) > 10
    agents = 5 if extended else 3
    tests = infra.get("tests") or {}
    return {
        "implementation": {
            "focus_components": [c.get("name") for c in components[:3]],
            "review_hotspots": hotspots,
        },
        "testing": {
            "runner": tests.get("runner"),
            "test_files": tests.get("files", 0),
            "extended_testing_advised": extended,
            "parallel_agents": agents,
            # cpu_percent is a share of the machine: at most 25% an agent, 60% for the phase
            "cpu_percent_per_agent": max(5, min(25, 60 // agents)),
        },
        "effort_by_severity": by_severity,
    }


def main() -> None:
    repo_scan.start("synthesizer")
    inputs = agentlib.load_inputs()
    view = consolidation(inputs)
    if not view.synthesis:
        agentlib.fail("no synthesis in $PHASEBOARD_INPUTS: run me as a consolidation synthesizer")
    stage = view.stage_id or "the consolidation"
    agentlib.progress(f"{stage}: {len(view.risks)} risks, {len(view.conflicts)} conflicts")
    decisions = {
        "implementation_strategy": strategy(view),
        "priority_order": [str(r.get("id")) for r in view.risks],
        "resource_allocation": allocation(view),
    }
    agentlib.progress(f"priority order: {', '.join(decisions['priority_order']) or '(no risks)'}")
    agentlib.result(
        {
            "summary": decisions["implementation_strategy"],
            "decisions": decisions,
            "findings": {},
            "risks": [],
            "dependencies": [],
            "metrics": {"risks": len(view.risks), "conflicts": len(view.conflicts)},
        }
    )


if __name__ == "__main__":
    main()
