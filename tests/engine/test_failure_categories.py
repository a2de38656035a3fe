"""Every failure category and recovery path, with real agent processes."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from tests.helpers import agent_cmd, one_stage, run_inline


def attempts(state, stage: str, agent: str):
    return state.stages[stage].agents[agent].attempts


async def test_success_keeps_result_and_metrics(tmp_path: Path, workspace: Path) -> None:
    cmd = agent_cmd("--findings", '{"x": 1}', "--lines", "50")
    yaml = one_stage(f"      - {{id: a, run: {cmd}}}")
    outcome, state, _ = await run_inline(tmp_path, workspace, yaml)
    assert outcome.exit_code == 0
    agent = state.stages["s"].agents["a"]
    assert agent.status == "succeeded"
    assert agent.result["findings"] == {"x": 1}
    [attempt] = agent.attempts
    assert attempt.exit_code == 0 and attempt.duration_s > 0


async def test_agent_failure_is_retried_then_succeeds(tmp_path: Path, workspace: Path) -> None:
    yaml = one_stage(
        f"      - {{id: a, retries: 2, retry_backoff: 0, run: {agent_cmd('--fail-attempts', '2')}}}"
    )
    outcome, state, _ = await run_inline(tmp_path, workspace, yaml)
    assert outcome.exit_code == 0
    assert [(a.status, a.category) for a in attempts(state, "s", "a")] == [
        ("failed", "agent_failure"),
        ("failed", "agent_failure"),
        ("succeeded", None),
    ]


async def test_timeout_stops_the_attempt(tmp_path: Path, workspace: Path) -> None:
    yaml = one_stage(f"      - {{id: a, timeout: 0.5, grace: 0.5, run: {agent_cmd('--hang')}}}")
    outcome, state, _ = await run_inline(tmp_path, workspace, yaml)
    assert outcome.exit_code == 1
    [attempt] = attempts(state, "s", "a")
    assert attempt.category == "timeout"


async def test_idle_timeout_is_a_stall(tmp_path: Path, workspace: Path) -> None:
    yaml = one_stage(
        f"      - {{id: a, idle_timeout: 0.4, grace: 0.5, run: {agent_cmd('--sleep', '20')}}}"
    )
    _outcome, state, _ = await run_inline(tmp_path, workspace, yaml)
    [attempt] = attempts(state, "s", "a")
    assert attempt.category == "timeout"
    assert "idle" in (attempt.error or "").lower() or "output" in (attempt.error or "").lower()


async def test_broken_json_is_data_corruption(tmp_path: Path, workspace: Path) -> None:
    yaml = one_stage(f"      - {{id: a, run: {agent_cmd('--broken-json')}}}")
    _, state, _ = await run_inline(tmp_path, workspace, yaml)
    [attempt] = attempts(state, "s", "a")
    assert attempt.category == "data_corruption"


async def test_schema_failure_retries_with_feedback(tmp_path: Path, workspace: Path) -> None:
    yaml = one_stage(
        "      - id: a\n"
        "        retries: 1\n"
        "        retry_backoff: 0\n"
        "        schema: {type: object, required: [findings]}\n"
        f"        run: {agent_cmd('--bad-first-result', '--echo-env')}\n"
    )
    outcome, state, _ = await run_inline(tmp_path, workspace, yaml)
    assert outcome.exit_code == 0
    first, _second = attempts(state, "s", "a")
    assert first.category == "data_corruption"
    assert "findings" in first.error
    feedback = state.stages["s"].agents["a"].result["env"]["PHASEBOARD_FEEDBACK"]
    assert "findings" in feedback


async def test_accept_partial_keeps_the_valid_part(tmp_path: Path, workspace: Path) -> None:
    result = json.dumps({"findings": {"a": 1}, "score": "high"})
    yaml = one_stage(
        "      - id: a\n"
        "        accept_partial: true\n"
        "        schema: {type: object, required: [findings], properties: {score: {type: number}}}\n"
        f"        run: {agent_cmd('--result', result)}\n"
    )
    outcome, state, _ = await run_inline(tmp_path, workspace, yaml)
    assert outcome.exit_code == 0
    agent = state.stages["s"].agents["a"]
    assert agent.result == {"findings": {"a": 1}}
    assert agent.attempts[0].partial


async def test_command_not_found_is_integration_failure_not_retried(
    tmp_path: Path, workspace: Path
) -> None:
    yaml = one_stage('      - {id: a, retries: 3, run: ["/no/such/agent"]}')
    _, state, _ = await run_inline(tmp_path, workspace, yaml)
    [attempt] = attempts(state, "s", "a")
    assert attempt.category == "integration_failure"
    assert "not found" in attempt.error


async def test_memory_limit_is_resource_exhausted(tmp_path: Path, workspace: Path) -> None:
    hog = '["{python}", "-c", "import time; x = bytearray(400 * 1024 * 1024); x[::4096] = b\\"x\\" * len(x[::4096]); time.sleep(30)"]'
    yaml = one_stage(f"      - {{id: a, memory_mb: 100, grace: 0.5, run: {hog}}}")
    _, state, _ = await run_inline(tmp_path, workspace, yaml)
    [attempt] = attempts(state, "s", "a")
    assert attempt.category == "resource_exhausted"
    assert attempt.peak_rss_mb >= 100


async def test_token_budget_is_resource_exhausted(tmp_path: Path, workspace: Path) -> None:
    yaml = one_stage(
        f"      - {{id: a, budget: {{tokens: 100}}, run: {agent_cmd('--tokens', '500', '--sleep', '20')}}}"
    )
    _, state, _ = await run_inline(tmp_path, workspace, yaml)
    [attempt] = attempts(state, "s", "a")
    assert attempt.category == "resource_exhausted"
    assert attempt.tokens == 500
    assert "token budget" in attempt.error


async def test_last_retry_uses_reduced_scope(tmp_path: Path, workspace: Path) -> None:
    yaml = one_stage(
        "      - id: a\n"
        "        retries: 1\n"
        "        retry_backoff: 0\n"
        "        reduced_scope: {depth: 1}\n"
        f"        run: {agent_cmd('--fail-unless-scope', '--echo-env')}\n"
    )
    outcome, state, _ = await run_inline(tmp_path, workspace, yaml)
    assert outcome.exit_code == 0
    first, second = attempts(state, "s", "a")
    assert (first.scope, second.scope) == ("full", "reduced")
    env = state.stages["s"].agents["a"].result["env"]
    assert json.loads(env["PHASEBOARD_SCOPE"]) == {"depth": 1}


async def test_failover_to_backup(tmp_path: Path, workspace: Path) -> None:
    lite = agent_cmd("--findings", '{"from": "lite"}')
    yaml = one_stage(
        f"      - {{id: main, backup: lite, run: {agent_cmd('--exit', '3')}}}\n"
        f"      - {{id: lite, standby: true, run: {lite}}}\n"
    )
    outcome, state, _ = await run_inline(tmp_path, workspace, yaml)
    assert outcome.exit_code == 0
    stage = state.stages["s"]
    assert stage.agents["main"].status == "failed"
    assert stage.agents["lite"].status == "succeeded"
    assert stage.agents["lite"].backup_of == "main"
    assert (stage.succeeded, stage.total) == (1, 1)


async def test_collect_timeout_counts_missing(tmp_path: Path, workspace: Path) -> None:
    yaml = one_stage(
        f"      - {{id: fast, run: {agent_cmd()}}}\n"
        f"      - {{id: slow, grace: 0.5, run: {agent_cmd('--hang')}}}\n",
        extra="    collect_timeout: 1\n",
    )
    outcome, state, _ = await run_inline(tmp_path, workspace, yaml)
    assert state.stages["s"].agents["fast"].status == "succeeded"
    assert state.stages["s"].agents["slow"].status == "missing"
    assert outcome.exit_code == 1


async def test_an_agent_waiting_for_a_slot_at_the_collect_timeout_never_starts(
    tmp_path: Path, workspace: Path
) -> None:
    yaml = one_stage(
        f"      - {{id: slow, grace: 0.5, run: {agent_cmd('--hang')}}}\n"
        f"      - {{id: queued, run: {agent_cmd()}}}\n",
        extra="    collect_timeout: 1\n    max_parallel: 1\n",
    )
    outcome, state, _ = await run_inline(tmp_path, workspace, yaml)
    agents = state.stages["s"].agents
    assert (agents["slow"].status, agents["queued"].status) == ("missing", "missing")
    assert agents["queued"].attempts == []
    assert outcome.exit_code == 1


async def test_max_parallel_bounds_concurrency(tmp_path: Path, workspace: Path) -> None:
    agents = "".join(
        f"      - {{id: a{i}, run: {agent_cmd('--sleep', '0.2')}}}\n" for i in range(3)
    )
    yaml = one_stage(agents, extra="    max_parallel: 1\n")
    _, state, _ = await run_inline(tmp_path, workspace, yaml)
    spans = sorted(
        (a.attempts[0].started_at, a.attempts[0].ended_at)
        for a in state.stages["s"].agents.values()
    )
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end - 0.05


async def test_output_json_and_file_modes(tmp_path: Path, workspace: Path) -> None:
    doc = '["{python}", "-c", "import json; print(json.dumps({{\\"findings\\": {{\\"n\\": 2}}}}, indent=2))"]'
    filed = agent_cmd("--output-file", "--findings", '{"n": 3}')
    yaml = one_stage(
        f"      - {{id: whole, output: json, run: {doc}}}\n"
        f"      - {{id: filed, output: file, run: {filed}}}\n"
    )
    outcome, state, _ = await run_inline(tmp_path, workspace, yaml)
    assert outcome.exit_code == 0
    assert state.stages["s"].agents["whole"].result == {"findings": {"n": 2}}
    assert state.stages["s"].agents["filed"].result["findings"] == {"n": 3}


async def test_extended_agents_join_when_the_expression_holds(
    tmp_path: Path, workspace: Path
) -> None:
    yaml = one_stage(
        f"      - {{id: base, run: {agent_cmd()}}}\n",
        extra=(
            "    extended:\n"
            '      when: "params.big == true"\n'
            f"      agents: [{{id: e2e, run: {agent_cmd()}}}]\n"
        ),
    ).replace("name: t\n", "name: t\nparams: {big: false}\n")
    _, small, _ = await run_inline(tmp_path, workspace, yaml)
    assert small.stages["s"].agents["e2e"].status == "skipped"
    assert small.stages["s"].total == 1
    _, big, _ = await run_inline(tmp_path, workspace, yaml, params=["big=true"])
    assert big.stages["s"].agents["e2e"].status == "succeeded"
    assert big.stages["s"].total == 2


async def test_secrets_are_masked_in_logs_and_results(
    tmp_path: Path, workspace: Path, monkeypatch
) -> None:
    monkeypatch.setenv("SERVICE_TOKEN", "s3cr3t-value-123")
    yaml = one_stage(
        f"      - {{id: a, run: {agent_cmd('--print-secret', 'SERVICE_TOKEN', '--summary-env', 'SERVICE_TOKEN')}}}"
    )
    _, state, db = await run_inline(tmp_path, workspace, yaml)
    assert state.stages["s"].agents["a"].result["summary"] == "***"
    raw = (
        db.read_bytes() + (db.parent / "phaseboard.db-wal").read_bytes()
        if (db.parent / "phaseboard.db-wal").exists()
        else db.read_bytes()
    )
    assert b"s3cr3t-value-123" not in raw
    log = (Path(state.run_dir) / "s" / "a.log").read_text()
    assert "the secret is ***" in log


async def test_shell_agent_values_are_quoted(tmp_path: Path, workspace: Path) -> None:
    yaml = one_stage(
        '      - {id: a, shell: true, output: json, run: "printf \'{{\\"v\\": \\"%s\\"}}\' {params.name}"}'
    ).replace("name: t\n", 'name: t\nparams: {name: "x; touch pwned"}\n')
    outcome, state, _ = await run_inline(tmp_path, workspace, yaml)
    assert outcome.exit_code == 0, state.stages["s"].agents["a"].attempts
    assert state.stages["s"].agents["a"].result == {"v": "x; touch pwned"}
    assert not (workspace / "pwned").exists()


async def test_continuity_sends_a_failed_backup_back_to_its_primary(
    tmp_path: Path, workspace: Path
) -> None:
    yaml = one_stage(
        f"      - {{id: main, backup: spare, run: {agent_cmd('--exit', '1')}}}\n"
        f"      - {{id: spare, standby: true, run: {agent_cmd('--exit', '1')}}}\n"
    )
    outcome, state, _ = await run_inline(tmp_path, workspace, yaml)
    assert outcome.exit_code == 1
    text = (Path(state.run_dir) / "SESSION_CONTINUITY.md").read_text()
    run = state.run_id
    assert f"the backup of s.main: retry that agent: `phaseboard retry {run} s.main`" in text
    assert f"phaseboard retry {run} s.spare" not in text
