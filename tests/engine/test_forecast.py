"""Where a run stands: progress, the completion estimate from earlier runs of the workflow (never
made up on a first run), the blockers, and the next action as the state stands now."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from engine.reports.forecast import History
from engine.store.history import RunDurations
from tests.helpers import agent_cmd, run_cli, run_cli_here

FLOW = f"""\
version: 1
name: outlook
defaults: {{timeout: 30, retries: 0, retry_backoff: 0}}
stages:
  - id: analysis
    kind: agents
    agents:
      - id: declared
        run: {agent_cmd("--findings", '{"runtime": {"python": ">=3.11"}}')}
      - id: configured
        run: {agent_cmd("--findings", '{"runtime": {"python": ["3.10"]}}')}
  - id: merge
    kind: consolidation
    inputs: [analysis]
    compare: [{{path: "runtime.*", rule: version_in_range}}]
    conflict_severity: [{{path: "runtime.*", severity: critical}}]
  - id: review
    kind: checkpoint
    criteria:
      - id: no_critical_conflicts
        expr: "open_conflicts.filter(c, c.severity == 'critical').size() == 0"
    on_failure: [manual_resolution]
  - id: after
    kind: agents
    agents:
      - {{id: last, run: {agent_cmd("--findings", '{"done": true}')}}}
"""


def status(workspace: Path) -> dict[str, Any]:
    done = run_cli_here("status", "last", "--json", cwd=workspace)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_a_resolved_conflict_leaves_resume_as_the_one_thing_to_do(tmp_path: Path) -> None:
    (tmp_path / "w.yaml").write_text(FLOW, encoding="utf-8")
    first = run_cli("run", "w.yaml", "--headless", cwd=tmp_path)
    assert first.returncode == 4, first.stderr

    paused = status(tmp_path)
    progress = paused["progress"]
    assert (progress["done"], progress["total"], progress["percent"]) == (3, 5, 60)
    assert progress["eta_s"] is None and progress["eta_at"] is None
    assert progress["eta_basis"].startswith("unknown: no earlier completed run")
    assert [b["kind"] for b in progress["blockers"]] == ["conflict", "criterion"]
    (conflict,) = paused["conflicts"]
    assert paused["run"]["awaiting"][0].startswith(f"resolve conflict {conflict['id']}")

    resolved = run_cli(
        "resolve", "last", conflict["id"], "--pick", "analysis.declared", cwd=tmp_path
    )
    assert resolved.returncode == 0, resolved.stderr
    after = status(tmp_path)
    run_id = after["run"]["id"]
    assert after["run"]["status"] == "paused"  # no engine: it stays paused until resume
    assert after["run"]["awaiting"] == [
        f"resume: checkpoint review now passes: phaseboard resume {run_id}"
    ]
    assert after["progress"]["blockers"] == []
    text = run_cli_here("status", "last", cwd=tmp_path).stdout
    assert "resolve conflict" not in text and f"phaseboard resume {run_id}" in text
    continuity = (Path(after["run"]["run_dir"]) / "SESSION_CONTINUITY.md").read_text()
    assert "Awaiting the operator" in continuity

    resumed = run_cli("resume", "last", "--headless", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    done = status(tmp_path)["progress"]
    assert (done["percent"], done["eta_s"], done["blockers"]) == (100, 0.0, [])

    # a second run of the same workflow is estimated from the first one
    second = run_cli("run", "w.yaml", "--headless", cwd=tmp_path)
    assert second.returncode == 4, second.stderr
    estimate = status(tmp_path)["progress"]
    assert estimate["eta_s"] is not None and estimate["eta_s"] >= 0
    assert estimate["eta_at"] is None  # paused: it counts from when the run is resumed
    assert estimate["eta_basis"].startswith("median of 1 earlier run of outlook")
    lines = run_cli_here("status", "last", cwd=tmp_path).stdout.splitlines()
    assert any(line.startswith("progress 60% (3 of 5 steps)   eta ") for line in lines)


def test_history_takes_the_median_of_each_stage_and_agent() -> None:
    history = History.of(
        [
            RunDurations("r1", {"a": 10.0, "b": 1.0}, {"a.x": 9.0}),
            RunDurations("r2", {"a": 30.0}, {"a.x": 20.0}),
            RunDurations("r3", {"a": 20.0, "b": 3.0}, {}),
        ]
    )
    assert history.runs == 3
    assert history.stages == {"a": 20.0, "b": 2.0}
    assert history.agents == {"a.x": 14.5}
    assert History.of([]).runs == 0
