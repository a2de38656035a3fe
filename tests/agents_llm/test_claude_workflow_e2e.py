"""The bundled ``claude-code`` workflow end to end through the ``phaseboard`` CLI, every agent
answered by a stand-in CLI placed first on PATH (``claude``, ``codex`` or ``gemini``, chosen with
``--set cli=...``). For each CLI: the declared/configured Python conflict pauses the run; a second
run on the unchanged workspace reuses the cached analysis instead of asking the model again, and
pauses the same; resolving and resuming reach the same verdict through the same stages and
criteria; a rejected answer is retried by continuing its session."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from engine.consolidation import merge as consolidation
from tests.agents_llm.llm_helpers import (
    DIALECTS,
    ROOT,
    clean_env,
    fake_calls,
    fake_env,
    make_project,
)

WORKFLOW = ROOT / "data" / "workflows" / "claude-code.yaml"
STAGES = [
    "analysis",
    "analysis_synthesis",
    "analysis_review",
    "implementation",
    "testing",
    "final_synthesis",
    "production_readiness",
]
CACHED = [("analysis", a) for a in ("architecture", "code", "infrastructure")] + [
    ("analysis_synthesis", "synthesizer")
]


def phaseboard_argv() -> list[str]:
    """The ``phaseboard`` console script's entry point, run from this checkout."""
    return [sys.executable, "-m", "tui.cli"]


class Cli:
    def __init__(self, workspace: Path, db: Path, env: dict[str, str]) -> None:
        self.workspace, self.db, self.env = workspace, db, env

    def __call__(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*phaseboard_argv(), *args],
            cwd=self.workspace,
            env={**self.env, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def run(self, *extra: str) -> subprocess.CompletedProcess[str]:
        return self(
            "run", "claude-code", "--headless",
            "--workspace", str(self.workspace), "--db", str(self.db), *extra,
        )  # fmt: skip

    def status(self) -> dict[str, Any]:
        proc = self("status", "last", "--json", "--db", str(self.db))
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)


def agent(status: dict[str, Any], stage_id: str, agent_id: str) -> dict[str, Any]:
    (stage,) = [s for s in status["stages"] if s["id"] == stage_id]
    (found,) = [a for a in stage["agents"] if a["id"] == agent_id]
    return found


def criteria(status: dict[str, Any], checkpoint: str) -> list[str]:
    (stage,) = [s for s in status["stages"] if s["id"] == checkpoint]
    return [c["id"] for c in stage["criteria"]]


def roles_asked(env: dict[str, str], cli: str = "claude") -> list[str]:
    """The roles of the calls a stand-in received, in order."""
    found = (re.search(r"ROLE: (\w+)", " ".join(c["argv"])) for c in fake_calls(env, cli))
    return [m.group(1) for m in found if m]


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    workspace = make_project(tmp_path / "ws")
    return Cli(workspace, tmp_path / "state" / "phaseboard.db", clean_env(tmp_path))


def test_bundled_workflow_passes_check(cli: Cli) -> None:
    proc = cli("check", str(WORKFLOW))
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("name", DIALECTS)
def test_each_cli_pauses_on_the_conflict_reuses_its_analysis_then_reaches_the_same_verdict(
    cli: Cli, name: str
) -> None:
    cli.env.update(fake_env(name, mode="schema_once", roles="security"))
    extended = ["--set", "extended_threshold=0"] if name == "claude" else []
    first = cli.run("--set", f"cli={name}", *extended)
    assert first.returncode == 4, first.stderr[-3000:]
    conflict_id = consolidation.conflict_id("analysis_synthesis", "runtime.python")
    assert conflict_id in first.stderr
    paid = first.stderr.split("phaseboard: run ", 1)[1].split()[0]

    asked = len(roles_asked(cli.env, name))  # the same workflow again, the workspace unchanged
    second = cli.run("--set", f"cli={name}", *extended)
    assert second.returncode == 4, second.stderr[-3000:]
    assert roles_asked(cli.env, name)[asked:] == []  # no call: all cached, the same pause
    for stage, agent_id in CACHED:
        assert f"[{stage}] {agent_id}: attempt 1 cached from {paid}/" in second.stderr

    resolved = cli(
        "resolve", "last", conflict_id, "--pick", "analysis.architecture",
        "--note", "requires-python is the contract", "--db", str(cli.db),
    )  # fmt: skip
    assert resolved.returncode == 0, resolved.stderr
    resumed = cli("resume", "last", "--headless", "--db", str(cli.db))
    assert resumed.returncode == 0, resumed.stderr[-3000:]

    status = cli.status()
    assert status["run"]["decision"] == "PROCEED"  # with every CLI
    assert [s["id"] for s in status["stages"]] == STAGES
    assert criteria(status, "analysis_review") == [
        "all_agents_completed",
        "no_critical_conflicts",
        "architecture_map_complete",
        "risk_assessment_documented",
        "implementation_strategy_defined",
    ]
    assert criteria(status, "production_readiness") == [
        "tests_passing",
        "security_clear",
        "rollback_ready",
        "performance_in_range",
        "documentation_complete",
        "monitoring_configured",
        "conflicts_settled",
    ]
    (conflict,) = status["conflicts"]
    assert conflict["id"] == conflict_id and conflict["severity"] == "critical"
    assert conflict["candidates"] == {
        "analysis.architecture": ">=3.11",
        "analysis.infrastructure": ["3.10"],
    }
    assert "3.10" in conflict["reason"] and ">=3.11" in conflict["reason"]
    assert conflict["evidence"]["analysis.infrastructure"][0]["file"] == ".python-version"
    assert conflict["resolved"] and conflict["resolution"]["value"] == ">=3.11"
    saved = 0
    for stage, agent_id in CACHED:
        (reused,) = agent(status, stage, agent_id)["attempts"]
        assert reused["cached_from"] == f"{paid}/{stage}.{agent_id}#1"
        assert reused["tokens"] == 0 and reused["saved_tokens"] > 0
        saved += reused["saved_tokens"]

    security = agent(status, "testing", "security")  # its first answer failed the schema
    first_try, retry = security["attempts"]
    assert (first_try["status"], first_try["category"]) == ("failed", "data_corruption")
    assert retry["status"] == "succeeded"
    assert retry["resumed_session"] == first_try["session_id"] is not None
    assert retry["saved_tokens"] == first_try["tokens"] > 0
    assert security["result"]["_prompt_markers"]["resumed"] == first_try["session_id"]

    metrics = status["metrics"]
    assert metrics["tokens"] > 0 and metrics["cost_usd"] > 0
    assert metrics["cost_estimated"] is (name != "claude")
    assert (metrics["cached_attempts"], metrics["resumed_sessions"]) == (len(CACHED), 1)
    assert metrics["tokens_saved"] == saved + first_try["tokens"]
    tests = agent(status, "testing", "unit_tests")["result"]["findings"]["tests"]
    assert tests["status"] == "passed" and tests["failing"] == []
    assert agent(status, "analysis", "code")["result"]["metrics"]["llm"]["cli"] == name
    if extended:
        for extra in ("e2e", "deployment"):
            assert agent(status, "testing", extra)["status"] == "succeeded"
    docs = cli.workspace / "docs"
    assert "```mermaid" in (docs / "ARCHITECTURE.md").read_text()
    assert (docs / "RISKS.md").read_text().startswith("# Risks")
    assert "phaseboard review" in (cli.workspace / "CHANGELOG.md").read_text()
    report = Path(status["run"]["run_dir"], "final_report.md").read_text()
    assert "Verdict: PROCEED" in report
    assert f"Not spent again: {metrics['tokens_saved']} tokens" in report
    assert ("partly an estimate" in report) is (name != "claude")

    if name == "claude":  # --no-cache asks the model again
        third = cli.run("--no-cache", "--until", "analysis")
        assert third.returncode == 0, third.stderr[-3000:]
        assert sorted(roles_asked(cli.env)[-3:]) == ["architecture", "code", "infrastructure"]
