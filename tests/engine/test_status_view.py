"""`phaseboard status` and `runs`: the JSON contract and the 80-column view, from real events."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from engine.checkpoints.evaluate import evaluate_checkpoint
from engine.consolidation.merge import consolidate
from engine.reports.status_json import runs_item, status_document
from engine.reports.status_text import status_lines
from engine.state.events import (
    AgentFinished,
    AgentMessage,
    AttemptFinished,
    AttemptStarted,
    ConflictResolved,
    Consolidated,
    Payload,
    RollbackPointSaved,
    RunCreated,
    RunStatusChanged,
    StageFinished,
    StageStarted,
)
from engine.state.metrics import run_metrics
from engine.state.run_state import RunState
from engine.store.database import Store
from engine.workflow.loader import parse_workflow
from engine.workflow.models import CheckpointStage

RUN_ID = "20260102-030405-beef"
WORKFLOW = """\
version: 1
name: mini
params: {scope: "."}
stages:
  - id: analysis
    kind: agents
    agents:
      - id: architecture
        run: ["{python}", "-c", "pass"]
        reduced_scope: {depth: 1}
        verify: ["{python}", "-m", "pytest", "-q", "{workspace}"]
      - id: code
        run: ["{python}", "-c", "pass"]
      - id: infra
        run: ["{python}", "-c", "pass"]
        backup: infra_lite
      - id: infra_lite
        standby: true
        run: ["{python}", "-c", "pass"]
  - id: analysis_synthesis
    kind: consolidation
    inputs: [analysis]
    conflict_severity: [{path: "runtime.*", severity: critical}]
  - id: production_readiness
    kind: checkpoint
    criteria:
      - {id: all_completed, expr: "stages.analysis.succeeded == stages.analysis.total"}
      - {id: no_open_conflicts, expr: "open_conflicts.size() == 0", severity: warning}
    decision:
      critical: ["open_conflicts.filter(c, c.severity == 'critical').size() == 0"]
      warnings: ["stages.analysis.failed"]
"""
ARCH = {
    "summary": "Three services behind a gateway.",
    "findings": {
        "runtime": {"python": "3.11"},
        "style": {"indent": 4},
        "tests": {"passed": 5, "failed": 1},
    },
    "risks": [{"id": "no_tls", "severity": "high", "title": "No TLS"}],
    "metrics": {"files": 12},
}
CODE = {
    "summary": "Tidy code.",
    "findings": {
        "runtime": {"python": "3.12"},
        "style": {"indent": 2},
        "tests": {"passed": 3, "failed": 0},
        "monitoring": {"alerts_defined": ["cpu_high"], "dashboards_created": ["overview"]},
        "performance": {"degradations": 0},
    },
}
INFRA = {"summary": "Infra ok.", "findings": {"disk": {"free_gb": 20}}}
PYTHON_CONFLICT = "runtime.python"
INDENT_CONFLICT = "style.indent"


@dataclass
class Run:
    store: Store
    state: RunState
    run_dir: Path
    workspace: Path
    conflicts: dict[str, str]
    """Path -> conflict id."""


async def _append(store: Store, payloads: list[Payload]) -> RunState:
    await store.append(RUN_ID, payloads)
    return RunState.fold(RUN_ID, await store.events(RUN_ID))


def _attempt(agent: str, n: int, **finished: object) -> list[Payload]:
    scope = "reduced" if n > 1 else "full"
    return [
        AttemptStarted(stage="analysis", agent=agent, attempt=n, scope=scope, pid=100 + n),
        AttemptFinished(stage="analysis", agent=agent, attempt=n, **finished),  # type: ignore[arg-type]
    ]


async def build_run(tmp_path: Path, *, proceed: bool = False) -> Run:
    """A run through a real store: three agents (one retried, one failed unless ``proceed``), a
    consolidation with four conflicts (one resolved; all with ``proceed``), and a go/no-go
    checkpoint (BLOCK, or PROCEED with ``proceed``)."""
    store = await Store.open(tmp_path / "db" / "phaseboard.db")
    try:
        return await _build(store, tmp_path, proceed)
    except BaseException:
        await store.close()
        raise


async def _build(store: Store, tmp_path: Path, proceed: bool) -> Run:
    workspace = tmp_path / "ws"
    workspace.mkdir(exist_ok=True)
    run_dir = workspace / ".phaseboard" / "runs" / RUN_ID
    run_dir.mkdir(parents=True)  # as engine.run.runs.create_run does
    await store.create_run(RUN_ID, "mini", str(workspace), str(run_dir))
    created = RunCreated(
        workflow="mini",
        workflow_path="mini.yaml",
        workflow_text=WORKFLOW,
        workspace=str(workspace),
        run_dir=str(run_dir),
        params={"scope": "."},
    )
    ok = {"status": "succeeded", "exit_code": 0, "duration_s": 1.5, "peak_rss_mb": 20.0}
    events: list[Payload] = [
        created,
        RunStatusChanged(status="running"),
        RollbackPointSaved(
            id="rp1",
            stage="analysis",
            manifest_id=1,
            files=3,
            at="2026-01-02T03:04:05+00:00",
            verified=True,
        ),
        StageStarted(stage="analysis"),
        *_attempt(
            "architecture",
            1,
            status="failed",
            category="timeout",
            exit_code=-15,
            duration_s=60.0,
            error="stalled: no output for 60s",
        ),
        *_attempt("architecture", 2, **ok, cpu_s=0.7),
        AgentFinished(stage="analysis", agent="architecture", status="succeeded", result=ARCH),
        *_attempt("code", 1, **ok),
        AgentFinished(stage="analysis", agent="code", status="succeeded", result=CODE),
        AgentMessage(
            stage="analysis",
            agent="code",
            attempt=1,
            message_type="warning",
            content={"message": "deprecated API used"},
        ),
        AgentMessage(
            stage="analysis",
            agent="code",
            attempt=1,
            message_type="warning",
            content="deprecated API used",
        ),
        AgentMessage(
            stage="analysis",
            agent="code",
            attempt=1,
            message_type="info",
            content="hello",
        ),
    ]
    if proceed:
        events += [
            *_attempt("infra", 1, **ok),
            AgentFinished(stage="analysis", agent="infra", status="succeeded", result=INFRA),
        ]
    else:
        events += [
            *_attempt(
                "infra",
                1,
                status="failed",
                category="agent_failure",
                exit_code=2,
                error="boom \x1b[31mred\x1b[0m\x9b2J",
            ),
            AgentFinished(stage="analysis", agent="infra", status="failed", reason="exit 2"),
        ]
    events += [
        StageFinished(
            stage="analysis",
            status="succeeded",
            changes={"added": ["docs/guide.md"], "modified": ["src/app.py", "README.md"]},
        ),
        StageStarted(stage="analysis_synthesis"),
    ]
    state = await _append(store, events)
    inputs = {
        f"analysis.{aid}": a.result
        for aid, a in state.stages["analysis"].agents.items()
        if not a.standby
    }
    merged = consolidate(
        "analysis_synthesis",
        inputs,
        severity_rules=[("runtime.*", "critical")],
        timestamp="2026-01-02T03:06:00+00:00",
    )
    conflicts = {c.path: c.id for c in merged.conflicts}
    events = [
        Consolidated(
            stage="analysis_synthesis",
            document=merged.synthesis,
            conflicts=[c.model_dump() for c in merged.conflicts],
        ),
        StageFinished(stage="analysis_synthesis", status="succeeded"),
        ConflictResolved(
            conflict=conflicts[INDENT_CONFLICT],
            stage="analysis_synthesis",
            path=INDENT_CONFLICT,
            value=2,
            picked="analysis.code",
            note="house style",
            by="alice@host",
            at="2026-01-02T03:07:00+00:00",
        ),
    ]
    if proceed:
        events += [
            ConflictResolved(
                conflict=c.id,
                stage=c.stage,
                path=c.path,
                value=next(iter(c.candidates.values())),
                note="first",
                by="bob@host",
                at="2026-01-02T03:08:00+00:00",
            )
            for c in merged.conflicts
            if c.path != INDENT_CONFLICT
        ]
    events.append(StageStarted(stage="production_readiness"))
    state = await _append(store, events)
    assert state.workflow is not None
    spec = state.workflow.stage("production_readiness")
    assert isinstance(spec, CheckpointStage)
    evaluated = evaluate_checkpoint(spec, state)
    verdict = evaluated.decision["verdict"] if evaluated.decision else None
    if proceed:
        tail: list[Payload] = [
            StageFinished(stage="production_readiness", status="succeeded"),
            RunStatusChanged(status="completed", decision=verdict),
        ]
    else:
        tail = [
            RunStatusChanged(
                status="paused",
                reason="checkpoint production_readiness failed",
                decision=verdict,
                awaiting=[
                    f"resolve conflict {conflicts[PYTHON_CONFLICT]} ({PYTHON_CONFLICT}, critical): "
                    f"phaseboard resolve {RUN_ID} {conflicts[PYTHON_CONFLICT]} "
                    "--pick {analysis.architecture | analysis.code}",
                    f"retry analysis.infra: phaseboard retry {RUN_ID} analysis.infra",
                ],
            )
        ]
    state = await _append(store, [evaluated, *tail])
    return Run(store, state, run_dir, workspace, conflicts)


@pytest.fixture
async def run(tmp_path: Path) -> AsyncIterator[Run]:
    built = await build_run(tmp_path)
    yield built
    await built.store.close()


@pytest.fixture
async def proceed_run(tmp_path: Path) -> AsyncIterator[Run]:
    built = await build_run(tmp_path, proceed=True)
    yield built
    await built.store.close()


ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00$")
SPEC_KEYS = {
    "run": {"id", "workflow", "workspace", "status", "decision", "started_at", "ended_at"},
    "stage": {"id", "kind", "status", "started_at", "ended_at", "agents", "criteria"},
    "agent": {"id", "status", "backup_of", "result", "attempts"},
    "attempt": {
        "n",
        "status",
        "category",
        "exit_code",
        "duration_s",
        "peak_rss_mb",
        "cpu_s",
        "scope",
    },
    "criterion": {"id", "passed", "value", "severity"},
    "conflict": {"id", "stage", "path", "severity", "candidates", "resolved", "resolution"},
    "resolution": {"value", "picked", "note", "by", "at"},
    "rollback_point": {"id", "stage", "at", "files"},
}


def test_workflow_fixture_parses() -> None:
    workflow = parse_workflow(WORKFLOW, "mini.yaml")
    assert [s.id for s in workflow.stages] == [
        "analysis",
        "analysis_synthesis",
        "production_readiness",
    ]


async def test_status_document_has_the_contract_shape(run: Run) -> None:
    doc = status_document(run.state)
    assert {"run", "stages", "conflicts", "rollback_points", "metrics"} <= set(doc)
    json.loads(json.dumps(doc))

    r = doc["run"]
    assert SPEC_KEYS["run"] <= set(r)
    assert (r["id"], r["workflow"], r["status"], r["decision"]) == (
        RUN_ID,
        "mini",
        "paused",
        "BLOCK",
    )
    assert r["workspace"] == str(run.workspace)
    assert ISO.match(r["started_at"])
    assert r["ended_at"] is None

    assert [s["id"] for s in doc["stages"]] == [
        "analysis",
        "analysis_synthesis",
        "production_readiness",
    ]
    for stage in doc["stages"]:
        assert SPEC_KEYS["stage"] <= set(stage)
        for agent in stage["agents"]:
            assert SPEC_KEYS["agent"] <= set(agent)
            for attempt in agent["attempts"]:
                assert SPEC_KEYS["attempt"] <= set(attempt)
        for criterion in stage["criteria"]:
            assert SPEC_KEYS["criterion"] <= set(criterion)

    analysis = doc["stages"][0]
    assert (analysis["kind"], analysis["status"]) == ("agents", "succeeded")
    assert ISO.match(analysis["started_at"]) and ISO.match(analysis["ended_at"])
    agents = {a["id"]: a for a in analysis["agents"]}
    arch = agents["architecture"]
    assert arch["status"] == "succeeded"
    assert arch["result"] == ARCH
    assert [
        (a["n"], a["status"], a["category"], a["exit_code"], a["scope"]) for a in arch["attempts"]
    ] == [(1, "failed", "timeout", -15, "full"), (2, "succeeded", None, 0, "reduced")]
    assert arch["attempts"][0]["duration_s"] == 60.0
    assert arch["attempts"][1]["peak_rss_mb"] == 20.0
    assert arch["attempts"][1]["cpu_s"] == 0.7
    assert agents["infra"]["status"] == "failed"
    assert agents["infra"]["attempts"][0]["category"] == "agent_failure"
    assert agents["infra_lite"]["attempts"] == []
    assert agents["infra_lite"]["backup_of"] is None

    checkpoint = doc["stages"][2]
    assert checkpoint["kind"] == "checkpoint"
    criteria = {c["id"]: c for c in checkpoint["criteria"]}
    assert criteria["all_completed"] == {
        **criteria["all_completed"],
        "passed": False,
        "value": False,
        "severity": "critical",
    }
    assert criteria["no_open_conflicts"]["passed"] is False
    assert checkpoint["decision"]["verdict"] == "BLOCK"
    assert checkpoint["accepted"] is None


async def test_status_document_conflicts_rollback_points_and_metrics(run: Run) -> None:
    doc = status_document(run.state)
    conflicts = {c["path"]: c for c in doc["conflicts"]}
    assert set(conflicts) == {PYTHON_CONFLICT, INDENT_CONFLICT, "tests.passed", "tests.failed"}
    for conflict in conflicts.values():
        assert SPEC_KEYS["conflict"] <= set(conflict)
    python = conflicts[PYTHON_CONFLICT]
    assert python["id"] == run.conflicts[PYTHON_CONFLICT]
    assert (python["stage"], python["severity"], python["resolved"]) == (
        "analysis_synthesis",
        "critical",
        False,
    )
    assert python["candidates"] == {"analysis.architecture": "3.11", "analysis.code": "3.12"}
    assert python["resolution"] is None
    indent = conflicts[INDENT_CONFLICT]
    assert indent["resolved"] is True
    assert indent["resolution"] == {
        "value": 2,
        "picked": "analysis.code",
        "note": "house style",
        "by": "alice@host",
        "at": "2026-01-02T03:07:00+00:00",
    }
    assert doc["rollback_points"] == [
        {
            "id": "rp1",
            "stage": "analysis",
            "at": "2026-01-02T03:04:05+00:00",
            "files": 3,
            "agent": None,
            "bytes": 0,
            "verified": True,
        }
    ]
    assert doc["metrics"] == run_metrics(run.state)
    assert doc["metrics"]["open_conflicts"] == 3
    assert [d["kind"] for d in doc["decisions"]] == ["resolve"]


async def test_runs_item_from_row_and_state_agree(run: Run) -> None:
    (row,) = await run.store.runs()
    from_row = runs_item(row)
    from_state = runs_item(run.state)
    assert set(SPEC_KEYS["run"]) <= set(from_row)
    assert from_row == from_state
    assert from_row["status"] == "paused"
    assert from_row["decision"] == "BLOCK"
    assert from_row["duration_s"] is None
    started = run.state.started_at
    assert started is not None
    assert runs_item(row, now=started + 12.5)["duration_s"] == 12.5


async def test_runs_item_of_a_finished_run(proceed_run: Run) -> None:
    (row,) = await proceed_run.store.runs()
    item = runs_item(row)
    assert item["status"] == "completed"
    assert item["decision"] == "PROCEED"
    assert ISO.match(item["ended_at"])
    assert item["duration_s"] is not None and item["duration_s"] >= 0


async def test_status_lines_fit_80_columns_and_name_the_commands(run: Run) -> None:
    lines = status_lines(run.state)
    assert lines, "no output"
    assert all(len(line) <= 80 for line in lines), [line for line in lines if len(line) > 80]
    text = "\n".join(lines)
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]", text)
    assert "boom red" in text and "[31m" not in text  # escape sequences removed, text kept
    assert f"run {RUN_ID}" in lines[0]
    assert "status paused" in text and "decision BLOCK" in text
    assert "[ok] analysis" in text
    assert re.search(r"architecture\s+succeeded\s+2 attempts", text)
    assert "last error: timeout" not in text  # the last attempt succeeded
    assert re.search(r"infra\s+failed\s+1 attempt\b", text)
    assert "last error: agent_failure: boom red\n" in text + "\n"  # the one-character CSI too
    python = run.conflicts[PYTHON_CONFLICT]
    assert "open conflicts (3)" in text
    joined = text.replace(" \\\n      ", " ")
    assert f"phaseboard resolve {RUN_ID} {python} --pick analysis.architecture" in joined
    assert f'phaseboard accept {RUN_ID} production_readiness --note "..."' in joined
    assert f"phaseboard rollback {RUN_ID} rp1" in joined
    assert "x all_completed (critical) value false" in text
    assert "awaiting the operator" in text
    assert f"phaseboard retry {RUN_ID} analysis.infra" in text
    assert lines[-1] == "decision: BLOCK"


async def test_long_commands_are_split_so_they_still_paste(run: Run) -> None:
    run.state.run_id = "r" * 60
    lines = status_lines(run.state)
    assert all(len(line) <= 80 for line in lines)
    at = next(i for i, line in enumerate(lines) if "phaseboard resolve" in line)
    assert lines[at].endswith(" \\")
    words: list[str] = []
    for line in lines[at:]:
        words += line.removesuffix(" \\").split()
        if not line.endswith(" \\"):
            break
    python = run.conflicts[PYTHON_CONFLICT]
    assert words == ["phaseboard", "resolve", "r" * 60, python, "--pick", "analysis.architecture"]
