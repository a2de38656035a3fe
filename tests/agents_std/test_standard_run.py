"""The standard workflow end to end on a copy of the demo sample, through the real command line:
the code agent fails once on purpose and is retried, the runtime conflict pauses the run, and after
`resolve` and `resume` the run finishes with a verdict and the documents in the workspace."""

from __future__ import annotations

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
    assert "resolved to `>=3.11`" in (sample_copy / "CHANGELOG.md").read_text()
    assert (sample_copy / "docs" / "ARCHITECTURE.md").read_text().count("```mermaid") == 1
    assert "c_" in (sample_copy / "docs" / "RISKS.md").read_text()
