"""standard.yaml: it loads, its commands exist, and its criteria and go/no-go matrix give the right
answers when the engine's own evaluator runs them on real agent results."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from engine.checkpoints.evaluate import decide
from engine.consolidation.merge import Consolidation, apply_resolution, consolidate
from engine.workflow.expressions import evaluate
from engine.workflow.loader import load_workflow
from engine.workflow.models import AgentsStage, CheckpointStage, ConsolidationStage
from tests.agents_std.harness import AGENTS, WORKFLOW, AgentRun, run_agents

WF = load_workflow(WORKFLOW)
STAGES = {stage.id: stage for stage in WF.stages}


def test_the_seven_stages_of_the_seed() -> None:
    assert [(s.id, s.kind) for s in WF.stages] == [
        ("analysis", "agents"),
        ("analysis_synthesis", "consolidation"),
        ("analysis_review", "checkpoint"),
        ("implementation", "agents"),
        ("testing", "agents"),
        ("final_synthesis", "consolidation"),
        ("production_readiness", "checkpoint"),
    ]
    assert WF.params["fail_first_attempt"] == ""
    testing = STAGES["testing"]
    assert isinstance(testing, AgentsStage) and testing.extended is not None
    assert [a.id for a in testing.extended.agents] == ["e2e", "deployment"]


def test_every_command_names_a_bundled_script() -> None:
    commands: list[list[str]] = []
    for stage in WF.stages:
        if isinstance(stage, AgentsStage):
            for agent in stage.all_agents:
                commands += [agent.argv()]
                commands += [c for c in (agent.rollback, agent.verify) if isinstance(c, list)]
        elif isinstance(stage, ConsolidationStage) and stage.synthesizer:
            commands.append(stage.synthesizer.argv())
    scripts = {re.sub(r"^\{data\}/agents/", "", c[1]) for c in commands}
    assert all((AGENTS / name).is_file() for name in scripts), scripts
    assert len(scripts) == 13


def agents_entry(runs: dict[str, AgentRun]) -> dict[str, Any]:
    return {
        "status": "succeeded",
        "succeeded": len(runs),
        "failed": 0,
        "total": len(runs),
        "agents": {
            name: {"status": "succeeded", "result": run.result, "attempts": 1, "duration_s": 1.0}
            for name, run in runs.items()
        },
    }


def review_context(result: Consolidation, runs: dict[str, AgentRun]) -> dict[str, Any]:
    conflicts = [
        {"id": c.id, "path": c.path, "severity": c.severity, "resolved": c.resolved}
        for c in result.conflicts
    ]
    return {
        "stages": {
            "analysis": agents_entry(runs),
            "analysis_synthesis": {
                "status": "succeeded",
                "synthesis": result.synthesis["synthesis"],
                "decisions": result.synthesis["decisions"],
            },
        },
        "conflicts": conflicts,
        "open_conflicts": [c for c in conflicts if not c["resolved"]],
        "params": dict(WF.params),
        "metrics": {},
    }


def test_analysis_review_fails_on_the_open_runtime_conflict_and_passes_once_resolved(
    py_mismatch: Path,
) -> None:
    names = ("architecture", "code", "infrastructure")
    scripts = ("architecture.py", "code_patterns.py", "infrastructure.py")
    runs = dict(zip(names, run_agents(*((s, py_mismatch) for s in scripts)), strict=True))
    stage = STAGES["analysis_synthesis"]
    assert isinstance(stage, ConsolidationStage)
    result = consolidate(
        "analysis_synthesis",
        {f"analysis.{n}": r.result for n, r in runs.items()},
        sections=stage.sections,
        severity_rules=[(r.path, r.severity) for r in stage.conflict_severity],
        timestamp="2026-01-01T00:00:00Z",
    )
    review = STAGES["analysis_review"]
    assert isinstance(review, CheckpointStage)

    before = {c.id: evaluate(c.expr, review_context(result, runs)) for c in review.criteria}
    resolved = apply_resolution(result, result.conflicts[0].id, "3.12")
    after = {c.id: evaluate(c.expr, review_context(resolved, runs)) for c in review.criteria}

    assert before == {
        "all_agents_completed": True,
        "no_critical_conflicts": False,
        "architecture_map_complete": True,
        "risk_assessment_documented": True,
        "implementation_strategy_defined": True,
    }
    assert all(after.values()), after


def final_context(runs: dict[str, AgentRun], **metrics: Any) -> dict[str, Any]:
    entry = agents_entry(runs)
    entry["agents"]["deployment"] = {"status": "pending", "result": {}}
    return {
        "stages": {"testing": entry},
        "conflicts": [],
        "open_conflicts": [],
        "params": dict(WF.params),
        "metrics": {"rollback_points": 9, "rollback_points_verified": 9, **metrics},
    }


def test_go_no_go_on_the_sample_proceeds_and_blocks_on_failures(
    sample_copy: Path, risky_repo: Path
) -> None:
    scripts = ("unit_tests.py", "security.py", "documentation.py")
    names = ("unit_tests", "security", "documentation")
    runs = run_agents(*((s, sample_copy) for s in scripts), ("security.py", risky_repo))
    sample = dict(zip(names, runs[:3], strict=True))
    risky = {**sample, "security": runs[3]}
    final = STAGES["production_readiness"]
    assert isinstance(final, CheckpointStage) and final.decision is not None

    proceed = decide(final.decision, final_context(sample))
    unverified = decide(final.decision, final_context(sample, rollback_points_verified=8))
    insecure = decide(final.decision, final_context(risky))
    criteria = {c.id: evaluate(c.expr, final_context(sample)) for c in final.criteria}

    assert proceed["verdict"] == "PROCEED", proceed
    assert proceed["warning_count"] == 1
    assert unverified["verdict"] == "BLOCK"
    assert insecure["verdict"] == "BLOCK"
    assert criteria == {
        "tests_passing": True,
        "security_clear": True,
        "rollback_ready": True,
        "performance_in_range": True,
        "documentation_complete": False,
        "monitoring_configured": True,
        "conflicts_settled": True,
    }


def test_extended_agents_join_only_past_the_threshold() -> None:
    testing = STAGES["testing"]
    assert isinstance(testing, AgentsStage) and testing.extended is not None
    when = testing.extended.when
    context = {"params": dict(WF.params), "stages": {}, "conflicts": [], "open_conflicts": []}

    three = evaluate(when, {**context, "metrics": {"changed_files": 3}})
    four = evaluate(when, {**context, "metrics": {"changed_files": 4}})
    forced = evaluate(
        when,
        {**context, "params": {"extended_threshold": "0"}, "metrics": {"changed_files": 3}},
    )

    assert (three, four, forced) == (False, True, True)
