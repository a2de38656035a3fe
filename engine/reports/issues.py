"""The parts of the final report that say what stands in the way: readiness for deployment,
known issues, and the decisions taken along the way."""

from __future__ import annotations

from typing import Any

from engine.reports.status_json import conflict_dict, decision_entry
from engine.reports.text import as_text
from engine.state.run_state import RunState
from engine.support.text import plain
from engine.workflow.models import ConsolidationStage

READINESS = {"PROCEED": "ready", "CONDITIONAL_PROCEED": "conditional", "BLOCK": "blocked"}
FAILED = ("failed", "missing")
MAX_EXAMPLES = 3


def _issue(kind: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"kind": kind, "message": message, **extra}


def deployment_readiness(state: RunState) -> dict[str, Any]:
    blockers: list[dict[str, Any]] = []
    warnings: list[dict[str, Any]] = []
    checkpoints = []
    for st in state.stages.values():
        if st.kind != "checkpoint" or st.passed is None:
            continue
        accepted = st.accepted
        decision = st.decision or {}
        checkpoints.append(
            {
                "stage": st.id,
                "passed": st.passed,
                "verdict": decision.get("verdict"),
                "warning_count": decision.get("warning_count"),
                "accepted": accepted,
            }
        )
        for check in decision.get("critical") or []:
            if not check.get("passed"):
                blockers.append(
                    _issue(
                        "critical_check",
                        f"{st.id}: critical check failed: {check_text(check)}",
                        stage=st.id,
                        expr=check.get("expr"),
                        value=check.get("value"),
                    )
                )
        failed_warnings = [w for w in decision.get("warnings") or [] if w.get("count", 0) > 0]
        for warning in failed_warnings:
            warnings.append(
                _issue(
                    "decision_warning",
                    f"{st.id}: warning check failed: {check_text(warning)}",
                    stage=st.id,
                    expr=warning.get("expr"),
                    value=warning.get("value"),
                )
            )
        if decision.get("verdict") == "BLOCK" and decision.get("critical_pass"):
            blockers.append(
                _issue(
                    "warning_bound",
                    f"{st.id}: {len(failed_warnings)} warning checks failed, at or above the "
                    f"BLOCK bound (conditional_below: {decision.get('conditional_below')})",
                    stage=st.id,
                )
            )
        for criterion in st.criteria:
            if criterion.get("passed"):
                continue
            severity = criterion.get("severity")
            text = f"{st.id}: criterion {criterion.get('id')} ({severity}) failed"
            extra = {"stage": st.id, "criterion": criterion.get("id"), "severity": severity}
            if accepted:
                text += f"; accepted by {accepted.get('by') or '?'}: {accepted.get('note', '')}"
                warnings.append(_issue("criterion", text, accepted=True, **extra))
            elif severity == "critical":
                blockers.append(_issue("criterion", text, **extra))
            else:
                warnings.append(_issue("criterion", text, **extra))
    for c in state.open_conflicts():
        text = f"open {c.severity} conflict {c.id} at {c.stage}: {c.path}"
        target = blockers if c.severity == "critical" else warnings
        target.append(_issue("conflict", text, conflict=c.id, stage=c.stage, severity=c.severity))
    return {
        "status": READINESS.get(state.decision or "", "undecided"),
        "verdict": state.decision,
        "blockers": blockers,
        "warnings": warnings,
        "deployment_window": "",
        "checkpoints": checkpoints,
    }


def check_text(check: dict[str, Any]) -> str:
    """A go/no-go check in words: its description (or expression) and what it gave."""
    said = check.get("description") or check.get("expr") or "?"
    if check.get("error"):
        return f"{said} (cannot be evaluated: {check['error']})"
    value = check.get("value")
    if value is None or isinstance(value, bool):
        return str(said)
    return f"{said} (value {as_text(value)})"


def known_issues(state: RunState) -> list[dict[str, Any]]:
    issues: list[dict[str, Any]] = []
    for c in state.open_conflicts():
        issues.append(
            _issue(
                "conflict",
                f"open {c.severity} conflict at {c.stage}: {c.path}",
                **conflict_dict(c),
            )
        )
    for st in state.stages.values():
        for agent in st.agents.values():
            live = [a for a in agent.attempts if not a.rolled_back]
            last = live[-1] if live else None
            ref = f"{st.id}.{agent.id}"
            if agent.status in FAILED:
                category = last.category if last else None
                error = (last.error if last else None) or agent.reason
                issues.append(
                    _issue(
                        "agent_failed",
                        f"{ref} {agent.status}: {category or 'no attempt'}: {error or ''}".rstrip(
                            ": "
                        ),
                        agent=ref,
                        status=agent.status,
                        category=category,
                        error=error,
                        attempts=len(live),
                        covered=st.covered(agent),
                    )
                )
            for attempt in live:
                if attempt.partial:
                    issues.append(
                        _issue(
                            "partial_result",
                            f"{ref} attempt {attempt.n}: only the valid part of its result kept",
                            agent=ref,
                            attempt=attempt.n,
                            error=attempt.error,
                        )
                    )
    issues += _message_groups(state)
    return issues


def _message_groups(state: RunState) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str, str], dict[str, Any]] = {}
    for message in state.messages:
        kind = message.get("message_type")
        if kind not in ("warning", "error"):
            continue
        ref = f"{message.get('stage')}.{message.get('agent')}"
        group = groups.setdefault(
            (ref, kind, ""), {"agent": ref, "message_type": kind, "count": 0, "examples": []}
        )
        group["count"] += 1
        text = plain(as_text(message.get("content")), 300)
        if text not in group["examples"] and len(group["examples"]) < MAX_EXAMPLES:
            group["examples"].append(text)
    return [
        _issue(
            f"agent_{group['message_type']}",
            f"{group['agent']}: {group['count']} {group['message_type']} message(s), e.g. "
            + "; ".join(group["examples"]),
            **group,
        )
        for group in groups.values()
    ]


def decisions(state: RunState) -> list[dict[str, Any]]:
    out = [decision_entry(entry) for entry in state.decisions_log]
    for st in state.stages.values():
        if st.kind != "consolidation" or not st.document:
            continue
        spec = state.workflow.stage(st.id) if state.workflow else None
        synth = spec.synthesizer if isinstance(spec, ConsolidationStage) else None
        by = "consolidation defaults"
        ran = st.agents.get(synth.id) if synth is not None else None
        if ran is not None and ran.status == "succeeded":
            by = f"{st.id}.{ran.id}"
        out.append(
            {
                "kind": "synthesis",
                "stage": st.id,
                "by": by,
                "at": st.document.get("timestamp"),
                "decisions": st.document.get("decisions") or {},
            }
        )
    return out
