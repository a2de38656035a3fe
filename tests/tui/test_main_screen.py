"""The main screen fills in from a real run (engine in this event loop, real agents)."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Log, Sparkline

from engine.state.events import Event
from screens.conflicts import CandidateCard, ConflictScreen
from screens.main import MainScreen
from tests.helpers import agent_cmd
from tests.tui.tui_helpers import engine_in_loop, make_run, text_of, wait_for
from tui.console.app import PhaseboardApp
from tui.console.widgets.agent_pane import AgentGrid, AgentPane
from tui.console.widgets.conflict_table import ConflictTable
from tui.console.widgets.event_log import EventLog
from tui.console.widgets.stage_list import StageList
from tui.console.widgets.synthesis_view import SynthesisView

ESCAPES = "print('\\x1b[2J\\x1b]0;pwned\\x07\\x1b]52;c;ZXZpbA==\\x07clean text\\x07end')"


def flow() -> str:
    return f"""
version: 1
name: fill
defaults: {{timeout: 30, retries: 0, retry_backoff: 0}}
stages:
  - id: analysis
    kind: agents
    mode: parallel
    agents:
      - id: architecture
        title: Architecture
        run: {agent_cmd("--lines", "40", "--findings", '{"runtime": {"python": "3.11"}, "[b]k[/b]": "[red]x"}')}
      - id: code
        run: {agent_cmd("--findings", '{"todo": 2, "[b]k[/b]": "[/]"}', "--risks", '[{"id": "r1", "severity": "high", "title": "no tests"}]')}
      - id: noisy
        run: ["{{python}}", "-c", "{ESCAPES}"]
  - id: analysis_synthesis
    kind: consolidation
    inputs: [analysis]
  - id: review
    kind: checkpoint
    mode: lenient
    criteria:
      - {{id: two_done, expr: "stages.analysis.succeeded >= 2", severity: critical}}
"""


async def test_main_screen_fills_in(tmp_path: Path, workspace: Path) -> None:
    db, run_id = await make_run(tmp_path, workspace, flow())
    app = PhaseboardApp(db, run_id, poll_interval=0.05)
    async with engine_in_loop(db, run_id), app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: app.state.status in ("completed", "failed"), "the run's end")
        screen = app.screen
        assert isinstance(screen, MainScreen)
        stages = screen.query_one(StageList)
        assert stages.stage_ids == ["analysis", "analysis_synthesis", "review"]
        await wait_for(pilot, lambda: screen.selected == "review", "follow to the last stage")
        await pilot.press("up", "up")
        await wait_for(
            pilot,
            lambda: screen.query_one(AgentGrid).agent_ids == ["architecture", "code", "noisy"],
            "the analysis panes",
        )
        panes = {p.agent_id: p for p in screen.query(AgentPane)}
        arch = panes["architecture"].log_widget
        await wait_for(pilot, lambda: any("line 0000039" in ln for ln in arch.lines), "log tail")
        assert any("attempt 1 starting" in ln for ln in arch.lines)
        noisy = panes["noisy"].log_widget
        await wait_for(pilot, lambda: any("clean text" in ln for ln in noisy.lines), "noisy tail")
        assert not any("\x1b" in ln or "\x07" in ln for ln in noisy.lines)
        assert any("clean text" in ln and "pwned" not in ln for ln in noisy.lines)

        tree = screen.query_one(SynthesisView)
        assert "analysis_synthesis" in str(tree.root.label)
        labels = [str(n.label) for n in tree.root.children]
        assert any(label.startswith("findings (merged)") for label in labels)
        assert any(label.startswith("risks [1]") for label in labels)
        # agent text that looks like markup is shown as it is, and never breaks the console
        table = screen.query_one(ConflictTable)
        assert table.row_count == 1
        [conflict] = app.state.conflicts.values()
        assert conflict.path == "[b]k[/b]"
        assert str(table.get_cell(conflict.id, "path")) == "[b]k[/b]"
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ConflictScreen), "conflicts")
        await wait_for(pilot, lambda: len(app.screen.query(CandidateCard)) == 2, "candidates")
        assert "[b]k[/b]" in text_of(app.screen.query_one("#conflict-detail"))
        await pilot.press("2", "enter")
        await wait_for(
            pilot,
            lambda: (
                conflict.id in app.state.conflicts and app.state.conflicts[conflict.id].resolved
            ),
            "the resolution",
        )
        assert app.state.conflicts[conflict.id].resolution["value"] == "[/]"
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen), "the main screen")

        await pilot.press("4")
        events = screen.query_one(EventLog).query_one("#event-lines", Log)
        await wait_for(pilot, lambda: events.line_count > 10, "the event log")
        kinds = {e.kind for e in app.events}
        assert {"run_created", "stage_started", "attempt_finished", "consolidated"} <= kinds
        screen.query_one("#event-filter").value = "checkpoint_evaluated"
        await wait_for(pilot, lambda: events.line_count == 1, "the filtered event log")
        assert "review" in events.lines[0]

        await pilot.press("5")
        spark = screen.query_one("#attempt-spark", Sparkline)
        assert len(list(spark.data or [])) == 3
        metrics = " ".join(text_of(screen.query_one("#metrics-body")).split())
        assert "test coverage not measured no agent reported findings.coverage.percent" in metrics
        await pilot.press("3")
        body = text_of(screen.query_one("#checkpoint-body"))
        assert "two_done" in body and "pass" in body


def test_event_lines_are_sanitised() -> None:
    from tui.console.widgets.event_log import event_line

    event = Event(
        run_id="r",
        seq=7,
        ts=0.0,
        kind="agent_message",
        operator="",
        data={
            "stage": "s",
            "agent": "a",
            "attempt": 1,
            "message_type": "warning",
            "content": "bad \x1b[31mred\x1b[0m \x9b2J",
        },
    )
    line = event_line(event)
    assert "\x1b" not in line and "\x9b" not in line
    assert "bad red" in line
