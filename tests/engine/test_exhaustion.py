"""A retry after resource exhaustion: the limit raised (capped), the task split, the operator's
``retry --more-memory``; with real agent processes that hold real memory."""

from __future__ import annotations

import json
from pathlib import Path

from engine.run.exhaustion import Limits, after_exhaustion, more_memory, stopped_for_memory
from engine.run.session import operator_name
from engine.state.events import Event
from engine.state.records import AgentState, AttemptState
from engine.state.run_state import RunState
from engine.workflow.models import AgentSpec, OnExhausted
from tests.helpers import agent_cmd, one_stage, run_cli, run_cli_here, run_inline

HOG = agent_cmd("--alloc-mb", "100", "--sleep", "1")
"""Holds 100 MiB (about 112 MiB resident with the interpreter) for a second, then succeeds:
past a 60 or 100 MB limit, within 150."""


def limits_of(state, agent: str = "a") -> list[tuple[object, ...]]:
    return [
        (a.n, a.status, a.category, a.memory_mb, a.scope, a.limits_reason)
        for a in state.stages["s"].agents[agent].attempts
    ]


def test_memory_exhaustion_is_retried_with_the_limit_raised(
    tmp_path: Path, workspace: Path
) -> None:
    wf = tmp_path / "wf.yaml"
    wf.write_text(
        one_stage(
            f"      - {{id: a, memory_mb: 60, grace: 0.5, run: {HOG}}}",
            defaults="{timeout: 30, retries: 1, retry_backoff: 0,"
            " on_exhausted: {memory_factor: 3, max_memory_mb: 4096}}",
        )
    )
    run = run_cli("run", str(wf), "--headless", "--workspace", str(workspace), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    reason = "memory 60 → 180 MB after attempt 1 was stopped at 60 MB"
    assert f"attempt 2 started ({reason})" in run.stderr  # the headless progress line

    status = json.loads(run_cli_here("status", "last", "--json", cwd=workspace).stdout)
    first, second = status["stages"][0]["agents"][0]["attempts"]
    assert (first["category"], first["exhausted"], first["memory_mb"]) == (
        "resource_exhausted",
        "memory",
        60,
    )
    assert first["limits_reason"] == ""
    assert (second["status"], second["memory_mb"], second["limits_reason"]) == (
        "succeeded",
        180,
        reason,
    )
    assert second["budget_tokens"] is None and second["budget_cost_usd"] is None
    text = run_cli_here("status", "last", cwd=workspace).stdout
    assert f"attempt 2: {reason}" in text


async def test_the_cap_holds_and_an_exhaustion_at_it_fails_as_before(
    tmp_path: Path, workspace: Path
) -> None:
    yaml = one_stage(
        "      - id: a\n"
        "        memory_mb: 60\n"
        "        grace: 0.5\n"
        "        retries: 2\n"
        "        retry_backoff: 0\n"
        "        on_exhausted: {memory_factor: 3, max_memory_mb: 100}\n"
        f"        run: {HOG}\n"
    )
    outcome, state, _ = await run_inline(tmp_path, workspace, yaml)
    assert outcome.exit_code == 1
    assert state.stages["s"].agents["a"].status == "failed"
    exhausted = ("failed", "resource_exhausted")
    assert limits_of(state) == [
        (1, *exhausted, 60, "full", ""),
        (2, *exhausted, 100, "full", "memory 60 → 100 MB, its cap, after attempt 1 was stopped at 60 MB"),
        (3, *exhausted, 100, "full",
         "memory not adjusted, at its cap (max_memory_mb 100): attempt 2 was stopped at 100 MB"),
    ]  # fmt: skip


async def test_a_limit_at_its_cap_splits_the_task(tmp_path: Path, workspace: Path) -> None:
    hog = agent_cmd("--alloc-mb", "100", "--alloc-mb-scoped", "10", "--sleep", "1")
    yaml = one_stage(
        "      - id: a\n"
        "        memory_mb: 60\n"
        "        grace: 0.5\n"
        "        retries: 4\n"
        "        retry_backoff: 0\n"
        "        reduced_scope: {depth: 1}\n"
        f"        run: {hog}\n",
        defaults="{timeout: 30, on_exhausted: {memory_factor: 3, max_memory_mb: 100}}",
    )
    outcome, state, _ = await run_inline(tmp_path, workspace, yaml)
    assert outcome.exit_code == 0
    exhausted = ("failed", "resource_exhausted")
    assert limits_of(state) == [
        (1, *exhausted, 60, "full", ""),
        (2, *exhausted, 100, "full", "memory 60 → 100 MB, its cap, after attempt 1 was stopped at 60 MB"),
        (3, "succeeded", None, 100, "reduced",
         "memory not adjusted, at its cap (max_memory_mb 100): attempt 2 was stopped at 100 MB;"
         " runs with its reduced scope"),
    ]  # fmt: skip


async def test_without_on_exhausted_a_retry_runs_with_the_same_limit(
    tmp_path: Path, workspace: Path
) -> None:
    yaml = one_stage(
        f"      - {{id: a, memory_mb: 60, grace: 0.5, retries: 1, retry_backoff: 0, run: {HOG}}}"
    )
    _, state, _ = await run_inline(tmp_path, workspace, yaml)
    exhausted = ("failed", "resource_exhausted")
    assert limits_of(state) == [(1, *exhausted, 60, "full", ""), (2, *exhausted, 60, "full", "")]


async def test_a_budget_exhaustion_is_retried_with_the_budget_raised(
    tmp_path: Path, workspace: Path
) -> None:
    yaml = one_stage(
        "      - id: a\n"
        "        retries: 1\n"
        "        retry_backoff: 0\n"
        "        budget: {tokens: 100, cost_usd: 1}\n"
        "        on_exhausted: {budget_factor: 10, max_budget_tokens: 5000}\n"
        f"        run: {agent_cmd('--tokens', '500')}\n"
    )
    outcome, state, _ = await run_inline(tmp_path, workspace, yaml)
    assert outcome.exit_code == 0
    first, second = state.stages["s"].agents["a"].attempts
    assert (first.category, first.exhausted, first.budget_tokens) == (
        "resource_exhausted",
        "tokens",
        100,
    )
    assert (second.status, second.budget_tokens, second.budget_cost_usd) == ("succeeded", 1000, 1)
    assert second.limits_reason == (
        "token budget 100 → 1000 tokens after attempt 1 was stopped at 100 tokens"
    )


def test_a_cost_budget_is_raised_to_its_cap_and_then_stays() -> None:
    rule = OnExhausted(budget_factor=2, max_budget_cost_usd=0.75)
    step = after_exhaustion(Limits(tokens=10, cost_usd=0.5), rule, "cost_usd", 1)
    assert step.raised and (step.limits.tokens, step.limits.cost_usd) == (10, 0.75)
    assert step.limits.reason == (
        "cost budget $0.5000 → $0.7500, its cap, after attempt 1 was stopped at $0.5000"
    )
    again = after_exhaustion(step.limits, rule, "cost_usd", 2)
    assert not again.raised and again.limits.cost_usd == 0.75
    assert again.limits.reason.startswith("cost budget not adjusted, at its cap")
    other = after_exhaustion(step.limits, rule, "memory", 2)  # no memory_factor: nothing to raise
    assert not other.raised and other.limits.memory_mb is None and other.limits.reason == ""


def test_attempts_recorded_before_limits_were_kept_still_fold() -> None:
    created = {
        "kind": "run_created",
        "workflow": "t",
        "workflow_path": "wf.yaml",
        "workflow_text": one_stage("      - {id: a, run: [x]}"),
        "workspace": "/ws",
        "run_dir": "/ws/.phaseboard/runs/r",
    }
    start = {"kind": "attempt_started", "stage": "s", "agent": "a", "attempt": 1}
    end = {**start, "kind": "attempt_finished", "status": "failed"}
    end["category"] = "resource_exhausted"
    end["error"] = "memory limit exceeded: 70 MiB resident, limit 60 MiB"
    events = [Event("r", n, 0.0, d["kind"], "", d) for n, d in enumerate((created, start, end))]
    for event in events:
        event.payload()  # valid as stored, without the fields added since
    agent = RunState.fold("r", events).stages["s"].agents["a"]
    [attempt] = agent.attempts
    assert (attempt.memory_mb, attempt.limits_reason, attempt.exhausted) == (None, "", None)
    assert stopped_for_memory(attempt)  # told from its error


def test_more_memory_is_refused_at_the_cap_and_without_a_limit() -> None:
    capped = AgentSpec(
        id="a", run=["x"], memory_mb=100, on_exhausted=OnExhausted(max_memory_mb=150)
    )
    state = AgentState("a", "s", "a", attempts=[AttemptState(n=1, memory_mb=150)])
    plan = more_memory(capped, state)
    assert plan.refused == "its memory, 150 MB, is at its cap (max_memory_mb 150)"
    fresh = more_memory(capped, AgentState("a", "s", "a"))  # from the workflow's limit
    assert (fresh.factor, fresh.current, fresh.memory_mb) == (1.5, 100, 150)
    unlimited = more_memory(AgentSpec(id="b", run=["x"]), AgentState("b", "s", "b"))
    assert unlimited.refused == "it has no memory limit (memory_mb)"


def test_cli_retry_with_more_memory(tmp_path: Path, workspace: Path) -> None:
    wf = tmp_path / "wf.yaml"
    wf.write_text(
        one_stage(
            f"      - {{id: a, memory_mb: 100, grace: 0.5, run: {HOG},"
            " on_exhausted: {memory_factor: 2}}\n"
            f"      - {{id: b, run: {agent_cmd()}}}\n"
        )
    )
    run = run_cli("run", str(wf), "--headless", "--workspace", str(workspace), cwd=tmp_path)
    assert run.returncode == 1, run.stderr  # retries: 0, the stage failed
    status = json.loads(run_cli_here("status", "last", "--json", cwd=workspace).stdout)
    assert status["run"]["status"] == "failed"

    refused = run_cli("retry", "last", "s.b", "--more-memory", cwd=workspace)
    assert refused.returncode == 1
    assert "s.b cannot get more memory: it has no memory limit (memory_mb)" in refused.stderr
    ok = run_cli("retry", "last", "s.a", "--more-memory", cwd=workspace)
    assert ok.returncode == 0, ok.stderr
    assert "s.a will run again (same, memory 100 → 200 MB)" in ok.stdout
    resumed = run_cli("resume", "last", "--headless", cwd=workspace)
    assert resumed.returncode == 0, resumed.stderr

    status = json.loads(run_cli_here("status", "last", "--json", cwd=workspace).stdout)
    first, second = status["stages"][0]["agents"][0]["attempts"]
    assert (first["category"], first["memory_mb"]) == ("resource_exhausted", 100)
    assert (second["status"], second["memory_mb"]) == ("succeeded", 200)
    assert second["limits_reason"] == (
        f"memory 100 → 200 MB: retry with 2x memory by {operator_name()}"
    )
    [decision] = status["decisions"]
    assert (decision["kind"], decision["memory_mb"]) == ("retry", 200)


def test_a_paused_run_suggests_more_memory_for_an_agent_stopped_at_its_limit(
    tmp_path: Path, workspace: Path
) -> None:
    wf = tmp_path / "wf.yaml"
    wf.write_text(
        one_stage(f"      - {{id: a, memory_mb: 100, grace: 0.5, run: {HOG}}}\n")
        + "  - id: gate\n    kind: checkpoint\n"
        "    criteria: [{id: done, expr: 'stages.s.failed == 0'}]\n"
        "    on_failure: [manual_resolution]\n"
    )
    run = run_cli("run", str(wf), "--headless", "--workspace", str(workspace), cwd=tmp_path)
    assert run.returncode == 4, run.stderr
    status = json.loads(run_cli_here("status", "last", "--json", cwd=workspace).stdout)
    rid = status["run"]["id"]
    assert status["run"]["awaiting"][0] == (
        f"retry s.a with more memory: phaseboard retry {rid} s.a --more-memory"
    )
    assert status["progress"]["blockers"][-1]["kind"] == "exhausted"
