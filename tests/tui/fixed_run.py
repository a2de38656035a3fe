"""A fixed run history for snapshot tests: the same events, times and ids every time.

The events are written to a fresh store through the store's own ``append`` (its clock is
frozen to the event's time), so the console reads them exactly as it reads a live run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import engine.store.database as store_module
from engine.state.events import (
    AgentFinished,
    AttemptFinished,
    AttemptStarted,
    CheckpointEvaluated,
    CommandApplied,
    ConflictResolved,
    Consolidated,
    Payload,
    RollbackPointSaved,
    RunCreated,
    RunStatusChanged,
    StageFinished,
    StageStarted,
)
from engine.store.database import LogRow, Store

RUN_ID = "20250301-120000-abcd"
T0 = 1740830400.0  # 2025-03-01 12:00:00 UTC
NOW = T0 + 95.0
"""The console's frozen clock."""
WORKSPACE = "/srv/demo"
OPERATOR = "ops@console"

WORKFLOW = """\
version: 1
name: standard-mini
stages:
  - id: analysis
    kind: agents
    mode: parallel
    agents:
      - {id: architecture, title: System Architecture Analysis, run: ["true"],
         reduced_scope: {depth: 1}}
      - {id: code, title: Code and Pattern Analysis, run: ["true"], retries: 2}
      - {id: infrastructure, title: Infrastructure Analysis, run: ["true"]}
  - id: analysis_synthesis
    kind: consolidation
    inputs: [analysis]
    conflict_severity: [{path: "runtime.*", severity: critical}]
  - id: analysis_review
    kind: checkpoint
    criteria:
      - {id: all_completed, expr: "stages.analysis.succeeded == stages.analysis.total",
         severity: critical}
      - {id: no_critical_conflicts,
         expr: "open_conflicts.filter(c, c.severity == 'critical').size() == 0",
         severity: critical}
    on_failure: [manual_resolution]
  - id: implementation
    kind: agents
    mode: sequential
    agents:
      - {id: architecture_doc, title: "Step 1: docs/ARCHITECTURE.md", run: ["true"]}
      - {id: changelog, title: "Step 2: CHANGELOG.md", run: ["true"]}
  - id: production_readiness
    kind: checkpoint
    criteria:
      - {id: docs_written, expr: "stages.implementation.succeeded == 2"}
    decision:
      critical: ["stages.implementation.failed == 0"]
      warnings: ["open_conflicts.size()", "metrics.retries"]
      proceed_below: 2
      conditional_below: 4
"""

CRITICAL = {
    "id": "c_3f1a9b2e",
    "stage": "analysis_synthesis",
    "path": "runtime.python",
    "severity": "critical",
    "candidates": {"analysis.architecture": ">=3.12", "analysis.infrastructure": ["3.11"]},
    "rule": "version_in_range",
    "reason": "3.11 (analysis.infrastructure) is outside >=3.12 (analysis.architecture)",
    "evidence": {
        "analysis.architecture": [
            {"file": "pyproject.toml", "line": 7, "text": 'requires-python = ">=3.12"'}
        ],
        "analysis.infrastructure": [
            {"file": ".python-version", "line": 1, "text": "3.11", "value": "3.11"}
        ],
    },
}
WARNING = {
    "id": "c_77d0e412",
    "stage": "analysis_synthesis",
    "path": "modules.count",
    "severity": "warning",
    "candidates": {"analysis.architecture": 14, "analysis.code": 12},
}
RESULTS: dict[str, Any] = {
    "architecture": {
        "summary": "layered CLI, 3 packages",
        "findings": {
            "runtime": {"python": ">=3.12"},
            "modules": {"count": 14},
            "entry_points": ["wordstat"],
        },
        "risks": [{"id": "r_cli", "severity": "medium", "title": "no --help test"}],
    },
    "code": {
        "summary": "readable, two long functions",
        "findings": {"modules": {"count": 12}, "complexity": {"max": 11}},
        "risks": [],
    },
    "infrastructure": {
        "summary": ".python-version 3.11, no Dockerfile",
        "findings": {"runtime": {"python": ["3.11"]}, "ci": "github"},
        "risks": [{"id": "r_ci", "severity": "high", "title": "no lockfile"}],
    },
}


def _iso(ts: float) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds")


def _synthesis(resolved: bool) -> dict[str, Any]:
    findings = {
        "runtime": {"python": ">=3.11" if resolved else ">=3.12"},
        "modules": {"count": 14},
        "entry_points": ["wordstat"],
        "complexity": {"max": 11},
        "ci": "github",
    }
    conflicts = [
        dict(CRITICAL, resolved=resolved, resolution=None),
        dict(WARNING, resolved=False, resolution=None),
    ]
    risks = [RESULTS["infrastructure"]["risks"][0], RESULTS["architecture"]["risks"][0]]
    return {
        "timestamp": _iso(T0 + 8),
        "phase": "analysis_synthesis",
        "inputs": ["analysis.architecture", "analysis.code", "analysis.infrastructure"],
        "synthesis": {
            "architecture_map": RESULTS["architecture"]["findings"],
            "findings": findings,
            "conflicts": conflicts,
            "dependencies": ["click>=8"],
            "risk_assessment": {
                "risks": risks,
                "by_severity": {"high": 1, "medium": 1},
                "highest": "high",
            },
        },
        "decisions": {"implementation_strategy": "document the CLI, then pin the runtime"},
    }


def _agents_stage(t: float) -> list[tuple[float, Payload]]:
    out: list[tuple[float, Payload]] = [(t, StageStarted(stage="analysis"))]
    for name in ("architecture", "code", "infrastructure"):
        out.append((t + 0.1, AttemptStarted(stage="analysis", agent=name, attempt=1)))
    out += [
        (
            t + 1.2,
            AttemptFinished(
                stage="analysis",
                agent="code",
                attempt=1,
                status="failed",
                category="agent_failure",
                exit_code=1,
                duration_s=1.1,
                peak_rss_mb=18.2,
                error="exit code 1",
            ),
        ),
        (t + 2.2, AttemptStarted(stage="analysis", agent="code", attempt=2)),
        (
            t + 2.5,
            AttemptFinished(
                stage="analysis",
                agent="architecture",
                attempt=1,
                status="succeeded",
                duration_s=2.4,
                peak_rss_mb=31.5,
            ),
        ),
        (
            t + 2.5,
            AgentFinished(
                stage="analysis",
                agent="architecture",
                status="succeeded",
                result=RESULTS["architecture"],
            ),
        ),
        (
            t + 3.1,
            AttemptFinished(
                stage="analysis",
                agent="infrastructure",
                attempt=1,
                status="succeeded",
                duration_s=3.0,
                peak_rss_mb=24.0,
            ),
        ),
        (
            t + 3.1,
            AgentFinished(
                stage="analysis",
                agent="infrastructure",
                status="succeeded",
                result=RESULTS["infrastructure"],
            ),
        ),
        (
            t + 4.0,
            AttemptFinished(
                stage="analysis",
                agent="code",
                attempt=2,
                status="succeeded",
                duration_s=1.8,
                peak_rss_mb=20.4,
            ),
        ),
        (
            t + 4.0,
            AgentFinished(
                stage="analysis", agent="code", status="succeeded", result=RESULTS["code"]
            ),
        ),
        (t + 4.1, StageFinished(stage="analysis", status="succeeded")),
    ]
    return out


def _point(
    n: int, stage: str, t: float, agent: str | None = None, files: int = 12
) -> tuple[float, Payload]:
    return (
        t,
        RollbackPointSaved(
            id=f"rp{n}",
            stage=stage,
            agent=agent,
            manifest_id=n,
            files=files,
            bytes=40_960,
            at=_iso(t),
            verified=True,
        ),
    )


def paused_history() -> list[tuple[float, str, Payload]]:
    """Up to the pause: analysis done (one retry), two conflicts, the review failed."""
    run_dir = f"{WORKSPACE}/.phaseboard/runs/{RUN_ID}"
    items: list[tuple[float, Payload]] = [
        (
            T0,
            RunCreated(
                workflow="standard-mini",
                workflow_path=f"{WORKSPACE}/flow.yaml",
                workflow_text=WORKFLOW,
                workspace=WORKSPACE,
                run_dir=run_dir,
            ),
        ),
        (T0 + 0.1, RunStatusChanged(status="running")),
        _point(1, "analysis", T0 + 0.2),
        *_agents_stage(T0 + 0.3),
        _point(2, "analysis_synthesis", T0 + 4.5),
        (T0 + 4.6, StageStarted(stage="analysis_synthesis")),
        (
            T0 + 4.8,
            Consolidated(
                stage="analysis_synthesis",
                document=_synthesis(False),
                conflicts=[CRITICAL, WARNING],
            ),
        ),
        (T0 + 4.9, StageFinished(stage="analysis_synthesis", status="succeeded")),
        _point(3, "analysis_review", T0 + 5.0),
        (T0 + 5.1, StageStarted(stage="analysis_review")),
        (
            T0 + 5.2,
            CheckpointEvaluated(
                stage="analysis_review",
                mode="strict",
                passed=False,
                criteria=[
                    {"id": "all_completed", "passed": True, "value": True, "severity": "critical"},
                    {
                        "id": "no_critical_conflicts",
                        "passed": False,
                        "value": False,
                        "severity": "critical",
                    },
                ],
            ),
        ),
        (
            T0 + 5.3,
            StageFinished(
                stage="analysis_review",
                status="failed",
                reason="checkpoint analysis_review failed: no_critical_conflicts",
            ),
        ),
        (
            T0 + 5.4,
            RunStatusChanged(
                status="paused",
                reason="checkpoint analysis_review failed: no_critical_conflicts",
                awaiting=[
                    f"resolve conflict c_3f1a9b2e (runtime.python, critical): phaseboard resolve "
                    f"{RUN_ID} c_3f1a9b2e --pick {{analysis.architecture | analysis.infrastructure}}",
                    f"or accept the failed criteria (no_critical_conflicts): phaseboard accept "
                    f"{RUN_ID} analysis_review --note TEXT",
                ],
            ),
        ),
    ]
    return [(t, "", p) for t, p in items]


def complete_history() -> list[tuple[float, str, Payload]]:
    """The operator resolved the critical conflict; implementation ran; a verdict."""
    t = T0 + 60.0
    at = _iso(t)
    decision = {
        "verdict": "CONDITIONAL_PROCEED",
        "critical_pass": True,
        "critical": [
            {
                "expr": "stages.implementation.failed == 0",
                "passed": True,
                "value": True,
                "error": None,
            }
        ],
        "warnings": [
            {"expr": "open_conflicts.size()", "value": 1, "count": 1, "error": None},
            {"expr": "metrics.retries", "value": 1, "count": 1, "error": None},
        ],
        "warning_count": 2,
        "proceed_below": 2,
        "conditional_below": 4,
    }
    items: list[tuple[float, str, Payload]] = [
        (
            t,
            OPERATOR,
            ConflictResolved(
                conflict="c_3f1a9b2e",
                stage="analysis_synthesis",
                path="runtime.python",
                value=">=3.11",
                picked="analysis.infrastructure",
                note="3.11 is supported",
                by=OPERATOR,
                at=at,
            ),
        ),
        (
            t,
            OPERATOR,
            CommandApplied(
                command_id=1,
                command="resolve",
                ok=True,
                message="conflict c_3f1a9b2e (runtime.python) resolved",
                by=OPERATOR,
            ),
        ),
        (
            t + 0.1,
            "",
            CheckpointEvaluated(
                stage="analysis_review",
                mode="strict",
                passed=True,
                criteria=[
                    {"id": "all_completed", "passed": True, "value": True, "severity": "critical"},
                    {
                        "id": "no_critical_conflicts",
                        "passed": True,
                        "value": True,
                        "severity": "critical",
                    },
                ],
            ),
        ),
        (t + 1.0, "", RunStatusChanged(status="running")),
        (t + 1.1, "", StageFinished(stage="analysis_review", status="succeeded")),
    ]
    seq: list[tuple[float, Payload]] = [
        _point(4, "implementation", t + 1.2),
        (t + 1.3, StageStarted(stage="implementation")),
        (t + 1.4, AttemptStarted(stage="implementation", agent="architecture_doc", attempt=1)),
        (
            t + 3.0,
            AttemptFinished(
                stage="implementation",
                agent="architecture_doc",
                attempt=1,
                status="succeeded",
                duration_s=1.6,
                peak_rss_mb=15.1,
            ),
        ),
        (
            t + 3.0,
            AgentFinished(
                stage="implementation",
                agent="architecture_doc",
                status="succeeded",
                result={"summary": "wrote the doc"},
            ),
        ),
        _point(5, "implementation", t + 3.1, agent="changelog", files=13),
        (t + 3.2, AttemptStarted(stage="implementation", agent="changelog", attempt=1)),
        (
            t + 4.0,
            AttemptFinished(
                stage="implementation",
                agent="changelog",
                attempt=1,
                status="succeeded",
                duration_s=0.8,
                peak_rss_mb=14.9,
            ),
        ),
        (
            t + 4.0,
            AgentFinished(
                stage="implementation",
                agent="changelog",
                status="succeeded",
                result={"summary": "added an entry"},
            ),
        ),
        (
            t + 4.2,
            StageFinished(
                stage="implementation",
                status="succeeded",
                changes={
                    "added": ["CHANGELOG.md", "docs/ARCHITECTURE.md"],
                    "modified": ["README.md"],
                },
            ),
        ),
        _point(6, "production_readiness", t + 4.3, files=14),
        (t + 4.4, StageStarted(stage="production_readiness")),
        (
            t + 4.5,
            CheckpointEvaluated(
                stage="production_readiness",
                mode="strict",
                passed=True,
                criteria=[
                    {"id": "docs_written", "passed": True, "value": True, "severity": "warning"}
                ],
                decision=decision,
            ),
        ),
        (t + 4.6, StageFinished(stage="production_readiness", status="succeeded")),
        (t + 4.7, RunStatusChanged(status="completed", decision="CONDITIONAL_PROCEED")),
    ]
    return paused_history() + items + [(ts, "", p) for ts, p in seq]


def log_rows() -> list[LogRow]:
    rows = []
    for agent, attempts in (("architecture", 1), ("code", 2), ("infrastructure", 1)):
        for n in range(1, attempts + 1):
            base = T0 + 0.4 + n
            rows.append(
                LogRow("analysis", agent, n, "stdout", base, f"{agent} attempt {n} starting")
            )
            rows.append(LogRow("analysis", agent, n, "stderr", base, "progress on stderr"))
            if agent == "code" and n == 1:
                rows.append(LogRow("analysis", agent, n, "stderr", base, "failing on purpose"))
                continue
            for i in range(6):
                rows.append(
                    LogRow(
                        "analysis", agent, n, "stdout", base + i / 10, f"scanned {i * 7 + 3} files"
                    )
                )
            rows.append(LogRow("analysis", agent, n, "stdout", base + 1, "result sent"))
    return rows


class _FrozenTime:
    def __init__(self) -> None:
        self.now = T0

    def time(self) -> float:
        return self.now


async def write_fixed_run(db: Path, *, complete: bool) -> None:
    """A fresh store at ``db`` holding the fixed history (paused, or complete)."""
    history = complete_history() if complete else paused_history()
    clock = _FrozenTime()
    real = store_module.time
    store_module.time = clock  # type: ignore[assignment]
    try:
        store = await Store.open(db)
        try:
            await store.create_run(
                RUN_ID, "standard-mini", WORKSPACE, f"{WORKSPACE}/.phaseboard/runs/{RUN_ID}"
            )
            for ts, operator, payload in history:
                clock.now = ts
                await store.append(RUN_ID, [payload], operator=operator)
            await store.append_logs(RUN_ID, log_rows())
        finally:
            await store.close()
    finally:
        store_module.time = real  # type: ignore[assignment]
