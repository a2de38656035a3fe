"""The agent pane's info line says how an attempt was held to its ``cpu_percent`` (paused by
signals, or throttled by a cgroup's quota), and the host of a remote one."""

from __future__ import annotations

from engine.state.records import AgentState, AttemptState
from tests.tui.fixed_run import NOW
from tests.tui.test_agent_log import HEIGHT, OnePane
from tui.console.widgets.agent_pane import AgentPane


async def test_the_info_line_says_paused_or_throttled() -> None:
    cases = [
        (AttemptState(n=1, status="succeeded", throttled_s=2.9, cpu_limit="signals"), "paused"),
        (
            AttemptState(n=1, status="succeeded", throttled_s=2.9, cpu_limit="cgroup v1"),
            "throttled",
        ),
        (
            AttemptState(n=1, status="succeeded", throttled_s=2.9, cpu_limit="cgroup v2"),
            "throttled",
        ),
        (AttemptState(n=1, status="succeeded", throttled_s=2.9), "paused"),  # recorded before
    ]
    app = OnePane()
    async with app.run_test(size=(80, HEIGHT)):
        pane = app.query_one(AgentPane)
        for attempt, word in cases:
            agent = AgentState(id="a", stage="s", title="a", status="succeeded", attempts=[attempt])
            text = pane._info_text(agent, None, NOW, {}).plain
            assert f"{word} 2.9s" in text, text


async def test_the_info_line_names_the_host_of_a_remote_attempt() -> None:
    attempt = AttemptState(n=1, status="running", started_at=NOW - 3, host="node17")
    agent = AgentState(id="a", stage="s", title="a", status="running", attempts=[attempt])
    app = OnePane()
    async with app.run_test(size=(80, HEIGHT)):
        pane = app.query_one(AgentPane)
        assert "on node17" in pane._info_text(agent, None, NOW, {}, remote=True).plain
        assert "node17" not in pane._info_text(agent, None, NOW, {}).plain  # a local run
