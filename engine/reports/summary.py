"""The parts of the final report that say what the run did: changes, tests, documentation,
monitoring, and how to roll it back."""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from typing import Any

from engine.state.finding_paths import canonical_json
from engine.state.records import AgentState, StageState
from engine.state.run_state import RunState
from engine.support.text import command
from engine.workflow.models import AgentsStage, CheckpointStage
from engine.workflow.placeholders import build_argv, run_placeholders

MONITORING_KEYS = ("metrics_configured", "alerts_defined", "dashboards_created")


def stage_duration(st: StageState) -> float | None:
    if st.started_at is None or st.ended_at is None:
        return None
    return round(st.ended_at - st.started_at, 3)


def _results(state: RunState) -> Iterator[tuple[StageState, AgentState, dict[str, Any]]]:
    """Succeeded agents whose result is an object, in stage and agent order."""
    for st in state.stages.values():
        for agent in st.agents.values():
            if agent.status == "succeeded" and isinstance(agent.result, dict):
                yield st, agent, agent.result


def _findings(result: dict[str, Any]) -> dict[str, Any]:
    findings = result.get("findings")
    return findings if isinstance(findings, dict) else {}


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _suite(agent: str, tests: dict[str, Any]) -> dict[str, Any]:
    """One test run as the report tells it: its status, counts (None where not counted), the
    command and the reason when it was not run or did not finish."""
    counts = ("passed", "failed", "errors", "skipped", "not_run")
    status = tests.get("status")
    if not isinstance(status, str):
        status = "failed" if _count(tests.get("failed")) + _count(tests.get("errors")) else "passed"
    return {
        "agent": agent,
        "status": status,
        **{key: tests.get(key) if isinstance(tests.get(key), int) else None for key in counts},
        "command": tests.get("command") if isinstance(tests.get("command"), str) else None,
        "failing": [str(t) for t in tests.get("failing") or [] if isinstance(t, str)][:10],
        "reason": tests.get("reason") or tests.get("note") or "",
    }


def project_summary(state: RunState) -> dict[str, Any]:
    changes = []
    docs: dict[str, None] = {}
    for st in state.stages.values():
        spec = state.workflow.stage(st.id) if state.workflow else None
        sequential = isinstance(spec, AgentsStage) and spec.mode == "sequential"
        if st.kind != "agents" or st.status in ("pending", "rolled_back"):
            continue
        if not st.changes and not sequential:
            continue
        summaries = [
            {"agent": a.id, "summary": a.result["summary"]}
            for a in st.agents.values()
            if a.status == "succeeded"
            and isinstance(a.result, dict)
            and isinstance(a.result.get("summary"), str)
        ]
        changes.append(
            {
                "stage": st.id,
                "added": list(st.changes.get("added", [])),
                "modified": list(st.changes.get("modified", [])),
                "deleted": list(st.changes.get("deleted", [])),
                "agents": summaries,
            }
        )
        for path in [*st.changes.get("added", []), *st.changes.get("modified", [])]:
            if path.startswith("docs/") or path.lower().endswith(".md"):
                docs[path] = None
    passed = failed = 0
    suites: list[dict[str, Any]] = []
    performance: dict[str, Any] = {}
    for st, agent, result in _results(state):
        findings = _findings(result)
        tests = findings.get("tests")
        if isinstance(tests, dict) and ({"status", "passed", "failed"} & tests.keys()):
            passed += _count(tests.get("passed"))
            failed += _count(tests.get("failed"))
            suites.append(_suite(f"{st.id}.{agent.id}", tests))
        documentation = findings.get("documentation")
        if isinstance(documentation, dict) and isinstance(documentation.get("updated"), list):
            docs.update((str(path), None) for path in documentation["updated"])
        impact: dict[str, Any] = {}
        if isinstance(result.get("metrics"), dict) and result["metrics"]:
            impact["metrics"] = result["metrics"]
        if isinstance(findings.get("performance"), dict):
            impact["performance"] = findings["performance"]
        if impact:
            performance[f"{st.id}.{agent.id}"] = impact
    return {
        "changes_implemented": changes,
        "tests_passed": passed,
        "tests_failed": failed,
        "test_suites": suites,
        "documentation_updated": sorted(docs),
        "performance_impact": performance,
    }


def monitoring_setup(state: RunState) -> dict[str, list[Any]]:
    found: dict[str, dict[str, Any]] = {key: {} for key in MONITORING_KEYS}
    for _, _, result in _results(state):
        findings = _findings(result)
        places = [result.get("monitoring_setup"), findings.get("monitoring_setup")]
        places += [findings.get("monitoring"), findings]
        for place in places:
            if not isinstance(place, dict):
                continue
            for key in MONITORING_KEYS:
                items = place.get(key)
                for item in items if isinstance(items, list) else []:
                    found[key].setdefault(canonical_json(item), item)
    return {key: list(values.values()) for key, values in found.items()}


def rollback_plan(state: RunState) -> dict[str, Any]:
    triggers = []
    steps = []
    workflow = state.workflow
    for spec in workflow.stages if workflow else []:
        if isinstance(spec, CheckpointStage) and spec.decision is not None:
            triggers.append(f"the go/no-go decision at {spec.id} is BLOCK")
            triggers += [f"critical check fails: {expr}" for expr in spec.decision.critical]
        agents = spec.all_agents if isinstance(spec, AgentsStage) else []
        for agent in agents:
            if agent.verify is not None:
                steps.append(
                    {
                        "agent": f"{spec.id}.{agent.id}",
                        "command": _command_text(state, agent.verify, agent.shell),
                    }
                )
    if steps:
        triggers.append("a validation step fails")
    procedures = [
        {
            "id": p.id,
            "stage": p.stage,
            "agent": p.agent,
            "at": p.at,
            "files": p.files,
            "verified": p.verified,
            "command": command("phaseboard", "rollback", state.run_id, p.id),
        }
        for p in state.rollback_points
    ]
    return {"triggers": triggers, "procedures": procedures, "validation_steps": steps}


def _command_text(state: RunState, run: list[str] | str, shell: bool) -> str:
    """A verify command with its placeholders filled in, ready to paste."""
    values = run_placeholders(state)
    try:
        argv = build_argv(run, values, shell=shell)
    except (KeyError, ValueError):
        return run if isinstance(run, str) else shlex.join(run)
    return argv[0] if shell else shlex.join(argv)
