"""The quality metrics (coverage, documentation completeness, error rate, CPU over wall time) of
real runs: the real engine, real agent subprocesses (the bundled documentation agent among them),
a real SQLite file, the real command line for ``status --json`` and the report files."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from engine.state.events import RolledBack
from engine.state.metrics import run_metrics
from engine.state.run_state import RunState
from tests.engine.test_status_view import RUN_ID, build_run
from tests.helpers import agent_cmd, run_cli, run_inline

TESTS = {"status": "passed", "passed": 3, "failed": 0}
COVERAGE = {
    "percent": 87.5,
    "tool": "coverage.py",
    "measure": "line",
    "covered_lines": 35,
    "statements": 40,
}
NULL_IS_FINE = (
    "metrics.quality_metrics.test_coverage.value == null"
    " || metrics.quality_metrics.test_coverage.value >= 80"
)


def workflow(agents: str) -> str:
    return f"""
version: 1
name: quality
defaults: {{timeout: 60, retries: 0, retry_backoff: 0}}
stages:
  - id: testing
    kind: agents
    mode: parallel
    agents:
{textwrap.indent(textwrap.dedent(agents).strip(), "      ")}
  - id: review
    kind: checkpoint
    criteria:
      - {{id: coverage_enough_or_unmeasured, expr: "{NULL_IS_FINE}"}}
      - {{id: no_retries_left_over, expr: "metrics.retries <= 1"}}
"""


MEASURED = workflow(
    f"""
    - id: unit_tests
      run: {agent_cmd("--findings", json.dumps({"tests": TESTS, "coverage": COVERAGE}))}
    - id: documentation
      run: ["{{python}}", "{{data}}/agents/documentation.py", "{{workspace}}"]
    - id: flaky
      run: {agent_cmd("--fail-attempts", "1")}
      retries: 1
    """
)
UNMEASURED = workflow(
    f"""
    - id: unit_tests
      run: {agent_cmd("--findings", json.dumps({"tests": TESTS}))}
    """
)


def documented_project(root: Path) -> Path:
    """README with installation and usage but no license, a changelog, one broken link, and
    docstrings on 3 of the 4 public API items (over the agent's 50% bar)."""
    files = {
        "README.md": "# proj\n\n## Installation\n\n    pip install proj\n\n## Usage\n\n"
        "See [the guide](docs/guide.md) and [the gone page](docs/gone.md).\n",
        "docs/guide.md": "# Guide\n\nBack to the [README](../README.md).\n",
        "CHANGELOG.md": "# Changes\n\n## 1.0\n\n- first\n",
        "proj/__init__.py": '"""The package."""\n',
        "proj/core.py": '"""Core."""\n\n\ndef documented():\n    """Yes."""\n\n\n'
        "def bare():\n    pass\n",
    }
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root


def run_through_cli(tmp_path: Path, yaml_text: str, workspace: Path) -> dict[str, object]:
    wf = tmp_path / "wf.yaml"
    wf.write_text(yaml_text, encoding="utf-8")
    done = run_cli("run", str(wf), "--headless", "--workspace", str(workspace), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    status = run_cli("status", "last", "--json", cwd=workspace)
    assert status.returncode == 0, status.stderr
    return json.loads(status.stdout)


def test_a_run_that_measured_them_gives_each_with_its_source(tmp_path: Path) -> None:
    workspace = documented_project(tmp_path / "ws")
    status = run_through_cli(tmp_path, MEASURED, workspace)
    quality = status["metrics"]["quality_metrics"]  # type: ignore[index]

    assert quality["test_coverage"] == {
        "value": 87.5,
        "unit": "percent",
        "source": "testing.unit_tests (coverage.py, line coverage)",
        "covered_lines": 35,
        "statements": 40,
    }
    docs = quality["documentation_completeness"]
    assert (docs["value"], docs["present"], docs["checked"]) == (71.4, 5, 7)
    assert docs["missing"] == ["readme.license", "links"]
    assert docs["docstrings"] == {
        "documented": 3,
        "total": 4,
        "percent": 75.0,
        "min_percent": 50.0,
    }
    assert docs["source"].startswith("testing.documentation (")
    errors = quality["error_rate"]
    assert (errors["value"], errors["failed"], errors["attempts"]) == (0.25, 1, 4)
    assert errors["by_category"] == {"agent_failure": 1}
    assert errors["source"] == "the run's attempts (rolled-back attempts left out)"
    review = next(s for s in status["stages"] if s["id"] == "review")  # type: ignore[attr-defined]
    assert [c["passed"] for c in review["criteria"]] == [True, True]

    run_dir = Path(status["run"]["run_dir"])  # type: ignore[index]
    report = json.loads((run_dir / "final_report.json").read_text(encoding="utf-8"))
    assert report["metrics"]["quality_metrics"] == quality
    text = (run_dir / "final_report.md").read_text(encoding="utf-8")
    assert (
        "| test coverage | 87.5% | 35 of 40 statements "
        "| testing.unit_tests (coverage.py, line coverage) |"
    ) in text
    assert (
        "| documentation completeness | 71.4% | 5 of 7 checks; missing: readme.license, links |"
        in text
    )
    assert (
        "| error rate | 25.0% | 1 failed of 4 attempts (agent_failure 1) "
        "| the run's attempts (rolled-back attempts left out) |"
    ) in text


def test_a_run_that_measured_nothing_gives_null_not_zero(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    status = run_through_cli(tmp_path, UNMEASURED, workspace)
    quality = status["metrics"]["quality_metrics"]  # type: ignore[index]

    for name in ("test_coverage", "documentation_completeness"):
        assert quality[name]["value"] is None and quality[name]["source"] is None
        assert quality[name]["reason"]
    assert quality["error_rate"]["value"] == 0.0  # measured: no attempt failed
    review = next(s for s in status["stages"] if s["id"] == "review")  # type: ignore[attr-defined]
    assert [c["passed"] for c in review["criteria"]] == [True, True]  # null read safely

    run_dir = Path(status["run"]["run_dir"])  # type: ignore[index]
    report = json.loads((run_dir / "final_report.json").read_text(encoding="utf-8"))
    assert report["metrics"]["quality_metrics"]["test_coverage"]["value"] is None
    text = (run_dir / "final_report.md").read_text(encoding="utf-8")
    assert (
        "| test coverage | not measured | no agent reported findings.coverage.percent | - |" in text
    )


BURN = 'import json, time\nwhile time.process_time() < 1.0: pass\nprint(json.dumps(dict(summary="burned")))'
SLEEP = 'import json, time\ntime.sleep(1.5)\nprint(json.dumps(dict(summary="slept")))'


async def test_cpu_over_wall_time_of_a_busy_and_a_sleeping_agent(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    agents = f"""
    - {{id: burner, output: json, cpu_percent: null, run: ["{{python}}", "-c", {json.dumps(BURN)}]}}
    - {{id: sleeper, output: json, cpu_percent: null, run: ["{{python}}", "-c", {json.dumps(SLEEP)}]}}
    """
    _, state, _ = await run_inline(tmp_path, workspace, workflow(agents))
    efficiency = run_metrics(state)["agent_performance"]["resource_efficiency"]
    burner = efficiency["agents"]["testing.burner"]
    sleeper = efficiency["agents"]["testing.sleeper"]

    # a busy machine makes wall time longer, never CPU time larger: these hold however busy
    assert burner["cpu_s"] >= 0.9 and burner["value"] <= 1.1
    assert sleeper["value"] < 0.2 and sleeper["wall_s"] >= 1.5
    assert burner["value"] > 5 * sleeper["value"]
    assert burner["value"] > 0.2  # near 1 on an idle core; a fifth leaves room for load
    assert efficiency["attempts"] == 2 and efficiency["unit"] == "ratio"
    assert efficiency["value"] == round(
        (burner["cpu_s"] + sleeper["cpu_s"]) / (burner["wall_s"] + sleeper["wall_s"]), 3
    )
    assert efficiency["source"].startswith("the run's finished attempts")


async def test_rolled_back_attempts_leave_the_error_rate(tmp_path: Path) -> None:
    run = await build_run(tmp_path)
    try:
        before = run_metrics(run.state)["quality_metrics"]["error_rate"]
        assert (before["value"], before["failed"], before["attempts"]) == (0.5, 2, 4)
        await run.store.append(RUN_ID, [RolledBack(point="rp1", stage="analysis")])
        state = RunState.fold(RUN_ID, await run.store.events(RUN_ID))
    finally:
        await run.store.close()
    metrics = run_metrics(state)
    after = metrics["quality_metrics"]["error_rate"]
    assert (after["value"], after["failed"], after["attempts"]) == (None, 0, 0)
    assert after["source"] is None and after["reason"] == "no attempt has finished"
    efficiency = metrics["agent_performance"]["resource_efficiency"]
    assert efficiency["value"] is None
    assert {a["value"] for a in efficiency["agents"].values()} == {None}
