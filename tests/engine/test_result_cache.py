"""Results not paid for twice (``cache: true``), retries that continue an LLM session
(``PHASEBOARD_PREVIOUS_SESSION``) and an agent's own limit (exit 75), with real agent processes
and the real engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.workflow.loader import WorkflowError, parse_workflow
from tests.helpers import agent_cmd, one_stage, run_inline

CACHED = one_stage(
    f"      - {{id: a, cache: true, run: {agent_cmd('--tokens', '100', '--cost', '0.01')}}}\n"
    f"      - {{id: b, run: {agent_cmd('--tokens', '7')}}}"
)


async def test_a_second_run_reuses_a_cached_result_until_the_workspace_changes(
    tmp_path: Path, workspace: Path
) -> None:
    (workspace / "src.py").write_text("x = 1\n")
    _, first, _ = await run_inline(tmp_path, workspace, CACHED)
    _, second, _ = await run_inline(tmp_path, workspace, CACHED)

    (paid,) = first.stages["s"].agents["a"].attempts
    assert paid.cached_from is None and paid.tokens == 100
    (reused,) = second.stages["s"].agents["a"].attempts
    assert reused.cached_from == f"{first.run_id}/s.a#1"
    assert (reused.tokens, reused.saved_tokens, reused.saved_cost_usd) == (0, 100, 0.01)
    assert second.stages["s"].agents["a"].result == first.stages["s"].agents["a"].result
    (uncached,) = second.stages["s"].agents["b"].attempts  # not marked cache: true
    assert uncached.cached_from is None and uncached.tokens == 7

    from engine.reports.status_text import status_lines
    from engine.state.metrics import run_metrics

    metrics = run_metrics(second)
    assert (metrics["cached_attempts"], metrics["tokens_saved"]) == (1, 100)
    text = "\n".join(status_lines(second))
    assert f"attempt 1: cached from {first.run_id}/s.a#1\n" in text
    assert "attempt 1: 100 tokens, $0.0100 not spent again" in text

    _, third, _ = await run_inline(tmp_path, workspace, CACHED, use_cache=False)  # --no-cache
    assert third.stages["s"].agents["a"].attempts[0].cached_from is None
    (workspace / "src.py").write_text("x = 2\n")
    _, fourth, _ = await run_inline(tmp_path, workspace, CACHED)
    assert fourth.stages["s"].agents["a"].attempts[0].cached_from is None


async def test_a_retry_after_a_rejected_answer_continues_the_session_unless_scope_changes(
    tmp_path: Path, workspace: Path
) -> None:
    answer = ("--bad-first-result", "--session", "--tokens", "50", "--echo-env")
    schema = "{type: object, required: [findings]}"
    yaml = one_stage(
        f"      - {{id: a, retries: 1, retry_backoff: 0, schema: {schema}, "
        f"run: {agent_cmd(*answer)}}}\n"
        f"      - {{id: b, retries: 1, retry_backoff: 0, schema: {schema}, "
        f"reduced_scope: {{depth: 1}}, run: {agent_cmd(*answer)}}}\n"
        f"      - {{id: c, retries: 0, run: {agent_cmd('--exit', '75')}}}"
    )
    _, state, _ = await run_inline(tmp_path, workspace, yaml)

    agent = state.stages["s"].agents["a"]
    first, second = agent.attempts
    assert first.category == "data_corruption" and first.session_id == "s1"
    assert agent.result["env"]["PHASEBOARD_PREVIOUS_SESSION"] == "s1"
    assert second.resumed_session == "s1" and second.session_id == "s2"
    assert second.saved_tokens == first.tokens == 50
    from engine.reports.status_text import status_lines

    text = "\n".join(status_lines(state))
    assert "attempt 2: resumed session s1\n" in text and "attempt 2: about 50 tokens" in text
    reduced = state.stages["s"].agents["b"]  # its retry runs the reduced scope: afresh
    assert reduced.result["env"]["PHASEBOARD_PREVIOUS_SESSION"] is None
    assert reduced.attempts[1].resumed_session is None and reduced.attempts[1].saved_tokens == 0
    (own_limit,) = state.stages["s"].agents["c"].attempts
    assert (own_limit.category, own_limit.exhausted) == ("resource_exhausted", "agent")


@pytest.mark.parametrize(
    ("stage_extra", "agent_extra"),
    [("    mode: sequential\n", ""), ("", ", rollback: [echo, undo]")],
)
def test_cache_is_refused_for_agents_that_change_things(stage_extra: str, agent_extra: str) -> None:
    yaml = one_stage(f"      - {{id: a, cache: true, run: [echo]{agent_extra}}}", extra=stage_extra)
    yaml = yaml.replace("    mode: parallel\n", "") if stage_extra else yaml
    with pytest.raises(WorkflowError, match="cache: true is for agents that only read"):
        parse_workflow(yaml, "wf.yaml")


async def test_a_cached_result_is_checked_against_the_schema_and_an_operators_retry_runs(
    tmp_path: Path, workspace: Path
) -> None:
    import sqlite3

    from engine.state.events import AgentReset, Event
    from engine.state.run_state import RunState

    schema = "{type: object, required: [findings]}"
    yaml = one_stage(f"      - {{id: a, cache: true, schema: {schema}, run: {agent_cmd()}}}")
    _, first, db = await run_inline(tmp_path, workspace, yaml)
    with sqlite3.connect(db) as conn:  # the stored result no longer fits the schema
        conn.execute(
            "UPDATE events SET data = json_set(data, '$.result', json('{}')) "
            "WHERE kind = 'agent_finished'"
        )
    _, second, _ = await run_inline(tmp_path, workspace, yaml)
    (ran,) = second.stages["s"].agents["a"].attempts
    assert ran.cached_from is None and ran.status == "succeeded"
    warning = next(m for m in second.messages if m["message_type"] == "warning")
    assert f"the cached result of {first.run_id}/s.a#1 is not reused" in warning["content"]

    state = RunState.fold(second.run_id, [])
    state.stages = second.stages
    reset = AgentReset(stage="s", agent="a", by="op").model_dump()
    state.apply(Event(second.run_id, 999, 0.0, "agent_reset", "op", reset))
    assert state.stages["s"].agents["a"].no_cache  # an operator's retry bypasses the cache
