"""`phaseboard demo --headless`: the Quick start's job, from a clean directory."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
from pathlib import Path

from engine.store import run_lock
from engine.store.database import Store
from tests.helpers import run_cli, run_cli_here


def test_demo_pauses_on_its_conflict_and_finishes_after_resolve(tmp_path: Path) -> None:
    """The README's walk through the demo: the standard workflow on the sample, the code agent
    failing once on purpose, the runtime conflict, resolve, resume, rollback, resume."""
    first = run_cli("demo", "--headless", cwd=tmp_path, timeout=180)
    assert first.returncode == 4, first.stderr
    demo = tmp_path / "phaseboard-demo"
    assert (demo / ".python-version").read_text().strip() == "3.10"
    assert "cd phaseboard-demo" in first.stderr
    status = json.loads(run_cli_here("status", "last", "--json", cwd=demo).stdout)
    code = next(a for a in status["stages"][0]["agents"] if a["id"] == "code")
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
    shown = run_cli_here("status", "last", cwd=demo).stdout
    assert "why: 3.10 (analysis.infrastructure) is outside >=3.11" in shown
    assert "from .python-version:1: 3.10" in shown
    assert 'from pyproject.toml:10: requires-python = ">=3.11"' in shown

    resolved = run_cli(
        "resolve", "last", conflict["id"], "--pick", "analysis.architecture", cwd=demo
    )
    assert resolved.returncode == 0, resolved.stderr
    done = run_cli("resume", "last", "--headless", cwd=demo, timeout=180)
    assert done.returncode == 0, done.stderr
    status = json.loads(run_cli_here("status", "last", "--json", cwd=demo).stdout)
    assert status["run"]["decision"] == "PROCEED"
    testing = next(s for s in status["stages"] if s["id"] == "testing")
    unit = next(a for a in testing["agents"] if a["id"] == "unit_tests")
    assert unit["result"]["findings"]["tests"]["passed"] == 7
    assert unit["result"]["findings"]["tests"]["failed"] == 0
    assert {a["id"] for a in testing["agents"] if a["status"] == "succeeded"} == {
        "unit_tests",
        "security",
        "documentation",
    }
    run_dir = Path(status["run"]["run_dir"])
    assert "PROCEED" in (run_dir / "final_report.md").read_text()
    quality_of_the_report(run_dir)
    assert "resolved to `>=3.11`" in (demo / "CHANGELOG.md").read_text()
    assert (demo / "docs" / "ARCHITECTURE.md").read_text().count("```mermaid") == 1
    assert "c_" in (demo / "docs" / "RISKS.md").read_text()

    # roll back the implementation: its files go, and the testing stage still counts 3 agents
    rolled = run_cli("rollback", "last", "implementation", "--yes", cwd=demo)
    assert rolled.returncode == 0, rolled.stderr
    assert not (demo / "docs" / "ARCHITECTURE.md").exists()
    status = json.loads(run_cli_here("status", "last", "--json", cwd=demo).stdout)
    testing_stage = next(s for s in status["stages"] if s["id"] == "testing")
    assert testing_stage["total"] == 3
    assert run_cli("resume", "last", "--headless", cwd=demo, timeout=180).returncode == 0
    assert (demo / "docs" / "ARCHITECTURE.md").exists()


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


def test_demo_leaves_a_copy_alone_while_its_run_is_live(tmp_path: Path) -> None:
    first = run_cli("demo", "--headless", cwd=tmp_path, timeout=180)
    assert first.returncode == 4, first.stderr
    demo = tmp_path / "phaseboard-demo"
    run_id = json.loads(run_cli("runs", "--json", cwd=demo).stdout)[0]["id"]
    (demo / "notes.txt").write_text("work in progress")

    async def hold_lock() -> None:
        async with await Store.open(demo / ".phaseboard" / "phaseboard.db") as store:
            await run_lock.acquire(store, run_id)

    asyncio.run(hold_lock())  # this test's process is the live holder
    refused = run_cli("demo", "--headless", cwd=tmp_path)
    assert refused.returncode == 2
    assert f"demo run {run_id} is still going" in refused.stderr
    assert (demo / "notes.txt").read_text() == "work in progress"

    async def release_lock() -> None:
        async with await Store.open(demo / ".phaseboard" / "phaseboard.db") as store:
            await store.unlock(run_id, os.getpid())

    asyncio.run(release_lock())  # the run is no longer live: a demo starts from a fresh copy,
    again = run_cli("demo", "--headless", cwd=tmp_path, timeout=180)  # its runs are kept
    assert again.returncode == 4, again.stderr
    assert not (demo / "notes.txt").exists()
    assert len(json.loads(run_cli("runs", "--json", cwd=demo).stdout)) == 2
