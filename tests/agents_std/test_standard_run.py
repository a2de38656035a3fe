"""The standard workflow end to end on a copy of the demo sample, through the real command line:
the code agent fails once on purpose and is retried, the runtime conflict pauses the run, and after
`resolve` and `resume` the run finishes with a verdict and the documents in the workspace."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

from tests.helpers import run_cli


def test_sample_pauses_on_the_conflict_then_proceeds_after_resolve(sample_copy: Path) -> None:
    first = run_cli(
        "run", "standard", "--headless", "--set", "fail_first_attempt=code", cwd=sample_copy,
        timeout=120,
    )  # fmt: skip
    assert first.returncode == 4, first.stderr
    status = json.loads(run_cli("status", "last", "--json", cwd=sample_copy).stdout)
    analysis = next(s for s in status["stages"] if s["id"] == "analysis")
    code = next(a for a in analysis["agents"] if a["id"] == "code")
    assert [(a["status"], a["category"]) for a in code["attempts"]] == [
        ("failed", "agent_failure"),
        ("succeeded", None),
    ]
    (conflict,) = status["conflicts"]
    assert conflict["path"] == "runtime.python" and conflict["severity"] == "critical"
    assert conflict["candidates"] == {
        "analysis.architecture": ">=3.11",
        "analysis.infrastructure": ["3.10"],
    }
    assert conflict["reason"] == (
        "3.10 (analysis.infrastructure) is outside >=3.11 (analysis.architecture)"
    )
    assert conflict["evidence"]["analysis.infrastructure"] == [
        {"file": ".python-version", "line": 1, "text": "3.10", "value": "3.10"}
    ]
    shown = run_cli("status", "last", cwd=sample_copy).stdout
    assert "why: 3.10 (analysis.infrastructure) is outside >=3.11" in shown
    assert "from .python-version:1: 3.10" in shown
    assert 'from pyproject.toml:10: requires-python = ">=3.11"' in shown

    resolve = run_cli(
        "resolve", "last", conflict["id"], "--pick", "analysis.architecture", cwd=sample_copy
    )
    assert resolve.returncode == 0, resolve.stderr
    resumed = run_cli("resume", "last", "--headless", cwd=sample_copy, timeout=180)

    assert resumed.returncode == 0, resumed.stderr
    status = json.loads(run_cli("status", "last", "--json", cwd=sample_copy).stdout)
    assert status["run"]["decision"] == "PROCEED"
    testing = next(s for s in status["stages"] if s["id"] == "testing")
    unit = next(a for a in testing["agents"] if a["id"] == "unit_tests")
    assert unit["result"]["findings"]["tests"]["passed"] == 7
    assert {a["id"] for a in testing["agents"] if a["status"] == "succeeded"} == {
        "unit_tests",
        "security",
        "documentation",
    }
    quality_of_the_report(Path(status["run"]["run_dir"]))
    assert "resolved to `>=3.11`" in (sample_copy / "CHANGELOG.md").read_text()
    assert (sample_copy / "docs" / "ARCHITECTURE.md").read_text().count("```mermaid") == 1
    assert "c_" in (sample_copy / "docs" / "RISKS.md").read_text()


def quality_of_the_report(run_dir: Path) -> None:
    """The final report of the run above has its documentation and error-rate metrics with
    their sources; coverage only where the unit_tests agent could measure it."""
    report = json.loads((run_dir / "final_report.json").read_text(encoding="utf-8"))
    quality = report["metrics"]["quality_metrics"]
    docs = quality["documentation_completeness"]
    assert docs["source"].startswith("testing.documentation (")
    assert (docs["value"], docs["present"], docs["checked"]) == (100.0, 7, 7)
    errors = quality["error_rate"]  # 11 attempts: code's first failed on purpose
    assert (errors["value"], errors["failed"], errors["attempts"]) == (0.0909, 1, 11)
    assert errors["by_category"] == {"agent_failure": 1}
    # The sample has no environment of its own: its tests run with phaseboard's interpreter
    # (this one), which measures coverage only where coverage is installed (a dev install is
    # not enough: pyproject.toml does not ask for it).
    coverage = quality["test_coverage"]
    if importlib.util.find_spec("coverage") is None:
        assert (coverage["value"], coverage["source"]) == (None, None)
        assert coverage["reason"] == (
            "testing.unit_tests: coverage is not installed in phaseboard's interpreter "
            "(phaseboard installs nothing)"
        )
    else:
        assert 0 < coverage["value"] <= 100
        assert coverage["source"] == "testing.unit_tests (coverage.py, line coverage)"
    markdown = (run_dir / "final_report.md").read_text(encoding="utf-8")
    assert "| documentation completeness | " in markdown and "| error rate | " in markdown
    efficiency = report["metrics"]["agent_performance"]["resource_efficiency"]
    assert efficiency["value"] > 0 and efficiency["agents"]["testing.unit_tests"]["value"] > 0
