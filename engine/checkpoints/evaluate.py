"""Validation checkpoints: criteria, the go/no-go matrix, and the names expressions can use."""

from __future__ import annotations

from typing import Any

from engine.state.events import CheckpointEvaluated
from engine.state.metrics import run_metrics
from engine.state.run_state import RunState
from engine.workflow.expressions import ExpressionError, evaluate
from engine.workflow.models import CheckpointStage, CriteriaMode, DecisionCheck, DecisionMatrix


def expression_context(state: RunState) -> dict[str, Any]:
    """The names an expression can read (docs/workflow-file.md), built from the folded state."""
    stages: dict[str, Any] = {}
    for sid, st in state.stages.items():
        entry: dict[str, Any] = {
            "status": st.status,
            "succeeded": st.succeeded,
            "failed": st.failed,
            "total": st.total,
            "agents": {
                aid: {
                    "status": a.status,
                    "result": a.result if a.result is not None else {},
                    "attempts": len([x for x in a.attempts if not x.rolled_back]),
                    "duration_s": a.duration_s,
                    "backup_of": a.backup_of or "",
                }
                for aid, a in st.agents.items()
            },
        }
        if st.kind == "consolidation":
            doc = st.document or {}
            entry["synthesis"] = doc.get("synthesis", {})
            entry["decisions"] = doc.get("decisions", {})
        if st.kind == "checkpoint":
            entry["passed"] = bool(st.passed)
            entry["accepted"] = st.accepted is not None
        stages[sid] = entry
    return {
        "stages": stages,
        "conflicts": [_conflict(c) for c in state.live_conflicts()],
        "open_conflicts": [_conflict(c) for c in state.open_conflicts()],
        "params": dict(state.params),
        "metrics": run_metrics(state),
        "run": {"id": state.run_id, "workflow": state.workflow_name, "status": state.status},
    }


def _conflict(c: Any) -> dict[str, Any]:
    return {
        "id": c.id,
        "stage": c.stage,
        "path": c.path,
        "severity": c.severity,
        "resolved": c.resolved,
    }


def _eval(expr: str, ctx: dict[str, Any]) -> tuple[Any, str | None]:
    try:
        return evaluate(expr, ctx), None
    except ExpressionError as exc:
        return None, exc.message


def evaluate_checkpoint(
    stage: CheckpointStage, state: RunState, mode_override: CriteriaMode | None = None
) -> CheckpointEvaluated:
    ctx = expression_context(state)
    mode = mode_override or stage.mode
    criteria = []
    passed = True
    for criterion in stage.criteria:
        value, error = _eval(criterion.expr, ctx)
        ok = value is True
        entry: dict[str, Any] = {
            "id": criterion.id,
            "passed": ok,
            "value": value,
            "severity": criterion.severity,
            "expr": criterion.expr,
        }
        if criterion.description:
            entry["description"] = criterion.description
        if error:
            entry["error"] = error
        criteria.append(entry)
        if not ok and (mode == "strict" or criterion.severity == "critical"):
            passed = False
    decision = decide(stage.decision, ctx) if stage.decision is not None else None
    return CheckpointEvaluated(
        stage=stage.id, mode=mode, passed=passed, criteria=criteria, decision=decision
    )


def decide(matrix: DecisionMatrix, ctx: dict[str, Any]) -> dict[str, Any]:
    """The go/no-go matrix (docs/workflow-file.md): every critical check passes, and fewer warning checks fail
    than the bounds. A warning check fails once (true, or a number above 0), whatever number it
    gives: the value is kept to explain it, never summed."""
    critical = []
    for item in matrix.critical:
        expr, description = _check(item)
        value, error = _eval(expr, ctx)
        critical.append(
            {
                "expr": expr,
                "description": description,
                "passed": value is True,
                "value": value,
                "error": error,
            }
        )
    warnings = []
    for item in matrix.warnings:
        expr, description = _check(item)
        value, error = _eval(expr, ctx)
        if error is None and not isinstance(value, bool | int | float):
            error = f"expected a number or a bool, got {type(value).__name__}"
        failed = error is not None or value is True or (not isinstance(value, bool) and value > 0)
        warnings.append(
            {
                "expr": expr,
                "description": description,
                "value": value,
                "count": int(failed),
                "error": error,
            }
        )
    count = sum(w["count"] for w in warnings)
    critical_pass = all(c["passed"] for c in critical)
    if critical_pass and count < matrix.proceed_below:
        verdict = "PROCEED"
    elif critical_pass and count < matrix.conditional_below:
        verdict = "CONDITIONAL_PROCEED"
    else:
        verdict = "BLOCK"
    return {
        "verdict": verdict,
        "critical_pass": critical_pass,
        "critical": critical,
        "warnings": warnings,
        "warning_count": count,
        "proceed_below": matrix.proceed_below,
        "conditional_below": matrix.conditional_below,
    }


def _check(item: str | DecisionCheck) -> tuple[str, str | None]:
    if isinstance(item, DecisionCheck):
        return item.expr, item.description
    return item, None


def accepted_verdict(decision: dict[str, Any] | None, accepted: bool) -> str | None:
    """A documented exception caps the verdict at CONDITIONAL_PROCEED; it never lifts a BLOCK."""
    if decision is None:
        return None
    verdict = decision["verdict"]
    if accepted and verdict == "PROCEED":
        return "CONDITIONAL_PROCEED"
    return verdict
