"""The issue's main path, end to end through the real CLI: pause on a conflict, resolve,
resume to a verdict, roll back with the workspace restored exactly, resume again."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tests.helpers import agent_cmd, run_cli, run_cli_here


def tree_digest(root: Path) -> dict[str, str]:
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if rel.startswith(".phaseboard") or not path.is_file():
            continue
        out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def flow_yaml() -> str:
    return f"""
version: 1
name: flow
defaults: {{timeout: 30, retries: 1, retry_backoff: 0}}
stages:
  - id: analysis
    kind: agents
    mode: parallel
    agents:
      - id: architecture
        run: {agent_cmd("--findings", '{"runtime": {"python": "3.11"}, "modules": 4}')}
      - id: code
        run: {agent_cmd("--fail-attempts", "1", "--findings", '{"todo": 2}')}
      - id: infrastructure
        run: {agent_cmd("--findings", '{"runtime": {"python": "3.12"}, "modules": 4}')}
  - id: analysis_synthesis
    kind: consolidation
    inputs: [analysis]
    conflict_severity: [{{path: "runtime.*", severity: critical}}]
  - id: analysis_review
    kind: checkpoint
    criteria:
      - {{id: all_completed, expr: "stages.analysis.succeeded == stages.analysis.total"}}
      - {{id: no_critical_conflicts, expr: "open_conflicts.filter(c, c.severity == 'critical').size() == 0"}}
    on_failure: [retry_failed, manual_resolution]
  - id: implementation
    kind: agents
    mode: sequential
    agents:
      - id: write_docs
        run: {agent_cmd("--write", "docs/NEW.md=new doc", "--write", "README.md=changed", "--delete", "src/app.py")}
      - id: write_more
        run: {agent_cmd("--write", "CHANGELOG.md=entry")}
  - id: production_readiness
    kind: checkpoint
    criteria:
      - {{id: docs_written, expr: "stages.implementation.succeeded == 2"}}
    decision:
      critical: ["stages.implementation.failed == 0"]
      warnings: ["metrics.retries"]
      proceed_below: 3
      conditional_below: 5
"""


def test_pause_resolve_resume_rollback_resume(tmp_path: Path, workspace: Path) -> None:
    wf = tmp_path / "flow.yaml"
    wf.write_text(flow_yaml())
    before = tree_digest(workspace)

    first = run_cli("run", str(wf), "--headless", "--workspace", str(workspace), cwd=tmp_path)
    assert first.returncode == 4, first.stderr
    assert "paused" in first.stderr
    db = workspace / ".phaseboard" / "phaseboard.db"
    assert db.stat().st_mode & 0o777 == 0o600

    status = json.loads(run_cli_here("status", "last", "--json", cwd=workspace).stdout)
    assert status["run"]["status"] == "paused"
    code = next(a for a in status["stages"][0]["agents"] if a["id"] == "code")
    assert [a["status"] for a in code["attempts"]] == ["failed", "succeeded"]
    assert code["attempts"][0]["category"] == "agent_failure"
    [conflict] = status["conflicts"]
    assert conflict["path"] == "runtime.python"
    assert conflict["severity"] == "critical"
    assert conflict["candidates"] == {
        "analysis.architecture": "3.11",
        "analysis.infrastructure": "3.12",
    }

    resolved = run_cli(
        "resolve",
        "last",
        conflict["id"],
        "--pick",
        "analysis.infrastructure",
        "--note",
        "CI wins",
        cwd=workspace,
    )
    assert resolved.returncode == 0, resolved.stderr
    again = run_cli(
        "resolve", "last", conflict["id"], "--pick", "analysis.architecture", cwd=workspace
    )
    assert again.returncode == 1
    assert "already resolved" in again.stderr

    done = run_cli("resume", "last", "--headless", cwd=workspace)
    assert done.returncode == 0, done.stderr
    status = json.loads(run_cli_here("status", "last", "--json", cwd=workspace).stdout)
    assert status["run"]["status"] == "completed"
    assert status["run"]["decision"] == "PROCEED"
    assert status["conflicts"][0]["resolution"]["picked"] == "analysis.infrastructure"
    assert status["conflicts"][0]["resolution"]["note"] == "CI wins"
    assert (workspace / "docs" / "NEW.md").exists()
    run_dir = Path(status["run"]["workspace"]) / ".phaseboard" / "runs" / status["run"]["id"]
    for name in (
        "analysis/architecture.json",
        "analysis/code.log",
        "analysis_synthesis_synthesis.json",
        "analysis_synthesis_consolidated.md",
        "analysis_review_validation.json",
        "SESSION_CONTINUITY.md",
        "final_report.md",
        "final_report.json",
    ):
        assert (run_dir / name).exists(), name

    rolled = run_cli("rollback", "last", "implementation", "--yes", cwd=workspace)
    assert rolled.returncode == 0, rolled.stderr
    assert tree_digest(workspace) == before
    status = json.loads(run_cli_here("status", "last", "--json", cwd=workspace).stdout)
    assert status["run"]["status"] == "paused"
    impl = next(s for s in status["stages"] if s["id"] == "implementation")
    assert impl["status"] == "rolled_back"
    assert all(a["status"] == "rolled_back" for a in impl["agents"])

    final = run_cli("resume", "last", "--headless", cwd=workspace)
    assert final.returncode == 0, final.stderr
    status = json.loads(run_cli_here("status", "last", "--json", cwd=workspace).stdout)
    assert status["run"]["decision"] == "PROCEED"
    impl = next(s for s in status["stages"] if s["id"] == "implementation")
    docs = next(a for a in impl["agents"] if a["id"] == "write_docs")
    assert len(docs["attempts"]) == 2  # the rolled-back attempt is kept in the history


def test_rollback_runs_rollback_and_verify_commands(tmp_path: Path, workspace: Path) -> None:
    marker = tmp_path / "undo.txt"  # outside the workspace, which the restore makes exact
    undo = f"[\"{{python}}\", \"-c\", \"open('{marker}', 'w').write('undone')\"]"
    verify = '["{python}", "-c", "import os, sys; sys.exit(0 if not os.path.exists(\'out.txt\') else 3)"]'
    wf = tmp_path / "wf.yaml"
    wf.write_text(
        f"""
version: 1
name: undo
stages:
  - id: build
    kind: agents
    mode: sequential
    agents:
      - id: one
        run: {agent_cmd("--write", "out.txt=1")}
        rollback: {undo}
        verify: {verify}
      - id: two
        run: {agent_cmd("--write", "two.txt=2")}
"""
    )
    assert (
        run_cli(
            "run", str(wf), "--headless", "--workspace", str(workspace), cwd=tmp_path
        ).returncode
        == 0
    )
    status = json.loads(run_cli_here("status", "last", "--json", cwd=workspace).stdout)
    points = status["rollback_points"]
    assert [(p["stage"], p.get("agent")) for p in points] == [("build", None), ("build", "two")]

    # back to just before `two`: only its work is undone, `one` stays done
    result = run_cli("rollback", "last", points[1]["id"], "--yes", cwd=workspace)
    assert result.returncode == 0, result.stderr
    assert (workspace / "out.txt").exists() and not (workspace / "two.txt").exists()
    status = json.loads(run_cli_here("status", "last", "--json", cwd=workspace).stdout)
    agents = {a["id"]: a["status"] for a in status["stages"][0]["agents"]}
    assert agents == {"one": "succeeded", "two": "rolled_back"}

    # back to the stage boundary: `one`'s rollback command runs, then its verify
    result = run_cli("rollback", "last", "build", "--yes", cwd=workspace)
    assert result.returncode == 0, result.stderr
    assert not (workspace / "out.txt").exists()
    assert marker.read_text() == "undone"  # written by the rollback command
    events = run_cli_here("status", "last", "--json", cwd=workspace)
    assert json.loads(events.stdout)["run"]["status"] == "paused"
    resumed = run_cli("resume", "last", "--headless", cwd=workspace)
    assert resumed.returncode == 0, resumed.stderr
    assert (workspace / "out.txt").exists() and (workspace / "two.txt").exists()
