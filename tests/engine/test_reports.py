"""The run folder's files: final report, continuity, per-stage files and full logs, from real events."""

from __future__ import annotations

import json
import stat
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from engine.reports.final_report import final_report, render_continuity, render_final_markdown
from engine.reports.writer import ReportWriter
from engine.state.metrics import run_metrics
from engine.state.run_state import RunState
from engine.store.database import LogRow, Store
from engine.support.atomic import atomic_writer, write_json_atomic, write_text_atomic
from tests.engine.test_status_view import (
    ARCH,
    CODE,
    INDENT_CONFLICT,
    PYTHON_CONFLICT,
    RUN_ID,
    Run,
    build_run,
)

LINES_PER_ATTEMPT = 6000


@pytest.fixture
async def run(tmp_path: Path) -> AsyncIterator[Run]:
    built = await build_run(tmp_path)
    yield built
    await built.store.close()


@pytest.fixture
async def proceed_run(tmp_path: Path) -> AsyncIterator[Run]:
    built = await build_run(tmp_path, proceed=True)
    yield built
    await built.store.close()


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.name.endswith(".tmp")]


# -- final report ----------------------------------------------------------------------------


async def test_final_report_of_a_blocked_run(run: Run) -> None:
    report = final_report(run.state)
    json.loads(json.dumps(report))
    assert report["run"]["id"] == RUN_ID
    assert (report["run"]["status"], report["run"]["decision"]) == ("paused", "BLOCK")

    summary = report["project_summary"]
    assert (summary["tests_passed"], summary["tests_failed"]) == (8, 1)
    assert summary["documentation_updated"] == ["README.md", "docs/guide.md"]
    (change,) = summary["changes_implemented"]
    assert change["stage"] == "analysis"
    assert change["added"] == ["docs/guide.md"]
    assert change["modified"] == ["src/app.py", "README.md"]
    assert change["agents"] == [
        {"agent": "architecture", "summary": ARCH["summary"]},
        {"agent": "code", "summary": CODE["summary"]},
    ]
    assert summary["performance_impact"] == {
        "analysis.architecture": {"metrics": {"files": 12}},
        "analysis.code": {"performance": {"degradations": 0}},
    }

    ready = report["deployment_readiness"]
    assert ready["status"] == "blocked"
    assert ready["deployment_window"] == ""
    blockers = [
        (b["kind"], b.get("criterion") or b.get("conflict") or b.get("expr"))
        for b in ready["blockers"]
    ]
    python = run.conflicts[PYTHON_CONFLICT]
    assert blockers == [
        ("critical_check", "open_conflicts.filter(c, c.severity == 'critical').size() == 0"),
        ("criterion", "all_completed"),
        ("conflict", python),
    ]
    warnings = [
        (w["kind"], w.get("criterion") or w.get("conflict") or w.get("expr"))
        for w in ready["warnings"]
    ]
    assert warnings[:2] == [
        ("decision_warning", "stages.analysis.failed"),
        ("criterion", "no_open_conflicts"),
    ]
    assert {w[1] for w in warnings[2:]} == {
        run.conflicts["tests.passed"],
        run.conflicts["tests.failed"],
    }
    assert ready["checkpoints"] == [
        {
            "stage": "production_readiness",
            "passed": False,
            "verdict": "BLOCK",
            "warning_count": 1,
            "accepted": None,
        }
    ]

    assert report["monitoring_setup"] == {
        "metrics_configured": [],
        "alerts_defined": ["cpu_high"],
        "dashboards_created": ["overview"],
    }
    plan = report["rollback_plan"]
    assert plan["procedures"] == [
        {
            "id": "rp1",
            "stage": "analysis",
            "agent": None,
            "at": "2026-01-02T03:04:05+00:00",
            "files": 3,
            "verified": True,
            "command": f"phaseboard rollback {RUN_ID} rp1",
        }
    ]
    (step,) = plan["validation_steps"]
    assert step["agent"] == "analysis.architecture"
    assert step["command"] == f"{sys.executable} -m pytest -q {run.workspace}"
    assert "the go/no-go decision at production_readiness is BLOCK" in plan["triggers"]
    assert "a validation step fails" in plan["triggers"]
    assert report["metrics"] == run_metrics(run.state)


async def test_known_issues_and_decisions(run: Run) -> None:
    report = final_report(run.state)
    issues = report["known_issues"]
    kinds = [i["kind"] for i in issues]
    assert kinds == ["conflict"] * 3 + ["agent_failed", "agent_warning"]
    failed = issues[3]
    assert failed["agent"] == "analysis.infra"
    assert failed["category"] == "agent_failure"
    assert failed["error"].startswith("boom")
    assert failed["attempts"] == 1
    warning = issues[4]
    assert (warning["agent"], warning["count"]) == ("analysis.code", 2)
    assert warning["examples"] == ["deprecated API used"]

    decisions = report["decisions"]
    assert [d["kind"] for d in decisions] == ["resolve", "synthesis"]
    resolve = decisions[0]
    assert resolve["conflict"] == run.conflicts[INDENT_CONFLICT]
    assert (resolve["by"], resolve["picked"], resolve["note"]) == (
        "alice@host",
        "analysis.code",
        "house style",
    )
    synthesis = decisions[1]
    assert synthesis["stage"] == "analysis_synthesis"
    assert synthesis["by"] == "consolidation defaults"
    assert synthesis["decisions"]["priority_order"] == ["no_tls"]


async def test_final_markdown_opens_with_the_verdict(run: Run) -> None:
    report = final_report(run.state)
    text = render_final_markdown(report)
    assert text == render_final_markdown(json.loads(json.dumps(report)))
    headings = [line for line in text.splitlines() if line.startswith("## ")]
    assert headings[:3] == [
        "## Executive summary",
        "## Technical details",
        "## Deployment readiness",
    ]
    assert headings[-1] == "## Metrics"
    summary = text.split("## Technical details")[0]
    assert "**Verdict: BLOCK** — do not deploy." in summary
    assert "3 blocker(s)" in summary
    assert "- Tests (analysis.architecture): failed: 5 passed, 1 failed." in summary
    assert "- Tests (analysis.code): passed: 3 passed, 0 failed." in summary
    assert "\x1b" not in text
    assert f"phaseboard rollback {RUN_ID} rp1" in text
    assert "| failures_by_category.timeout | 1 |" in text


async def test_final_report_has_the_quality_metrics_with_their_sources(run: Run) -> None:
    report = final_report(run.state)
    quality = report["metrics"]["quality_metrics"]
    assert quality["test_coverage"]["value"] is None  # no agent measured it: null, never 0
    assert quality["documentation_completeness"]["source"] is None
    assert quality["error_rate"]["by_category"] == {"timeout": 1, "agent_failure": 1}
    metrics = render_final_markdown(report).split("\n## Metrics\n")[1]
    assert "quality_metrics." not in metrics and "agent_performance." not in metrics
    quality_table = metrics.split("### Quality metrics")[1].split("###")[0]
    assert "| test coverage | not measured | no agent reported findings.coverage.percent | - |" in (
        quality_table
    )
    assert (
        "| error rate | 50.0% | 2 failed of 4 attempts (timeout 1, agent_failure 1) "
        "| the run's attempts (rolled-back attempts left out) |"
    ) in quality_table
    efficiency = metrics.split("### Resource efficiency")[1]
    assert "time held back by `cpu_percent` counts as wall time" in efficiency
    assert "| the run | 0.01 | 0.7 | 63.0 | 0.0 | 3 |" in efficiency
    assert "| analysis.architecture | 0.01 | 0.7 | 61.5 | 0.0 | 2 |" in efficiency
    assert "| analysis.infra | not measured | - | - | - | 0 |" in efficiency  # failed at once


async def test_a_proceed_run_is_ready(proceed_run: Run) -> None:
    report = final_report(proceed_run.state)
    ready = report["deployment_readiness"]
    assert ready["status"] == "ready"
    assert ready["blockers"] == []
    assert report["project_summary"]["tests_passed"] == 8
    text = render_final_markdown(report)
    assert "**Verdict: PROCEED** — ready to deploy." in text
    assert "- No blockers." in text
    continuity = render_continuity(proceed_run.state)
    assert "Nothing: the run is finished (PROCEED)" in continuity
    assert "## Open conflicts\n\n_None._" in continuity


async def test_undecided_run(run: Run) -> None:
    run.state.decision = None
    report = final_report(run.state)
    assert report["deployment_readiness"]["status"] == "undecided"
    assert "**Verdict: none yet**" in render_final_markdown(report)


# -- SESSION_CONTINUITY.md -------------------------------------------------------------------


async def test_continuity_names_the_exact_commands(run: Run) -> None:
    text = render_continuity(run.state)
    python = run.conflicts[PYTHON_CONFLICT]
    assert "- Status: paused (checkpoint production_readiness failed)" in text
    assert "- Last completed stage: analysis_synthesis" in text
    assert "- Current stage: production_readiness" in text
    for agent in ("analysis.architecture", "analysis.code"):
        assert f"`phaseboard resolve {RUN_ID} {python} --pick {agent}`" in text
    assert f'`phaseboard resolve {RUN_ID} {python} --value \'"3.11"\' --note "..."`' in text
    assert f'`phaseboard accept {RUN_ID} production_readiness --note "..."`' in text
    assert f"`phaseboard retry {RUN_ID} analysis.infra`" in text
    assert f"`phaseboard retry {RUN_ID} analysis.infra --backup`" in text
    assert f"`phaseboard rollback {RUN_ID} rp1`" in text
    assert f"then `phaseboard resume {RUN_ID}`." in text
    assert run.conflicts[INDENT_CONFLICT] not in text.split("## Open conflicts")[1].split("##")[0]
    assert "by alice@host: resolved conflict" in text
    assert text == render_continuity(run.state)


# -- the files -------------------------------------------------------------------------------


async def _add_logs(store: Store) -> str:
    """Two attempts of architecture (one ending mid-line), interleaved with another agent's
    rows; returns the expected ``architecture.log``."""
    rows: list[LogRow] = []
    expected = ["--- attempt 1 ---\n"]
    for i in range(LINES_PER_ATTEMPT):
        rows.append(LogRow("analysis", "architecture", 1, "stdout", 1.0, f"a1 line {i}"))
        rows.append(LogRow("analysis", "code", 1, "stdout", 1.0, f"other {i}"))
        expected.append(f"a1 line {i}\n")
    for text, partial in (("x" * 10, True), ("y" * 10, True), ("z", False), ("tail", True)):
        rows.append(LogRow("analysis", "architecture", 1, "stderr", 1.0, text, partial))
    expected.append("x" * 10 + "y" * 10 + "z\n" + "tail\n")
    expected.append("--- attempt 2 ---\n")
    for i in range(LINES_PER_ATTEMPT):
        rows.append(LogRow("analysis", "architecture", 2, "stdout", 2.0, f"a2 line {i} é"))
        expected.append(f"a2 line {i} é\n")
    for start in range(0, len(rows), 1000):
        await store.append_logs(RUN_ID, rows[start : start + 1000])
    return "".join(expected)


async def test_write_all_rebuilds_every_file_from_the_database(run: Run, tmp_path: Path) -> None:
    expected_log = await _add_logs(run.store)
    state = RunState.fold(RUN_ID, await run.store.events(RUN_ID))
    out = tmp_path / "out"
    written = await ReportWriter(run.store, state, run.run_dir).write_all(out)

    names = sorted(str(p.relative_to(out)) for p in written)
    assert names == sorted(
        [
            "analysis/architecture.json",
            "analysis/code.json",
            "analysis/architecture.log",
            "analysis/code.log",
            "analysis/infra.log",
            "analysis_synthesis_synthesis.json",
            "analysis_synthesis_consolidated.md",
            "production_readiness_validation.json",
            "SESSION_CONTINUITY.md",
            "final_report.md",
            "final_report.json",
        ]
    )
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()) == names
    assert _temp_files(out) == []
    for path in written:
        assert _mode(path) == 0o600, path
    assert _mode(out) == 0o700 and _mode(out / "analysis") == 0o700

    assert (out / "analysis/architecture.log").read_text(encoding="utf-8") == expected_log
    code_log = (out / "analysis/code.log").read_text(encoding="utf-8")
    assert code_log.splitlines()[0] == "--- attempt 1 ---"
    assert code_log.splitlines()[-1] == f"other {LINES_PER_ATTEMPT - 1}"
    assert (out / "analysis/infra.log").read_text() == "--- attempt 1 ---\n"

    assert json.loads((out / "analysis/architecture.json").read_text()) == ARCH
    assert json.loads((out / "final_report.json").read_text()) == json.loads(
        json.dumps(final_report(state))
    )
    assert (out / "SESSION_CONTINUITY.md").read_text() == render_continuity(state)
    assert (out / "final_report.md").read_text() == render_final_markdown(final_report(state))

    again = tmp_path / "again"
    await ReportWriter(run.store, state, run.run_dir).write_all(again)
    for path in written:
        assert (again / path.relative_to(out)).read_bytes() == path.read_bytes()


async def test_the_engine_methods_write_what_write_all_rebuilds(run: Run, tmp_path: Path) -> None:
    writer = ReportWriter(run.store, run.state, run.run_dir)
    arch = writer.queue_agent_result("analysis", "architecture", ARCH)
    assert arch == run.run_dir / "analysis" / "architecture.json"
    paths = []
    for stage in run.state.stages:
        paths += await writer.write_stage(stage)
    paths.append(await writer.write_continuity())
    paths += await writer.write_final()
    assert not (run.run_dir / "analysis" / "infra.json").exists()

    out = tmp_path / "rebuilt"
    await writer.write_all(out, include_logs=False)
    assert not list(out.rglob("*.log"))
    for path in [arch, *paths]:
        assert (out / path.relative_to(run.run_dir)).read_bytes() == path.read_bytes(), path
    assert _temp_files(run.run_dir) == []


async def test_stage_files_hold_the_synthesis_and_the_validation(run: Run) -> None:
    writer = ReportWriter(run.store, run.state, run.run_dir)
    await writer.write_stage("analysis_synthesis")
    await writer.write_stage("production_readiness")
    synthesis = json.loads((run.run_dir / "analysis_synthesis_synthesis.json").read_text())
    assert synthesis == json.loads(json.dumps(run.state.stages["analysis_synthesis"].document))
    assert synthesis["synthesis"]["findings"]["style"]["indent"] == 2  # the resolution, merged
    markdown = (run.run_dir / "analysis_synthesis_consolidated.md").read_text()
    python, indent = run.conflicts[PYTHON_CONFLICT], run.conflicts[INDENT_CONFLICT]
    assert f"| {python} | runtime.python | critical |" in markdown
    indent_row = next(line for line in markdown.splitlines() if line.startswith(f"| {indent} "))
    assert "picked analysis.code" in indent_row and "by alice@host" in indent_row
    assert "4 conflict(s), 3 open." in markdown

    validation = json.loads((run.run_dir / "production_readiness_validation.json").read_text())
    assert validation["stage"] == "production_readiness"
    assert validation["mode"] == "strict"
    assert validation["passed"] is False
    assert [c["id"] for c in validation["criteria"]] == ["all_completed", "no_open_conflicts"]
    assert validation["decision"]["verdict"] == "BLOCK"
    assert validation["accepted"] is None


# -- atomic writes ---------------------------------------------------------------------------


def test_atomic_write_replaces_whole_or_not_at_all(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "file.json"
    write_json_atomic(target, {"n": 1, "text": "é"})
    assert target.read_text(encoding="utf-8") == '{\n  "n": 1,\n  "text": "é"\n}\n'
    assert _mode(target) == 0o600
    assert _mode(tmp_path / "a") == 0o700 and _mode(tmp_path / "a" / "b") == 0o700

    with pytest.raises(RuntimeError), atomic_writer(target) as out:
        out.write("half of a new")
        raise RuntimeError("killed mid-write")
    assert json.loads(target.read_text()) == {"n": 1, "text": "é"}
    assert _temp_files(tmp_path) == []

    write_text_atomic(target, "lone surrogate \ud800 kept readable\n")
    assert target.read_text() == "lone surrogate \\ud800 kept readable\n"
    assert _temp_files(tmp_path) == []
