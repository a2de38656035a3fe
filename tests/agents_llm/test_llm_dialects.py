"""The adapter for each CLI (Claude Code, Codex, Gemini) run as a real subprocess against its
stand-in: the answer with its progress and spending, a retry that continues the session, and
every failure row of docs/llm-agents.md ("Failures and retries"), dialect by dialect."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from tests.agents_llm.llm_helpers import DIALECTS, KEYS, ROOT, RunAgent, fake_calls, fake_env

PROGRESS = {
    "claude": [
        "session started: model",
        "tool: Glob **/*.py",
        "tool result:",
        "finished: success, 3 turns, answer of",
    ],
    "codex": [
        "session started: thread",
        "command: bash -lc ls",
        "command completed: exit 0",
        "files changed (failed): add notes.md",
        "answer: ",
        "finished: turn 1",
    ],
    "gemini": [
        "session started: model gemini",
        "tool: glob **/*.py",
        "tool: read_file",
        "tool result:",
        "finished: success, answer of",
    ],
}


@pytest.mark.parametrize("cli", DIALECTS)
def test_each_cli_answers_with_findings_progress_tokens_and_cost(
    run_agent: RunAgent, fake_env: dict[str, str], cli: str
) -> None:
    run = run_agent("--role", "infrastructure", "--cli", cli, "--stream", "--price-in", "2")
    assert run.returncode == 0, [*run.lines, run.stderr]
    content, metadata = run.content, run.result["metadata"]
    assert content["findings"]["runtime"]["python"] == ["3.10"]
    assert content["evidence"]["runtime.python"][0]["file"] == ".python-version"
    llm = content["metrics"]["llm"]
    assert llm["cli"] == cli and llm["session_id"] == metadata["session_id"]
    assert metadata["tokens"] == llm["tokens"] > 0 and metadata["cost_usd"] > 0
    assert llm["cost_estimated"] is (cli != "claude")  # codex and gemini report no cost
    assert metadata.get("cost_estimated", False) is (cli != "claude")
    progress = "\n".join(run.lines)
    for words in PROGRESS[cli]:
        assert words in progress, (words, progress)
    if cli != "claude":
        assert "estimated from" in progress
    else:
        assert "assistant: Let me look at the project layout first." in progress
        (call,) = fake_calls(fake_env, cli)
        assert call["argv"][2:5] == ["--output-format", "stream-json", "--verbose"]
    assert all(len(line) < 400 for line in run.lines)


@pytest.mark.parametrize("cli", ["codex", "gemini"])
def test_gemini_json_and_codex_arguments(
    run_agent: RunAgent, fake_env: dict[str, str], cli: str
) -> None:
    """Without --stream Gemini prints one object at the end; Codex always prints events."""
    run = run_agent("--role", "code", "--cli", cli, "--model", "m1", "--tools", "read")
    assert run.returncode == 0, [*run.lines, run.stderr]
    (call,) = fake_calls(fake_env, cli)
    if cli == "codex":
        assert call["argv"][:3] == ["exec", "--json", "--skip-git-repo-check"]
        assert call["argv"][3:5] == ["--model", "m1"]
    else:
        assert call["argv"][2:4] == ["--output-format", "json"]
        assert "--allowed-tools" in call["argv"] and "--model" in call["argv"]
        assert run.content["metrics"]["llm"]["prompt"] > 0  # stats.models.*.tokens
    assert run.result["metadata"]["tokens"] > 0


@pytest.mark.parametrize("cli", DIALECTS)
def test_a_retry_after_a_rejected_answer_continues_the_session(
    run_agent: RunAgent, fake_env: dict[str, str], cli: str
) -> None:
    first = run_agent("--role", "code", "--cli", cli, env=fake_env_for(cli, mode="nojson"))
    assert first.returncode == 65
    session = first.of_type("error")[-1]["metadata"]["session_id"]
    retry = {"PHASEBOARD_FEEDBACK": first.error, "PHASEBOARD_PREVIOUS_SESSION": session}
    second = run_agent("--role", "code", "--cli", cli, env=retry)
    assert second.returncode == 0, [*second.lines, second.stderr]
    markers = second.content["_prompt_markers"]
    assert markers["resumed"] == session
    assert markers["feedback"].startswith("the answer held no JSON object")
    assert markers["inputs_chars"] == 0 and markers["prompt_chars"] < 1000  # the follow-up only
    assert second.result["metadata"]["resumed_session"] == session
    assert second.content["metrics"]["llm"]["resumed_session"] == session
    resume = {"claude": "--resume", "codex": "resume", "gemini": "--resume"}[cli]
    assert resume in fake_calls(fake_env, cli)[-1]["argv"]
    fresh = run_agent("--role", "code", "--cli", cli, "--resume-sessions", "false", env=retry)
    assert fresh.returncode == 0
    assert fresh.content["_prompt_markers"]["resumed"] is None
    assert "resumed_session" not in fresh.result["metadata"]
    assert resume not in fake_calls(fake_env, cli)[-1]["argv"]


def fake_env_for(cli: str, **switches: str) -> dict[str, str]:
    return fake_env(cli, **switches)


def slow_cli(tmp_path: Path, cli: str) -> str:
    slow = tmp_path / "bin" / f"slow-{cli}"
    slow.parent.mkdir(exist_ok=True)
    slow.write_text("#!/bin/sh\nexec sleep 30\n")
    slow.chmod(slow.stat().st_mode | stat.S_IXUSR)
    return str(slow)


ERRORS = {"claude": "Overloaded", "codex": "500 Internal Server Error", "gemini": "503"}
FAILURE_ROWS = [
    # (row, exit code, what the error says): one per failure row of docs/llm-agents.md, in order
    ("no_json", 65, "held no JSON object"),
    ("cli_error", 1, "reported an error|exited with code 1"),
    ("turn_limit", 75, "turn limit|max_turns|error_max_turns|max session turns"),
    ("no_result", 1, "without a result object"),
    ("timeout", 124, "gave no answer within 0.5s"),
    ("bad_input", 127, "refused its arguments|exited with code 42"),
    ("credentials", 127, "is not set: set it, or log the CLI in"),
    ("not_installed", 127, "was not found on PATH"),
]


@pytest.mark.parametrize("cli", DIALECTS)
@pytest.mark.parametrize(("row", "code", "says"), FAILURE_ROWS, ids=[r[0] for r in FAILURE_ROWS])
def test_every_failure_row_for_every_cli(
    run_agent: RunAgent,
    fake_env: dict[str, str],
    tmp_path: Path,
    cli: str,
    row: str,
    code: int,
    says: str,
) -> None:
    args = ["--role", "code", "--cli", cli, "--stream", "--heartbeat", "0.2"]
    env: dict[str, str] = {}
    modes = {"cli_error": "error", "no_json": "nojson", "no_result": "garbage"}
    if row in modes or row in ("turn_limit", "bad_input"):
        env = fake_env_for(cli, mode=modes.get(row, row))
        args += ["--max-turns", "5"] if row == "turn_limit" else []
    elif row == "timeout":
        args = [*args, "--cli", slow_cli(tmp_path, cli), "--dialect", cli, "--timeout", "0.5"]
    elif row == "not_installed":
        args = [*args, "--cli", f"no-such-{cli}"]
    elif row == "credentials":
        env = {KEYS[cli]: ""}
    run = run_agent(*args, env=env)
    assert run.returncode == code, [*run.lines, run.stderr, run.messages]
    assert not run.of_type("result")
    assert re.search(says, run.error), run.error
    if row == "cli_error":
        assert ERRORS[cli] in run.error
        assert run.of_type("error")[-1]["metadata"]["tokens"] >= 0
    if row == "no_json":
        assert "I reviewed the repository" in run.error
    if row == "timeout":
        assert any(line.startswith(f"waiting for slow-{cli}:") for line in run.lines)


def test_the_failure_rows_of_the_docs_are_those_tested() -> None:
    text = (ROOT / "docs" / "llm-agents.md").read_text(encoding="utf-8")
    section = text.split("## Failures and retries", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "---" not in line]
    codes = [int(re.findall(r"\d+", row.split("|")[2])[0]) for row in rows[1:]]
    assert codes[2:] == [code for _, code, _ in FAILURE_ROWS]  # after: parsed, against the schema


def test_a_cli_whose_name_says_nothing_needs_its_dialect(run_agent: RunAgent) -> None:
    run = run_agent("--role", "code", "--cli", "/usr/bin/env")
    assert run.returncode == 127 and "--dialect claude|codex|gemini" in run.error
