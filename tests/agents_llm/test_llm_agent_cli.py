"""The adapter run as a real subprocess against the stand-in ``claude`` placed first on PATH
(every CLI's failures: ``test_llm_dialects``)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.agents_llm.llm_helpers import RunAgent, fake_calls


def test_an_analysis_role_reports_findings_tokens_and_cost(run_agent: RunAgent) -> None:
    role, key = "code", "size"
    run = run_agent("--role", role)
    assert run.returncode == 0, [*run.lines, run.stderr]
    content = run.content
    assert key in content["findings"]
    assert content["_prompt_markers"]["role"] == role
    metadata = run.result["metadata"]
    llm = content["metrics"]["llm"]
    assert metadata["tokens"] == llm["input_tokens"] + llm["output_tokens"] > 0
    assert metadata["cost_usd"] == llm["cost_usd"] > 0
    assert llm["session_id"] and llm["num_turns"] == 3
    assert any(line.startswith("finished: success") for line in run.lines)


def test_declared_and_configured_python_disagree_unless_told_to_agree(
    run_agent: RunAgent,
) -> None:
    architecture = run_agent("--role", "architecture").content
    declared = architecture["findings"]["runtime"]["python"]
    assert declared == ">=3.11"  # the range as written (infrastructure says ["3.10"]: a conflict)
    (where,) = architecture["evidence"]["runtime.python"]
    assert where == {
        "file": "pyproject.toml",
        "line": 4,
        "text": 'requires-python = ">=3.11"',
        "value": ">=3.11",
    }
    agreed = run_agent("--role", "infrastructure", env={"FAKE_CLAUDE_AGREE": "1"})
    assert agreed.content["findings"]["runtime"]["python"] == ["3.12"]


def test_cli_gets_prompt_format_model_and_extra_args(
    run_agent: RunAgent, fake_env: dict[str, str], workspace: Path
) -> None:
    run = run_agent(
        "--role", "code", "--model", "claude-opus-4-1",
        "--cli-arg=--max-turns", "--cli-arg", "12",
    )  # fmt: skip
    assert run.returncode == 0
    (call,) = fake_calls(fake_env)
    argv = call["argv"]
    assert argv[0] == "-p" and argv[1].startswith("You are one agent")
    assert "ROLE: code" in argv[1]
    assert argv[2:] == [
        "--output-format",
        "json",
        "--model",
        "claude-opus-4-1",
        "--max-turns",
        "12",
    ]
    assert Path(call["cwd"]) == workspace
    assert run.content["metrics"]["llm"]["model"] == "claude-opus-4-1"


def test_feedback_and_reduced_scope_reach_the_prompt(run_agent: RunAgent) -> None:
    env = {
        "PHASEBOARD_FEEDBACK": "result does not match the schema: (top level): 'findings' is a "
        "required property",
        "PHASEBOARD_SCOPE": json.dumps({"depth": 1, "paths": ["src"]}),
        "PHASEBOARD_ATTEMPT": "3",
    }
    run = run_agent("--role", "architecture", env=env)
    assert run.returncode == 0
    markers = run.content["_prompt_markers"]
    assert markers["feedback"] == env["PHASEBOARD_FEEDBACK"]
    assert markers["scope"] == {"depth": 1, "paths": ["src"]}
    assert run.result["metadata"]["retry_count"] == 2


def test_inputs_reach_the_prompt_trimmed_to_the_cap(run_agent: RunAgent, tmp_path: Path) -> None:
    synthesis = {
        "synthesis": {
            "conflicts": [{"path": "runtime.python", "candidates": {"a": "3.11", "b": "3.12"}}],
            "padding": ["x" * 300] * 400,
        }
    }
    inputs = tmp_path / "inputs.json"
    stages = {"analysis": {"kind": "agents", "agents": {"code": {"result": {"x": "y" * 9000}}}}}
    inputs.write_text(json.dumps({"synthesis": synthesis, "stages": stages}))
    env = {"PHASEBOARD_INPUTS": str(inputs)}
    run = run_agent("--role", "synthesizer", "--max-input-chars", "5000", env=env)
    assert run.returncode == 0
    markers = run.content["_prompt_markers"]
    assert 0 < markers["inputs_chars"] <= 5000
    assert markers["inputs_has_conflict_path"]
    assert markers["inputs_keys"] == ["synthesis"]
    assert run.content["decisions"]["priority_order"]


def test_implementation_role_writes_its_file(run_agent: RunAgent, workspace: Path) -> None:
    run = run_agent("--role", "architecture_doc")
    assert run.returncode == 0, [*run.lines, run.stderr]
    text = (workspace / "docs" / "ARCHITECTURE.md").read_text()
    assert text.startswith("# Architecture") and "```mermaid" in text
    change = run.content["findings"]["changes"]["architecture_doc"]
    assert change["path"] == "docs/ARCHITECTURE.md" and change["action"] == "created"
    assert "content" not in run.content
    assert run.content["metrics"]["files_changed"] == 1
    again = run_agent("--role", "architecture_doc")
    assert again.content["findings"]["changes"]["architecture_doc"]["action"] == "unchanged"
    assert again.content["metrics"]["files_changed"] == 0


def test_changelog_entry_goes_above_older_entries(run_agent: RunAgent, workspace: Path) -> None:
    (workspace / "CHANGELOG.md").write_text("# Changelog\n\n## 0.1.0\n\n- First release\n")
    run = run_agent("--role", "changelog")
    assert run.returncode == 0
    text = (workspace / "CHANGELOG.md").read_text()
    assert text.index("phaseboard review") < text.index("## 0.1.0")
    assert text.startswith("# Changelog\n\n## 2025-01-01 - phaseboard review")
    assert text.endswith("- First release\n")
    assert run.content["findings"]["changes"]["changelog"]["action"] == "updated"


def test_target_outside_the_workspace_is_refused(run_agent: RunAgent, tmp_path: Path) -> None:
    run = run_agent("--role", "risk_register", "--target", "../escaped.md")
    assert run.returncode == 1
    assert "outside the workspace" in run.error
    assert not (tmp_path / "escaped.md").exists()
