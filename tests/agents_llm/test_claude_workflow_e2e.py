"""The bundled ``claude-code`` workflow end to end through the ``phaseboard`` CLI, every agent
answered by the stand-in ``claude`` placed first on PATH: the declared/configured Python
conflict pauses the run, resolving and resuming reaches a verdict; with agreeing answers, a
first answer without JSON is retried with feedback and the extended testing agents run."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from engine.consolidation import merge as consolidation
from tests.agents_llm.llm_helpers import ROOT, clean_env, make_project

WORKFLOW = ROOT / "data" / "workflows" / "claude-code.yaml"
VERDICT_CODES = {0: "PROCEED", 3: "CONDITIONAL_PROCEED"}


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


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    workspace = make_project(tmp_path / "ws")
    return Cli(workspace, tmp_path / "state" / "phaseboard.db", clean_env(tmp_path))


def test_bundled_workflow_passes_check(cli: Cli) -> None:
    proc = cli("check", str(WORKFLOW))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_conflict_pauses_then_resolve_and_resume_reach_a_verdict(cli: Cli) -> None:
    first = cli.run()
    assert first.returncode == 4, first.stderr[-3000:]
    conflict_id = consolidation.conflict_id("analysis_synthesis", "runtime.python")
    assert conflict_id in first.stderr

    resolved = cli(
        "resolve", "last", conflict_id, "--pick", "analysis.architecture",
        "--note", "requires-python is the contract", "--db", str(cli.db),
    )  # fmt: skip
    assert resolved.returncode == 0, resolved.stderr
    resumed = cli("resume", "last", "--headless", "--db", str(cli.db))
    assert resumed.returncode in VERDICT_CODES, resumed.stderr[-3000:]

    status = cli.status()
    assert status["run"]["decision"] == VERDICT_CODES[resumed.returncode]
    (conflict,) = status["conflicts"]
    assert conflict["id"] == conflict_id and conflict["severity"] == "critical"
    assert conflict["candidates"] == {
        "analysis.architecture": "3.11",
        "analysis.infrastructure": "3.12",
    }
    assert conflict["resolved"] and conflict["resolution"]["value"] == "3.11"
    assert status["metrics"]["tokens"] > 0 and status["metrics"]["cost_usd"] > 0
    assert agent(status, "analysis", "code")["result"]["metrics"]["llm"]["tokens"] > 0
    docs = cli.workspace / "docs"
    assert "```mermaid" in (docs / "ARCHITECTURE.md").read_text()
    assert (docs / "RISKS.md").read_text().startswith("# Risks")
    assert "phaseboard review" in (cli.workspace / "CHANGELOG.md").read_text()
    written = agent(status, "implementation", "architecture_doc")["result"]["findings"]
    assert written["changes"]["architecture_doc"]["action"] == "created"
    (report,) = (cli.workspace / ".phaseboard" / "runs").glob("*/final_report.md")
    assert f"Verdict: {VERDICT_CODES[resumed.returncode]}" in report.read_text()


def test_bad_first_answer_is_retried_with_feedback_and_extended_agents_run(cli: Cli) -> None:
    cli.env.update(
        {"FAKE_CLAUDE_AGREE": "1", "FAKE_CLAUDE_MODE": "fail_once", "FAKE_CLAUDE_ROLES": "code"}
    )
    proc = cli.run("--set", "extended_threshold=0")
    assert proc.returncode in VERDICT_CODES, proc.stderr[-3000:]

    status = cli.status()
    assert status["conflicts"] == []
    code = agent(status, "analysis", "code")
    assert [a["status"] for a in code["attempts"]] == ["failed", "succeeded"]
    assert code["attempts"][0]["category"] == "data_corruption"
    feedback = code["result"]["_prompt_markers"]["feedback"]
    assert feedback and "no JSON object" in feedback
    for extended in ("e2e", "deployment"):
        assert agent(status, "testing", extended)["status"] == "succeeded"
    synthesizer_markers = agent(status, "analysis_synthesis", "synthesizer")["result"]
    assert synthesizer_markers["_prompt_markers"]["inputs_chars"] > 0
