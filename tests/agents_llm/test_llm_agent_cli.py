"""The adapter run as a real subprocess against the stand-in ``claude`` placed first on PATH."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from tests.agents_llm.llm_helpers import RunAgent, fake_calls


@pytest.mark.parametrize(
    ("role", "key"),
    [("architecture", "components"), ("code", "size"), ("infrastructure", "tests")],
)
def test_analysis_roles_report_findings_tokens_and_cost(
    run_agent: RunAgent, role: str, key: str
) -> None:
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
    declared = run_agent("--role", "architecture").content["findings"]["runtime"]["python"]
    configured = run_agent("--role", "infrastructure").content["findings"]["runtime"]["python"]
    assert (declared, configured) == ("3.11", "3.12")
    agreed = run_agent("--role", "infrastructure", env={"FAKE_CLAUDE_AGREE": "1"})
    assert agreed.content["findings"]["runtime"]["python"] == "3.11"


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


def test_stream_mode_reports_each_event_as_progress(
    run_agent: RunAgent, fake_env: dict[str, str]
) -> None:
    run = run_agent("--role", "architecture", "--stream")
    assert run.returncode == 0, [*run.lines, run.stderr]
    (call,) = fake_calls(fake_env)
    assert call["argv"][2:5] == ["--output-format", "stream-json", "--verbose"]
    progress = "\n".join(run.lines)
    assert "session started: model" in progress
    assert "assistant: Let me look at the project layout first." in progress
    assert "tool: Glob **/*.py" in progress
    assert "tool: Read " in progress and "pyproject.toml" in progress
    assert "tool result:" in progress
    assert "finished: success, 3 turns" in progress
    assert run.content["findings"]["runtime"]["python"] == "3.11"
    assert all(len(line) < 400 for line in run.lines)
    assert run.result["metadata"]["tokens"] > 0


def test_is_error_fails_the_attempt_and_still_reports_the_spend(run_agent: RunAgent) -> None:
    run = run_agent("--role", "code", env={"FAKE_CLAUDE_MODE": "error"})
    assert run.returncode == 1
    assert not run.of_type("result")
    assert "reported an error" in run.error and "Overloaded" in run.error
    assert run.of_type("error")[-1]["metadata"]["tokens"] > 0


def test_answer_without_json_exits_65(run_agent: RunAgent) -> None:
    run = run_agent("--role", "code", env={"FAKE_CLAUDE_MODE": "nojson"})
    assert run.returncode == 65
    assert not run.of_type("result")
    assert "held no JSON object" in run.error
    assert "I reviewed the repository" in run.error


def test_unparsable_cli_output_fails(run_agent: RunAgent) -> None:
    run = run_agent("--role", "code", env={"FAKE_CLAUDE_MODE": "garbage"})
    assert run.returncode == 1
    assert "without a result object" in run.error and "502 Bad Gateway" in run.error


def test_mode_can_be_limited_to_some_roles(run_agent: RunAgent) -> None:
    env = {"FAKE_CLAUDE_MODE": "error", "FAKE_CLAUDE_ROLES": "code"}
    assert run_agent("--role", "architecture", env=env).returncode == 0
    assert run_agent("--role", "code", env=env).returncode == 1


def test_missing_api_key_fails_clearly(run_agent: RunAgent, fake_env: dict[str, str]) -> None:
    env = {k: v for k, v in fake_env.items() if k != "ANTHROPIC_API_KEY"}
    fake_env.clear()
    fake_env.update(env)
    run = run_agent("--role", "architecture")
    assert run.returncode == 1
    assert "Invalid API key" in run.error
    assert "ANTHROPIC_API_KEY is not set" in run.error


def test_missing_cli_exits_127(run_agent: RunAgent) -> None:
    run = run_agent("--role", "architecture", "--cli", "no-such-llm-cli")
    assert run.returncode == 127
    assert "'no-such-llm-cli' was not found on PATH" in run.error


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


def test_first_attempt_without_json_then_retry_with_feedback_succeeds(run_agent: RunAgent) -> None:
    env = {"FAKE_CLAUDE_MODE": "fail_once"}
    first = run_agent("--role", "code", env=env)
    assert first.returncode == 65
    feedback = {"PHASEBOARD_FEEDBACK": first.error, "PHASEBOARD_ATTEMPT": "2"}
    second = run_agent("--role", "code", env={**env, **feedback})
    assert second.returncode == 0
    assert second.content["_prompt_markers"]["feedback"].startswith("the answer held no JSON")


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


def test_own_timeout_stops_a_silent_cli(run_agent: RunAgent, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    slow = bin_dir / "slowcli"
    slow.write_text("#!/bin/sh\nexec sleep 30\n")
    slow.chmod(slow.stat().st_mode | stat.S_IXUSR)
    run = run_agent(
        "--role", "code", "--cli", str(slow), "--timeout", "1", "--heartbeat", "0.2",
    )  # fmt: skip
    assert run.returncode == 124
    assert "gave no answer within 1s" in run.error
    assert any(line.startswith("waiting for slowcli:") for line in run.lines)
