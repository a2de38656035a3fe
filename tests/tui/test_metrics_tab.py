"""The Metrics tab shows the quality metrics of a real run with where each came from: a testing
agent that reports coverage, the bundled documentation agent, an agent that fails once."""

from __future__ import annotations

import re
from pathlib import Path

from engine.state.metrics import run_metrics
from screens.main import MainScreen
from tests.engine.test_quality_metrics import MEASURED, documented_project
from tests.tui.tui_helpers import engine_in_loop, make_run, text_of, wait_for
from tui.console.app import PhaseboardApp


async def test_metrics_tab_shows_quality_metrics_and_their_sources(tmp_path: Path) -> None:
    workspace = documented_project(tmp_path / "ws")
    db, run_id = await make_run(tmp_path, workspace, MEASURED)
    app = PhaseboardApp(db, run_id, poll_interval=0.05)
    async with engine_in_loop(db, run_id), app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.state.status == "completed", "the run's end")
        screen = app.screen
        assert isinstance(screen, MainScreen)
        await pilot.press("5")
        body = screen.query_one("#metrics-body")
        await wait_for(pilot, lambda: "error rate" in text_of(body), "the quality metrics")
        lines = [" ".join(line.split()) for line in text_of(body).splitlines()]
        text = "\n".join(lines)

        assert "test coverage 87.5% 35 of 40 statements" in lines
        assert "from testing.unit_tests (coverage.py, line coverage)" in text
        assert "documentation 71.4% 5 of 7 checks; missing: readme.license, links" in text
        assert "from testing.documentation (README sections, changelog, relative links," in text
        assert "error rate 25.0% 1 failed of 4 attempts (agent_failure 1)" in text
        assert "from the run's attempts (rolled-back attempts left out)" in text
        shown = re.findall(r"^(the run|testing\.\w+) (\d+\.\d\d)", text, re.M)
        efficiency = run_metrics(app.state)["agent_performance"]["resource_efficiency"]
        rows = [("the run", efficiency), *efficiency["agents"].items()]
        assert shown == [(who, f"{item['value']:.2f}") for who, item in rows]
        assert [who for who, _ in shown[1:]] == [
            "testing.unit_tests",
            "testing.documentation",
            "testing.flaky",
        ]
