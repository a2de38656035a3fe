"""Conflicts only where facts disagree: the comparison rules of a consolidation, the evidence a
conflict carries, and the go/no-go matrix counting each failed warning check once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from engine.checkpoints.evaluate import decide
from engine.consolidation.compare_rules import disagreement
from engine.consolidation.merge import consolidate
from engine.consolidation.version_ranges import Family, Range, fits, overlaps, parse_item
from engine.reports.issues import check_text
from engine.workflow.loader import WorkflowError, parse_workflow
from engine.workflow.models import DecisionCheck, DecisionMatrix
from tests.helpers import agent_cmd, run_cli

TS = "2026-01-02T03:04:05Z"
VERSIONS = [("runtime.*", "version_in_range", None)]

FITS = [
    ("3.11", ">=3.11", True),
    ("3.11", ">=3.12", False),
    ("3.14", ">=3.8", True),
    ("3.10", ">=2.7", True),
    ("3.11", ">=3.11.4", True),  # .python-version 3.11 stands for every 3.11.x
    ("3.11.2", ">=3.11.4", False),
    ("3.0", ">=2.7, !=3.0.*, !=3.1.*", False),
    ("3.13", ">=3.9,<3.13", False),
    ("3.12", "~=3.8", True),
    ("3.12", "~=3.8.0", False),
    ("3.11", "^3.9", True),  # Poetry
    ("4.0", "^3.9", False),
    ("3.10", "~3.9", False),
    ("20", ">=18", True),  # npm
    ("20", "^20.11", True),
    ("19", "^18 || ^20", False),
    ("18", "18.x", True),
    ("17", "18.x", False),
    ("15", "1.2 - 14.1", False),
    ("1.22", ">=1.21", True),  # go.mod
]


@pytest.mark.parametrize(("version", "declared", "expected"), FITS)
def test_a_version_fits_a_range_as_manifests_write_them(
    version: str, declared: str, expected: bool
) -> None:
    family, allowed = parse_item(version), parse_item(declared)
    assert isinstance(family, Family) and isinstance(allowed, Range)
    assert fits(family, allowed) is expected


def test_ranges_overlap_and_unreadable_items_are_not_guessed() -> None:
    assert overlaps(_range(">=3.8,<4"), _range(">=3.10"))
    assert not overlaps(_range(">=3.8"), _range("<3.7"))
    assert [parse_item(text) for text in ("lts/*", "latest", "${{ matrix.python }}")] == [None] * 3


def _range(text: str) -> Range:
    item = parse_item(text)
    assert isinstance(item, Range)
    return item


def test_version_rule_checks_configured_versions_against_the_declared_range() -> None:
    declared = ("analysis.architecture", ">=3.9")
    assert (
        disagreement("version_in_range", [declared, ("analysis.infra", ["3.11", "3.14"])]) is None
    )
    why = disagreement("version_in_range", [declared, ("analysis.infra", ["3.8", "3.11"])])
    assert why == "3.8 (analysis.infra) is outside >=3.9 (analysis.architecture)"
    # two environments on different versions both hold; so do two overlapping declarations
    assert disagreement("version_in_range", [("a", "3.11"), ("b", ["3.12"])]) is None
    assert disagreement("version_in_range", [("a", ">=3.8"), ("b", ">=3.10,<4")]) is None
    # a value the rule cannot read is compared as it is, never passed silently
    assert disagreement("version_in_range", [("a", ">=3.9"), ("b", "latest")]) is not None
    assert disagreement("version_in_range", [("a", ">=3.9"), ("b", ">=3.9")]) is None


def test_tolerance_and_overlap_rules() -> None:
    assert disagreement("tolerance", [("a", 81.0), ("b", 82.5)], 2) is None
    assert disagreement("tolerance", [("a", 80), ("b", 83)], 2) == (
        "83 (b) and 80 (a) are more than 2 apart"
    )
    assert disagreement("tolerance", [("a", 80), ("b", "80")], 2) is not None
    assert disagreement("overlap", [("a", ["pytest", "tox"]), ("b", "pytest")]) is None
    assert disagreement("overlap", [("a", ["pytest"]), ("b", ["unittest"])]) == (
        "a and b share no item"
    )
    assert disagreement("equal", [("a", {"x": 1}), ("b", {"x": 1.0})]) is None


def analysis(configured: list[str]) -> dict[str, Any]:
    return {
        "analysis.architecture": {
            "findings": {"runtime": {"python": ">=3.11"}},
            "evidence": {
                "runtime.python": [
                    {"file": "pyproject.toml", "line": 9, "text": 'requires-python = ">=3.11"'}
                ]
            },
        },
        "analysis.infrastructure": {
            "findings": {"runtime": {"python": configured}},
            "evidence": {
                "runtime.python": [
                    {"file": ".python-version", "line": 1, "text": v, "value": v}
                    for v in configured
                ]
                + ["not an object", {"file": ["not", "a scalar"]}]
            },
        },
    }


def test_compatible_versions_raise_no_conflict() -> None:
    result = consolidate(
        "s",
        analysis(["3.11", "3.12"]),
        severity_rules=[("runtime.*", "critical")],
        compare_rules=VERSIONS,
        timestamp=TS,
    )
    assert result.conflicts == []
    assert result.merged_findings["runtime"]["python"] == ">=3.11"


def test_a_true_conflict_carries_its_reason_and_each_candidate_its_evidence() -> None:
    result = consolidate(
        "s",
        analysis(["3.10"]),
        severity_rules=[("runtime.*", "critical")],
        compare_rules=VERSIONS,
        timestamp=TS,
    )
    (conflict,) = result.conflicts
    assert (conflict.path, conflict.severity, conflict.rule) == (
        "runtime.python",
        "critical",
        "version_in_range",
    )
    assert conflict.reason == (
        "3.10 (analysis.infrastructure) is outside >=3.11 (analysis.architecture)"
    )
    assert conflict.evidence == {
        "analysis.architecture": [
            {"file": "pyproject.toml", "line": 9, "text": 'requires-python = ">=3.11"'}
        ],
        "analysis.infrastructure": [
            {"file": ".python-version", "line": 1, "text": "3.10", "value": "3.10"}
        ],
    }
    listed = result.synthesis["synthesis"]["conflicts"][0]
    assert listed["reason"] == conflict.reason and listed["evidence"] == conflict.evidence


def test_without_a_rule_values_must_be_equal() -> None:
    result = consolidate("s", analysis(["3.12"]), timestamp=TS)
    (conflict,) = result.conflicts
    assert (conflict.rule, conflict.reason) == ("equal", "the agents report different values")


def test_bad_rules_are_refused_with_file_and_line() -> None:
    with pytest.raises(ValueError, match="comparison 'close'"):
        consolidate("s", analysis([]), compare_rules=[("x", "close", None)], timestamp=TS)
    text = """\
version: 1
name: w
stages:
  - {id: a, kind: agents, agents: [{id: x, run: [echo]}]}
  - id: merge
    kind: consolidation
    inputs: [a]
    compare:
      - {path: "metrics.*", rule: tolerance}
      - {path: "x", rule: overlap, tolerance: 2}
      - {path: "y", rule: roughly}
"""
    with pytest.raises(WorkflowError) as caught:
        parse_workflow(text, "w.yaml")
    problems = [str(p) for p in caught.value.problems]
    assert any(p.startswith("w.yaml:11:") and "rule: expected one of" in p for p in problems)
    assert "w.yaml:9:9: rule 'tolerance' needs a tolerance" in problems
    assert any(
        p.startswith("w.yaml:10:") and "only read by rule 'tolerance'" in p for p in problems
    )


def test_each_failed_warning_check_counts_once_whatever_number_it_gives() -> None:
    matrix = DecisionMatrix(
        critical=[DecisionCheck(expr="tests == 0", description="no test failed")],
        warnings=[
            "pytest_warnings",
            DecisionCheck(expr="missing_docs", description="documentation items missing"),
            "slow > 0",
        ],
    )
    ctx = {"tests": 0, "pytest_warnings": 8, "missing_docs": 4, "slow": 0}
    decision = decide(matrix, ctx)
    assert decision["verdict"] == "PROCEED"
    assert [w["count"] for w in decision["warnings"]] == [1, 1, 0]
    assert decision["warning_count"] == 2
    assert check_text(decision["warnings"][1]) == "documentation items missing (value 4)"
    assert check_text(decision["critical"][0]) == "no test failed"
    broken = decide(DecisionMatrix(warnings=["nope", "'text'"]), {})
    assert [w["count"] for w in broken["warnings"]] == [1, 1]
    assert "cannot be evaluated" in check_text(broken["warnings"][0])
    assert decide(matrix, {**ctx, "tests": 3})["verdict"] == "BLOCK"


def test_decision_checks_load_from_the_workflow_file() -> None:
    text = """\
version: 1
name: w
stages:
  - {id: a, kind: agents, agents: [{id: x, run: [echo]}]}
  - id: ready
    kind: checkpoint
    decision:
      critical:
        - {expr: "stages.a.failed == 0", description: every agent succeeded}
        - "stages.a.succeeded > 0"
      warnings:
        - {expr: "stages.a.failed", descripton: typo}
"""
    with pytest.raises(WorkflowError) as caught:
        parse_workflow(text, "w.yaml")
    assert [str(p) for p in caught.value.problems] == [
        "w.yaml:12:37: unknown key 'descripton' in warning check (did you mean 'description'?)"
    ]
    workflow = parse_workflow(text.replace("descripton", "description"), "w.yaml")
    matrix = workflow.stages[1].decision  # type: ignore[union-attr]
    assert matrix is not None and matrix.critical[1] == "stages.a.succeeded > 0"
    assert isinstance(matrix.critical[0], DecisionCheck)


def test_a_block_always_names_its_blockers_in_the_report(tmp_path: Path) -> None:
    findings = '{"docs_missing": 4, "slow": 2, "pytest_warnings": 8, "lint": 1, "todo": 3}'
    checks = ", ".join(
        f"{{expr: 'stages.a.agents.x.result.findings.{name}', description: {name} found}}"
        for name in ("docs_missing", "slow", "pytest_warnings", "lint", "todo")
    )
    (tmp_path / "w.yaml").write_text(
        f"""\
version: 1
name: w
stages:
  - id: a
    kind: agents
    agents: [{{id: x, run: {agent_cmd("--findings", findings)}}}]
  - id: ready
    kind: checkpoint
    mode: lenient
    decision:
      critical: [{{expr: "stages.a.failed == 0", description: every agent succeeded}}]
      warnings: [{checks}]
""",
        encoding="utf-8",
    )
    done = run_cli("run", "w.yaml", "--headless", "--workspace", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    report = next((tmp_path / ".phaseboard" / "runs").glob("*/final_report.md")).read_text()
    summary = report.split("## Technical details")[0]
    assert "**Verdict: BLOCK**" in summary
    assert "No blockers" not in report
    assert (
        "ready: 5 warning checks failed, at or above the BLOCK bound (conditional_below: 5)"
        in summary
    )
    assert "- ready: warning check failed: docs_missing found (value 4)" in report


def test_the_report_names_the_failing_tests_and_a_suite_not_run(tmp_path: Path) -> None:
    failed = json.dumps(
        {"tests": {"status": "failed", "passed": 3, "failed": 2, "failing": ["t::a", "t::b"]}}
    )
    not_run = json.dumps({"tests": {"status": "not_run", "reason": "no .venv", "passed": None}})
    (tmp_path / "w.yaml").write_text(
        f"""\
version: 1
name: w
stages:
  - id: a
    kind: agents
    agents:
      - {{id: unit, run: {agent_cmd("--findings", failed)}}}
      - {{id: other, run: {agent_cmd("--findings", not_run)}}}
""",
        encoding="utf-8",
    )
    done = run_cli("run", "w.yaml", "--headless", "--workspace", str(tmp_path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    report = next((tmp_path / ".phaseboard" / "runs").glob("*/final_report.md")).read_text()
    assert "- Tests (a.unit): failed: 3 passed, 2 failed; failing: `t::a`, `t::b`." in report
    assert "- Tests (a.other): not run (no .venv)." in report
