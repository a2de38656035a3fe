"""`phaseboard demo --headless`: the Quick start's job, from a clean directory."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from engine.store import run_lock
from engine.store.database import Store
from tests.helpers import run_cli


def test_demo_pauses_on_its_conflict_and_finishes_after_resolve(tmp_path: Path) -> None:
    first = run_cli("demo", "--headless", cwd=tmp_path, timeout=180)
    assert first.returncode == 4, first.stderr
    demo = tmp_path / "phaseboard-demo"
    assert (demo / ".python-version").read_text().strip() == "3.10"
    assert "cd phaseboard-demo" in first.stderr
    status = json.loads(run_cli("status", "last", "--json", cwd=demo).stdout)
    code = next(a for a in status["stages"][0]["agents"] if a["id"] == "code")
    assert [a["status"] for a in code["attempts"]] == ["failed", "succeeded"]
    [conflict] = [c for c in status["conflicts"] if not c["resolved"]]
    assert conflict["path"] == "runtime.python" and conflict["severity"] == "critical"
    assert conflict["candidates"] == {
        "analysis.architecture": ">=3.11",
        "analysis.infrastructure": ["3.10"],
    }

    resolved = run_cli(
        "resolve", "last", conflict["id"], "--pick", "analysis.architecture", cwd=demo
    )
    assert resolved.returncode == 0, resolved.stderr
    done = run_cli("resume", "last", "--headless", cwd=demo, timeout=180)
    assert done.returncode == 0, done.stderr
    run_dir = next((demo / ".phaseboard" / "runs").iterdir())
    report = (run_dir / "final_report.md").read_text()
    assert "PROCEED" in report
    testing = json.loads((run_dir / "testing" / "unit_tests.json").read_text())
    assert testing["findings"]["tests"]["passed"] > 0
    assert testing["findings"]["tests"]["failed"] == 0

    # roll back the implementation: its files go, and the testing stage still counts 3 agents
    rolled = run_cli("rollback", "last", "implementation", "--yes", cwd=demo)
    assert rolled.returncode == 0, rolled.stderr
    assert not (demo / "docs" / "ARCHITECTURE.md").exists()
    status = json.loads(run_cli("status", "last", "--json", cwd=demo).stdout)
    testing_stage = next(s for s in status["stages"] if s["id"] == "testing")
    assert testing_stage["total"] == 3
    assert run_cli("resume", "last", "--headless", cwd=demo, timeout=180).returncode == 0
    assert (demo / "docs" / "ARCHITECTURE.md").exists()

    # a second demo starts from a fresh copy: the first one's files are gone, its runs kept
    (demo / "notes.txt").write_text("scratch")
    again = run_cli("demo", "--headless", cwd=tmp_path, timeout=180)
    assert again.returncode == 4, again.stderr
    assert not (demo / "docs" / "ARCHITECTURE.md").exists()
    assert not (demo / "notes.txt").exists()
    assert len(json.loads(run_cli("runs", "--json", cwd=demo).stdout)) == 2


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
