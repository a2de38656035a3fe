"""The synthesizer and the implementation agents, fed with a real consolidation of real results."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from engine.consolidation.merge import Consolidation, apply_resolution, consolidate
from engine.workflow.loader import load_workflow
from engine.workflow.models import ConsolidationStage
from tests.agents_std.harness import (
    AGENTS,
    WORKFLOW,
    AgentRun,
    make_py_mismatch,
    run_agent,
    run_agents,
)


def consolidate_analysis(repo: Path) -> tuple[Consolidation, dict[str, AgentRun]]:
    """The analysis stage and its consolidation, exactly as standard.yaml configures them."""
    names = ("architecture", "code", "infrastructure")
    runs = dict(
        zip(
            names,
            run_agents(
                ("architecture.py", repo), ("code_patterns.py", repo), ("infrastructure.py", repo)
            ),
            strict=True,
        )
    )
    stage = next(s for s in load_workflow(WORKFLOW).stages if s.id == "analysis_synthesis")
    assert isinstance(stage, ConsolidationStage)
    result = consolidate(
        "analysis_synthesis",
        {f"analysis.{name}": run.result for name, run in runs.items()},
        sections=stage.sections,
        severity_rules=[(rule.path, rule.severity) for rule in stage.conflict_severity],
        compare_rules=[(rule.path, rule.rule, rule.tolerance) for rule in stage.compare],
        timestamp="2026-01-01T00:00:00Z",
    )
    return result, runs


def stage_inputs(result: Consolidation, runs: dict[str, AgentRun], run_id: str = "r1") -> dict:
    """PHASEBOARD_INPUTS as the implementation agents get it."""
    return {
        "run_id": run_id,
        "workflow": "standard",
        "params": {},
        "stages": {
            "analysis": {
                "kind": "agents",
                "status": "succeeded",
                "agents": {n: {"status": "succeeded", "result": r.result} for n, r in runs.items()},
            },
            "analysis_synthesis": {
                "kind": "consolidation",
                "status": "succeeded",
                "synthesis": result.synthesis["synthesis"],
                "decisions": result.synthesis["decisions"],
                "conflicts": [c.model_dump() for c in result.conflicts],
            },
        },
    }


@pytest.fixture(scope="module")
def analysed_template(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, Consolidation, dict[str, AgentRun]]:
    repo = make_py_mismatch(tmp_path_factory.mktemp("template") / "mismatch")
    result, runs = consolidate_analysis(repo)
    return repo, result, runs


@pytest.fixture
def analysed(
    analysed_template: tuple[Path, Consolidation, dict[str, AgentRun]], tmp_path: Path
) -> tuple[Path, Consolidation, dict[str, AgentRun]]:
    """A fresh copy of the analysed repository, for a test to write into."""
    template, result, runs = analysed_template
    return Path(shutil.copytree(template, tmp_path / "mismatch")), result, runs


def test_consolidation_raises_the_critical_runtime_conflict(analysed: Any) -> None:
    _, result, _ = analysed

    assert [(c.path, c.severity) for c in result.conflicts] == [("runtime.python", "critical")]
    assert result.conflicts[0].candidates == {
        "analysis.architecture": ">=3.11",
        "analysis.infrastructure": ["3.10"],
    }
    assert result.conflicts[0].reason.startswith("3.10 (analysis.infrastructure) is outside")
    body = result.synthesis["synthesis"]
    assert body["architecture_map"]["components"][0]["name"] == "mismatch"
    assert body["infrastructure_state"]["tests"]["runner"] == "pytest"
    assert "markers" in body["code_patterns"]


def test_synthesizer_orders_priorities_by_severity_and_names_what_blocks(tmp_path: Path) -> None:
    risks = [
        {"id": "b_low", "severity": "low", "title": "b"},
        {"id": "z_crit", "severity": "critical", "title": "z"},
        {"id": "a_med", "severity": "medium", "title": "a"},
        {"id": "c_high", "severity": "high", "title": "c"},
        {"id": "a_crit", "severity": "critical", "title": "a"},
    ]
    synthesis = {
        "phase": "analysis_synthesis",
        "synthesis": {
            "architecture_map": {
                "components": [
                    {"name": "small", "lines": 10},
                    {"name": "big", "lines": 900},
                    {"name": "mid", "lines": 300},
                    {"name": "tiny", "lines": 1},
                ]
            },
            "code_patterns": {
                "complex_functions": [{"name": "knot", "path": "a.py", "line": 3, "complexity": 31}]
            },
            "infrastructure_state": {"tests": {"files": 0}, "resources": {"cpu_count": 4}},
            "findings": {},
            "conflicts": [
                {
                    "id": "c_1",
                    "path": "runtime.python",
                    "severity": "critical",
                    "resolved": False,
                    "candidates": {
                        "analysis.architecture": "3.11",
                        "analysis.infrastructure": "3.12",
                    },
                }
            ],
            "dependencies": [],
            "risk_assessment": {"risks": risks},
        },
    }
    workspace = tmp_path / "ws"
    workspace.mkdir()

    run = run_agent("synthesizer.py", workspace, inputs={"synthesis": synthesis, "params": {}})

    assert run.returncode == 0, run.stderr
    decisions = run.result["decisions"]
    assert decisions["priority_order"] == ["a_crit", "z_crit", "c_high", "a_med", "b_low"]
    strategy = decisions["implementation_strategy"]
    assert strategy.startswith("Resolve 1 critical conflict(s) first (runtime.python:")
    assert "architecture=3.11, infrastructure=3.12" in strategy
    assert "address 3 critical/high risk(s)" in strategy
    assert "add tests before changing behaviour" in strategy
    allocation = decisions["resource_allocation"]
    assert allocation["implementation"]["focus_components"] == ["big", "mid", "small"]
    assert allocation["implementation"]["review_hotspots"] == ["knot (a.py:3, complexity 31)"]
    assert allocation["testing"]["extended_testing_advised"] is True
    assert allocation["testing"]["parallel_agents"] == 5
    assert allocation["effort_by_severity"] == {"critical": 2, "high": 1, "medium": 1, "low": 1}


def test_synthesizer_without_a_synthesis_fails_clearly(tmp_path: Path) -> None:
    run = run_agent("synthesizer.py", tmp_path, inputs={"params": {}, "stages": {}})

    assert run.returncode == 1
    assert "no synthesis" in run.errors()[0]


def test_implementation_steps_write_their_documents(analysed: Any) -> None:
    repo, result, runs = analysed
    inputs = stage_inputs(result, runs)

    for script in ("write_architecture.py", "write_changelog.py", "write_risks.py"):
        run = run_agent(script, repo, inputs=inputs)
        assert run.returncode == 0, run.stderr
        (changed,) = run.findings["changes"].items()
        assert changed[1]["action"] == "created"

    architecture = (repo / "docs" / "ARCHITECTURE.md").read_text()
    assert architecture.startswith(
        "<!-- phaseboard:begin architecture -->\n# Architecture of mismatch"
    )
    graph = architecture.split("```mermaid\n", 1)[1].split("```", 1)[0]
    ids = dict(re.findall(r'(n\d+_\w+)\["([^"]+)"\]', graph))
    arrows = {(ids[a], ids[b]) for a, b in re.findall(r"(n\d+_\w+) --> (n\d+_\w+)", graph)}
    assert ("mismatch.cli", "mismatch.core") in arrows
    assert ("mismatch.core", "mismatch.util") in arrows
    assert "| mm | console_script | mismatch.cli:main |" in architecture
    assert "open conflict" in architecture
    changelog = (repo / "CHANGELOG.md").read_text()
    assert changelog.startswith("# Changelog\n")
    assert "## " in changelog and "phaseboard run `r1`" in changelog
    assert (
        "architecture says >=3.11, infrastructure says 3.10 (3.10 (analysis.infrastructure) is "
        "outside >=3.11 (analysis.architecture)); still open" in changelog
    )
    assert (
        "declared `>=3.11` (pyproject.toml:4); configured or tested 3.10 (.python-version:1)"
        in (architecture)
    )
    risks = (repo / "docs" / "RISKS.md").read_text()
    assert f"| {result.conflicts[0].id} | runtime.python | critical | 3.10 " in risks
    assert "infra.no_ci" in risks
    verify = subprocess.run(
        [sys.executable, str(AGENTS / "managed_doc.py"), "verify", "docs/ARCHITECTURE.md",
         "CHANGELOG.md", "docs/RISKS.md"],
        cwd=repo, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert verify.returncode == 0, verify.stdout


def test_documents_show_a_resolution(analysed: Any) -> None:
    repo, result, runs = analysed
    resolved = apply_resolution(result, result.conflicts[0].id, ">=3.11")

    run_agent("write_changelog.py", repo, inputs=stage_inputs(resolved, runs))
    run_agent("write_architecture.py", repo, inputs=stage_inputs(resolved, runs))

    assert "resolved to `>=3.11`" in (repo / "CHANGELOG.md").read_text()
    assert "conflict resolved: >=3.11" in (repo / "docs" / "ARCHITECTURE.md").read_text()


def test_changelog_entries_are_prepended_and_a_retry_rewrites_its_own(analysed: Any) -> None:
    repo, result, runs = analysed
    (repo / "CHANGELOG.md").write_text("# Changelog\n\nAll notable changes.\n\n## 1.0\n\n- first\n")

    for run_id in ("r1", "r1", "r2"):
        run = run_agent("write_changelog.py", repo, inputs=stage_inputs(result, runs, run_id))
        assert run.returncode == 0, run.stderr

    text = (repo / "CHANGELOG.md").read_text()
    assert text.startswith(
        "# Changelog\n\nAll notable changes.\n\n<!-- phaseboard:begin changelog:r2"
    )
    assert text.count("phaseboard:begin changelog:r1") == 1
    assert text.index("changelog:r2") < text.index("changelog:r1") < text.index("## 1.0")
    assert text.endswith("## 1.0\n\n- first\n")


def test_architecture_update_keeps_hand_written_text_and_rollback_removes_only_ours(
    analysed: Any,
) -> None:
    repo, result, runs = analysed
    doc = repo / "docs" / "ARCHITECTURE.md"
    doc.parent.mkdir()
    doc.write_text("# Our architecture\n\nHand-written notes.\n")

    run_agent("write_architecture.py", repo, inputs=stage_inputs(result, runs))
    once = doc.read_text()
    run_agent("write_architecture.py", repo, inputs=stage_inputs(result, runs))

    assert once.startswith("# Our architecture\n\nHand-written notes.\n\n<!-- phaseboard:begin")
    assert doc.read_text().count("phaseboard:begin architecture") == 1
    rollback = [sys.executable, str(AGENTS / "managed_doc.py"), "rollback"]
    subprocess.run([*rollback, str(doc), "architecture"], check=True, capture_output=True)
    assert doc.read_text() == "# Our architecture\n\nHand-written notes.\n"


def test_rollback_of_a_created_document_deletes_it_and_verify_accepts_absence(
    analysed: Any,
) -> None:
    repo, result, runs = analysed
    run_agent("write_risks.py", repo, inputs=stage_inputs(result, runs))
    run_agent("write_changelog.py", repo, inputs=stage_inputs(result, runs, "r7"))
    tool = [sys.executable, str(AGENTS / "managed_doc.py")]

    subprocess.run([*tool, "rollback", "docs/RISKS.md", "risks"], cwd=repo, check=True)
    subprocess.run(
        [*tool, "rollback", "CHANGELOG.md", "changelog:"], cwd=repo, check=True,
        env={"PHASEBOARD_RUN_ID": "r7"},
    )  # fmt: skip
    verify = subprocess.run([*tool, "verify", "docs/RISKS.md"], cwd=repo, capture_output=True)

    assert not (repo / "docs").exists()
    assert "phaseboard:begin" not in (repo / "CHANGELOG.md").read_text()
    assert verify.returncode == 0


def test_verify_rejects_a_malformed_document(tmp_path: Path) -> None:
    bad = tmp_path / "bad.md"
    bad.write_text("# Title\n\n<!-- phaseboard:begin risks -->\n```mermaid\ngraph LR\n")

    verify = subprocess.run(
        [sys.executable, str(AGENTS / "managed_doc.py"), "verify", str(bad)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip

    assert verify.returncode == 1
    assert "region 'risks' is not closed" in verify.stdout
    assert "code fence" in verify.stdout


def test_writer_without_a_synthesis_fails_and_writes_nothing(tmp_path: Path) -> None:
    run = run_agent("write_risks.py", tmp_path, inputs={"params": {}, "stages": {}})

    assert run.returncode == 1
    assert "no consolidated analysis" in run.errors()[0]
    assert not (tmp_path / "docs").exists()
