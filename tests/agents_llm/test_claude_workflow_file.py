"""``claude-code.yaml`` loads, and every agent in it is a role the adapter knows, with the
budget, schema and secrets the LLM variant depends on."""

from __future__ import annotations

import llm_prompts
import pytest

from engine.workflow.loader import load_workflow
from engine.workflow.models import AgentSpec, AgentsStage, ConsolidationStage, Workflow
from tests.agents_llm.llm_helpers import ROOT

WORKFLOW = ROOT / "data" / "workflows" / "claude-code.yaml"


@pytest.fixture(scope="module")
def workflow() -> Workflow:
    return load_workflow(WORKFLOW)


def llm_agents(workflow: Workflow) -> list[AgentSpec]:
    found: list[AgentSpec] = []
    for stage in workflow.stages:
        if isinstance(stage, AgentsStage):
            found += stage.all_agents
        elif isinstance(stage, ConsolidationStage) and stage.synthesizer is not None:
            found.append(stage.synthesizer)
    return found


def test_seven_stages_of_the_seed(workflow: Workflow) -> None:
    assert [(s.id, s.kind) for s in workflow.stages] == [
        ("analysis", "agents"),
        ("analysis_synthesis", "consolidation"),
        ("analysis_review", "checkpoint"),
        ("implementation", "agents"),
        ("testing", "agents"),
        ("final_synthesis", "consolidation"),
        ("production_readiness", "checkpoint"),
    ]
    assert workflow.secrets == [
        "ANTHROPIC_API_KEY",
        "OPENAI_API_KEY",
        "CODEX_API_KEY",
        "GEMINI_API_KEY",
        "GOOGLE_API_KEY",
    ]
    assert {"cli", "dialect", "model", "resume_sessions", "price_per_mtok_in"} <= set(
        workflow.params
    )


def test_every_agent_runs_the_adapter_with_a_known_role(workflow: Workflow) -> None:
    agents = llm_agents(workflow)
    roles = set()
    for spec in agents:
        argv = spec.argv()
        assert argv[:2] == ["{python}", "{data}/agents/llm_agent.py"]
        role = argv[argv.index("--role") + 1]
        assert role in llm_prompts.ROLES, role
        assert "--stream" in argv and "--cli={params.cli}" in argv
        assert (
            "--dialect={params.dialect}" in argv
            and "--price-out={params.price_per_mtok_out}" in argv
        )
        assert not any(a.startswith("--cli-arg") for a in argv)  # flags every dialect spells
        assert spec.budget is not None and spec.budget.tokens and spec.budget.cost_usd
        assert spec.result_schema is not None and spec.result_schema["required"]
        roles.add(role)
    assert roles == set(llm_prompts.ROLES)


def test_implementation_roles_write_distinct_files(workflow: Workflow) -> None:
    stage = workflow.stage("implementation")
    assert isinstance(stage, AgentsStage) and stage.mode == "sequential"
    targets = [llm_prompts.role(agent.id).target for agent in stage.agents]
    assert all(targets)
    assert len({t.path for t in targets if t}) == len(targets)


def test_runtime_conflicts_follow_the_standard_workflows_rule(workflow: Workflow) -> None:
    stage = workflow.stage("analysis_synthesis")
    assert isinstance(stage, ConsolidationStage)
    assert [(r.path, r.severity) for r in stage.conflict_severity] == [("runtime.*", "critical")]
    assert [(r.path, r.rule) for r in stage.compare] == [("runtime.*", "version_in_range")]
    assert stage.synthesizer is not None


def test_only_the_read_only_analysis_agents_are_cached(workflow: Workflow) -> None:
    cached = {spec.id for spec in llm_agents(workflow) if spec.cache}
    assert cached == {"architecture", "code", "infrastructure", "synthesizer"}


def test_go_no_go_matrix_is_the_standard_ones() -> None:
    standard = load_workflow(ROOT / "data" / "workflows" / "standard.yaml")
    ours = load_workflow(WORKFLOW)
    matrices = [w.stage("production_readiness").decision for w in (standard, ours)]  # type: ignore[union-attr]
    exprs = [[c.expr for c in m.critical] + [c.expr for c in m.warnings] for m in matrices if m]
    assert exprs[0][:2] == exprs[1][:2]  # the tests' status and high-risk security checks
    assert any("tests.status in ['not_run', 'incomplete']" in e for e in exprs[1])
