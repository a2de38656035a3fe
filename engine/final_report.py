"""The seed's final deliverables (``final_report.json``/``.md``) and ``SESSION_CONTINUITY.md``.

Everything here is a pure function of the folded state: the engine rewrites these files after
every stage and operator action, and ``phaseboard report`` rebuilds them from the database alone,
so the same history always gives the same bytes. Agent-supplied text is untrusted: it is put on
one line, stripped of control characters and escaped where it sits in a table.
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Iterator
from typing import Any

from engine.consolidation import canonical_json
from engine.metrics import run_metrics
from engine.placeholders import build_argv, placeholder_values
from engine.state import AgentState, RunState, StageState
from engine.status_view import command, conflict_dict, decision_entry, iso, plain
from engine.workflow import AgentsStage, CheckpointStage, ConsolidationStage, bundled_data_dir

READINESS = {"PROCEED": "ready", "CONDITIONAL_PROCEED": "conditional", "BLOCK": "blocked"}
MONITORING_KEYS = ("metrics_configured", "alerts_defined", "dashboards_created")
FAILED = ("failed", "missing")
MAX_EXAMPLES = 3
CELL = 80


# -- the report ------------------------------------------------------------------------------


def final_report(state: RunState) -> dict[str, Any]:
    return {
        "run": {
            "id": state.run_id,
            "workflow": state.workflow_name,
            "status": state.status,
            "decision": state.decision,
            "started_at": iso(state.started_at),
            "ended_at": iso(state.ended_at),
            "reason": state.reason,
            "as_of": iso(state.last_ts or None),
            "last_seq": state.last_seq,
        },
        "stages": [
            {
                "id": st.id,
                "kind": st.kind,
                "title": st.title,
                "status": st.status,
                "duration_s": _took(st),
            }
            for st in state.stages.values()
        ],
        "project_summary": _project_summary(state),
        "deployment_readiness": _readiness(state),
        "monitoring_setup": _monitoring(state),
        "rollback_plan": _rollback_plan(state),
        "metrics": run_metrics(state),
        "known_issues": _known_issues(state),
        "decisions": _decisions(state),
    }


def _took(st: StageState) -> float | None:
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


def _project_summary(state: RunState) -> dict[str, Any]:
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
    performance: dict[str, Any] = {}
    for st, agent, result in _results(state):
        findings = _findings(result)
        tests = findings.get("tests")
        if isinstance(tests, dict):
            passed += _count(tests.get("passed"))
            failed += _count(tests.get("failed"))
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
        "documentation_updated": sorted(docs),
        "performance_impact": performance,
    }


def _issue(kind: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"kind": kind, "message": message, **extra}


def _readiness(state: RunState) -> dict[str, Any]:
    blockers: list[dict[str, Any]] = []
    warnings: list[dict[str, Any]] = []
    checkpoints = []
    for st in state.stages.values():
        if st.kind != "checkpoint" or st.passed is None:
            continue
        accepted = st.accepted
        decision = st.decision or {}
        checkpoints.append(
            {
                "stage": st.id,
                "passed": st.passed,
                "verdict": decision.get("verdict"),
                "warning_count": decision.get("warning_count"),
                "accepted": accepted,
            }
        )
        for check in decision.get("critical") or []:
            if not check.get("passed"):
                detail = f" ({check['error']})" if check.get("error") else ""
                blockers.append(
                    _issue(
                        "critical_check",
                        f"{st.id}: critical check failed: {check.get('expr')}{detail}",
                        stage=st.id,
                        expr=check.get("expr"),
                        value=check.get("value"),
                    )
                )
        for warning in decision.get("warnings") or []:
            if warning.get("count", 0) > 0:
                warnings.append(
                    _issue(
                        "decision_warning",
                        f"{st.id}: {warning.get('expr')} counts {warning['count']}",
                        stage=st.id,
                        expr=warning.get("expr"),
                        value=warning.get("value"),
                        count=warning["count"],
                    )
                )
        for criterion in st.criteria:
            if criterion.get("passed"):
                continue
            severity = criterion.get("severity")
            text = f"{st.id}: criterion {criterion.get('id')} ({severity}) failed"
            extra = {"stage": st.id, "criterion": criterion.get("id"), "severity": severity}
            if accepted:
                text += f"; accepted by {accepted.get('by') or '?'}: {accepted.get('note', '')}"
                warnings.append(_issue("criterion", text, accepted=True, **extra))
            elif severity == "critical":
                blockers.append(_issue("criterion", text, **extra))
            else:
                warnings.append(_issue("criterion", text, **extra))
    for c in state.open_conflicts():
        text = f"open {c.severity} conflict {c.id} at {c.stage}: {c.path}"
        target = blockers if c.severity == "critical" else warnings
        target.append(_issue("conflict", text, conflict=c.id, stage=c.stage, severity=c.severity))
    return {
        "status": READINESS.get(state.decision or "", "undecided"),
        "verdict": state.decision,
        "blockers": blockers,
        "warnings": warnings,
        "deployment_window": "",
        "checkpoints": checkpoints,
    }


def _monitoring(state: RunState) -> dict[str, list[Any]]:
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


def _rollback_plan(state: RunState) -> dict[str, Any]:
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
    values = placeholder_values(
        workspace=state.workspace,
        run_dir=state.run_dir,
        data=str(bundled_data_dir()),
        python=sys.executable,
        params=state.params,
    )
    try:
        argv = build_argv(run, values, shell=shell)
    except (KeyError, ValueError):
        return run if isinstance(run, str) else shlex.join(run)
    return argv[0] if shell else shlex.join(argv)


def _known_issues(state: RunState) -> list[dict[str, Any]]:
    issues: list[dict[str, Any]] = []
    for c in state.open_conflicts():
        issues.append(
            _issue(
                "conflict",
                f"open {c.severity} conflict at {c.stage}: {c.path}",
                **conflict_dict(c),
            )
        )
    for st in state.stages.values():
        for agent in st.agents.values():
            live = [a for a in agent.attempts if not a.rolled_back]
            last = live[-1] if live else None
            ref = f"{st.id}.{agent.id}"
            if agent.status in FAILED:
                category = last.category if last else None
                error = (last.error if last else None) or agent.reason
                issues.append(
                    _issue(
                        "agent_failed",
                        f"{ref} {agent.status}: {category or 'no attempt'}: {error or ''}".rstrip(
                            ": "
                        ),
                        agent=ref,
                        status=agent.status,
                        category=category,
                        error=error,
                        attempts=len(live),
                        covered=st.covered(agent),
                    )
                )
            for attempt in live:
                if attempt.partial:
                    issues.append(
                        _issue(
                            "partial_result",
                            f"{ref} attempt {attempt.n}: only the valid part of its result kept",
                            agent=ref,
                            attempt=attempt.n,
                            error=attempt.error,
                        )
                    )
    issues += _message_groups(state)
    return issues


def _message_groups(state: RunState) -> list[dict[str, Any]]:
    groups: dict[tuple[str, str, str], dict[str, Any]] = {}
    for message in state.messages:
        kind = message.get("message_type")
        if kind not in ("warning", "error"):
            continue
        ref = f"{message.get('stage')}.{message.get('agent')}"
        group = groups.setdefault(
            (ref, kind, ""), {"agent": ref, "message_type": kind, "count": 0, "examples": []}
        )
        group["count"] += 1
        text = plain(_text(message.get("content")), 300)
        if text not in group["examples"] and len(group["examples"]) < MAX_EXAMPLES:
            group["examples"].append(text)
    return [
        _issue(
            f"agent_{group['message_type']}",
            f"{group['agent']}: {group['count']} {group['message_type']} message(s), e.g. "
            + "; ".join(group["examples"]),
            **group,
        )
        for group in groups.values()
    ]


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("message"), str):
        return value["message"]
    return json.dumps(value, ensure_ascii=False, default=str)


def _decisions(state: RunState) -> list[dict[str, Any]]:
    out = [decision_entry(entry) for entry in state.decisions_log]
    for st in state.stages.values():
        if st.kind != "consolidation" or not st.document:
            continue
        spec = state.workflow.stage(st.id) if state.workflow else None
        synth = spec.synthesizer if isinstance(spec, ConsolidationStage) else None
        by = "consolidation defaults"
        ran = st.agents.get(synth.id) if synth is not None else None
        if ran is not None and ran.status == "succeeded":
            by = f"{st.id}.{ran.id}"
        out.append(
            {
                "kind": "synthesis",
                "stage": st.id,
                "by": by,
                "at": st.document.get("timestamp"),
                "decisions": st.document.get("decisions") or {},
            }
        )
    return out


# -- final_report.md -------------------------------------------------------------------------

VERDICT_TEXT = {
    "ready": "ready to deploy",
    "conditional": "deploy only once the warnings below are addressed or accepted",
    "blocked": "do not deploy",
}


def _md(value: Any, limit: int | None = None) -> str:
    return plain(value, limit).replace("<", "&lt;")


def _cell(value: Any) -> str:
    if not isinstance(value, str):
        value = json.dumps(value, ensure_ascii=False, default=str)
    return _md(value, CELL).replace("|", "\\|") or " "


def _row(*cells: Any) -> str:
    return "| " + " | ".join(_cell(c) for c in cells) + " |"


def _code(text: str) -> str:
    text = plain(text)
    return f"`` {text} ``" if "`" in text else f"`{text}`"


def _list(items: list[Any], empty: str) -> list[str]:
    if not items:
        return [f"_{empty}_"]
    return [f"- {_md(item if isinstance(item, str) else _text(item), 300)}" for item in items]


def render_final_markdown(report: dict[str, Any]) -> str:
    run = report["run"]
    lines = [f"# Final report: {_md(run['id'])} ({_md(run['workflow'])})", ""]
    lines += _executive_summary(report)
    lines += _technical(report)
    lines += _readiness_md(report["deployment_readiness"])
    monitoring = report["monitoring_setup"]
    lines += ["", "## Monitoring", ""]
    for key in MONITORING_KEYS:
        lines += [f"### {key.replace('_', ' ').capitalize()}", ""]
        lines += _list(monitoring.get(key) or [], "none reported")
        lines.append("")
    lines += _rollback_md(report["rollback_plan"])
    lines += ["", "## Known issues", ""]
    lines += [f"- **{_md(i['kind'])}**: {_md(i['message'], 300)}" for i in report["known_issues"]]
    if not report["known_issues"]:
        lines.append("_None._")
    lines += _decisions_md(report["decisions"])
    lines += _metrics_md(report["metrics"])
    return "\n".join(_tidy(lines)) + "\n"


def _tidy(lines: list[str]) -> list[str]:
    """No runs of blank lines, none at the start or end."""
    out: list[str] = []
    for line in lines:
        if line or (out and out[-1]):
            out.append(line)
    while out and not out[-1]:
        out.pop()
    return out


def _executive_summary(report: dict[str, Any]) -> list[str]:
    run = report["run"]
    ready = report["deployment_readiness"]
    summary = report["project_summary"]
    stages = report["stages"]
    done = sum(1 for s in stages if s["status"] in ("succeeded", "skipped"))
    if ready["status"] == "undecided":
        verdict = f"**Verdict: none yet** — no go/no-go decision (run {run['status']})."
    else:
        verdict = f"**Verdict: {run['decision']}** — {VERDICT_TEXT[ready['status']]}."
    lines = ["## Executive summary", "", verdict, ""]
    lines.append(
        f"- Run {run['status']}: {done} of {len(stages)} stages succeeded"
        + (f" ({_md(run['reason'], 160)})." if run.get("reason") else ".")
    )
    blockers = ready["blockers"]
    if blockers:
        first = "; ".join(_md(b["message"], 120) for b in blockers[:2])
        more = f" (and {len(blockers) - 2} more)" if len(blockers) > 2 else ""
        lines.append(f"- {len(blockers)} blocker(s): {first}{more}.")
    else:
        lines.append("- No blockers.")
    issues = report["known_issues"]
    failed_agents = sum(1 for i in issues if i["kind"] == "agent_failed")
    conflicts = sum(1 for i in issues if i["kind"] == "conflict")
    lines.append(
        f"- {len(ready['warnings'])} warning(s); {conflicts} open conflict(s); "
        f"{failed_agents} failed agent(s)."
    )
    lines.append(f"- Tests: {summary['tests_passed']} passed, {summary['tests_failed']} failed.")
    return lines


def _technical(report: dict[str, Any]) -> list[str]:
    summary = report["project_summary"]
    lines = ["", "## Technical details", "", "| Stage | Kind | Status | Duration (s) |"]
    lines.append("|---|---|---|---|")
    for s in report["stages"]:
        took = "" if s["duration_s"] is None else f"{s['duration_s']:.1f}"
        lines.append(_row(s["id"], s["kind"], s["status"], took))
    lines += ["", "### Changes implemented", ""]
    if not summary["changes_implemented"]:
        lines.append("_No changes recorded._")
    for change in summary["changes_implemented"]:
        counts = ", ".join(f"{len(change[k])} {k}" for k in ("added", "modified", "deleted"))
        lines.append(f"- **{_md(change['stage'])}**: {counts}")
        for key in ("added", "modified", "deleted"):
            for path in change[key][:50]:
                lines.append(f"  - {key}: {_code(path)}")
            if len(change[key]) > 50:
                lines.append(f"  - … {len(change[key]) - 50} more {key}")
        for entry in change["agents"]:
            lines.append(f"  - {_md(entry['agent'])}: {_md(entry['summary'], 400)}")
    lines += ["", "### Documentation updated", ""]
    lines += [f"- {_code(p)}" for p in summary["documentation_updated"]] or ["_None._"]
    lines += ["", "### Performance impact", ""]
    for agent, impact in summary["performance_impact"].items():
        lines.append(f"- {_md(agent)}: {_md(_text(impact), 300)}")
    if not summary["performance_impact"]:
        lines.append("_Nothing reported._")
    return lines


def _readiness_md(ready: dict[str, Any]) -> list[str]:
    lines = ["", "## Deployment readiness", "", f"- Status: **{ready['status']}**"]
    lines.append(f"- Deployment window: {_md(ready['deployment_window']) or '_not set_'}")
    lines += ["", "### Blockers", ""]
    lines += _list([b["message"] for b in ready["blockers"]], "None.")
    lines += ["", "### Warnings", ""]
    lines += _list([w["message"] for w in ready["warnings"]], "None.")
    if ready["checkpoints"]:
        lines += [
            "",
            "### Checkpoints",
            "",
            "| Checkpoint | Passed | Verdict | Warnings | Accepted |",
        ]
        lines.append("|---|---|---|---|---|")
        for c in ready["checkpoints"]:
            accepted = (
                f"by {c['accepted'].get('by')}: {c['accepted'].get('note')}"
                if c["accepted"]
                else "no"
            )
            verdict = c["verdict"] or "-"
            count = "-" if c["warning_count"] is None else c["warning_count"]
            lines.append(_row(c["stage"], "yes" if c["passed"] else "no", verdict, count, accepted))
    return lines


def _rollback_md(plan: dict[str, Any]) -> list[str]:
    lines = ["", "## Rollback plan", "", "### Triggers", ""]
    lines += _list(plan["triggers"], "None defined.")
    lines += ["", "### Procedures", ""]
    if plan["procedures"]:
        lines += [
            "| Point | Before | At | Files | Verified | Command |",
            "|---|---|---|---|---|---|",
        ]
        for p in plan["procedures"]:
            where = f"{p['stage']}.{p['agent']}" if p["agent"] else p["stage"]
            verified = "yes" if p["verified"] else "no"
            lines.append(_row(p["id"], where, p["at"], p["files"], verified, p["command"]))
    else:
        lines.append("_No rollback points saved._")
    lines += ["", "### Validation steps", ""]
    for step in plan["validation_steps"]:
        lines.append(f"- {_md(step['agent'])}: {_code(step['command'])}")
    if not plan["validation_steps"]:
        lines.append("_No verify commands defined._")
    return lines


def _decision_text(d: dict[str, Any]) -> str:
    kind = d.get("kind")
    if kind == "resolve":
        how = f"picked {d['picked']}" if d.get("picked") else f"value {_text(d.get('value'))}"
        return f"resolved conflict {d.get('conflict')}: {how}" + (
            f" — {d['note']}" if d.get("note") else ""
        )
    if kind == "accept":
        return f"accepted checkpoint {d.get('checkpoint')}: {d.get('note', '')}"
    if kind == "retry":
        return f"retry of {d.get('agent')} ({d.get('mode')})"
    if kind == "rollback":
        return f"rolled back to {d.get('point')}"
    if kind == "synthesis":
        return f"decisions of {d.get('stage')}: {_text(d.get('decisions'))}"
    return _text(d)


def _decisions_md(decisions: list[dict[str, Any]]) -> list[str]:
    lines = ["", "## Decisions", ""]
    for d in decisions:
        who = f" by {_md(d['by'])}" if d.get("by") else ""
        when = _md(d["at"]) if d.get("at") else "-"
        lines.append(f"- {when}{who}: {_md(_decision_text(d), 400)}")
    if not decisions:
        lines.append("_None._")
    return lines


def _metrics_md(metrics: dict[str, Any]) -> list[str]:
    lines = ["", "## Metrics", "", "| Metric | Value |", "|---|---|"]
    for key, value in metrics.items():
        if isinstance(value, dict):
            for sub, item in value.items():
                lines.append(_row(f"{key}.{sub}", item))
            if not value:
                lines.append(_row(key, "-"))
        else:
            lines.append(_row(key, value))
    return lines


# -- SESSION_CONTINUITY.md -------------------------------------------------------------------


def render_continuity(state: RunState) -> str:
    run = state.run_id
    lines = [f"# Session continuity: {_md(run)}", ""]
    lines.append(f"- Workflow: {_md(state.workflow_name)} ({_code(state.workflow_path)})")
    lines.append(f"- Workspace: {_code(state.workspace)}")
    lines.append(f"- As of: {iso(state.last_ts or None) or '-'} (event {state.last_seq})")
    lines += _where(state)
    if state.awaiting:
        lines += ["", "## Awaiting the operator", ""]
        lines += [f"- {_md(item, 300)}" for item in state.awaiting]
    lines += _open_conflicts_md(state)
    lines += _failed_checkpoints_md(state)
    lines += _failed_agents_md(state)
    lines += _decisions_md(_decisions(state))
    lines += ["", "## Rollback points", ""]
    for p in state.rollback_points:
        where = f"{p.stage}.{p.agent}" if p.agent else p.stage
        verified = "verified" if p.verified else "not verified"
        lines.append(
            f"- {_md(p.id)}: before {_md(where)}, {_md(p.at)}, {p.files} files, {verified}: "
            + _code(command("phaseboard", "rollback", run, p.id))
        )
    if not state.rollback_points:
        lines.append("_None saved yet._")
    lines += ["", "## Next action", "", _next_action(state)]
    return "\n".join(_tidy(lines)) + "\n"


def _where(state: RunState) -> list[str]:
    order = [st for sid, st in state.stages.items() if state.in_slice(sid)]
    current = next((st for st in order if st.status == "running"), None)
    completed = [st for st in order if st.status in ("succeeded", "skipped")]
    after = order.index(current) + 1 if current else 0
    upcoming = next(
        (st for st in order[after:] if st.status not in ("succeeded", "skipped", "running")), None
    )
    status = state.status + (f" ({_md(state.reason, 200)})" if state.reason else "")
    lines = ["", "## Where the run stands", "", f"- Status: {status}"]
    lines.append(f"- Decision: {state.decision or 'none yet'}")
    lines.append(f"- Last completed stage: {completed[-1].id if completed else 'none'}")
    lines.append(f"- Current stage: {current.id if current else 'none'}")
    lines.append(f"- Next stage: {upcoming.id if upcoming else 'none'}")
    lines += ["", "| Stage | Kind | Status | Duration (s) |", "|---|---|---|---|"]
    for st in state.stages.values():
        took = _took(st)
        lines.append(_row(st.id, st.kind, st.status, "" if took is None else f"{took:.1f}"))
    return lines


def _open_conflicts_md(state: RunState) -> list[str]:
    lines = ["", "## Open conflicts", ""]
    conflicts = state.open_conflicts()
    if not conflicts:
        return [*lines, "_None._"]
    run = state.run_id
    for c in conflicts:
        lines += [f"### {_md(c.id)}: {_md(c.path)} ({c.severity}, stage {c.stage})", ""]
        for agent, value in c.candidates.items():
            pick = command("phaseboard", "resolve", run, c.id, "--pick", agent)
            lines.append(f"- {_md(agent)} says {_code(_text(value))}: {_code(pick)}")
        example = json.dumps(next(iter(c.candidates.values()), None), default=str)
        value = command("phaseboard", "resolve", run, c.id, "--value", example) + ' --note "..."'
        lines += ["", f"Or set a value of your own: {_code(value)}", ""]
    return lines


def _failed_checkpoints_md(state: RunState) -> list[str]:
    lines = ["", "## Failed checkpoints", ""]
    failed = [
        st
        for st in state.stages.values()
        if st.kind == "checkpoint" and st.passed is False and st.accepted is None
    ]
    if not failed:
        return [*lines, "_None._"]
    for st in failed:
        bad = [c for c in st.criteria if not c.get("passed")]
        names = ", ".join(f"{c.get('id')} ({c.get('severity')})" for c in bad) or "none"
        accept = command("phaseboard", "accept", state.run_id, st.id) + ' --note "..."'
        lines.append(f"- {_md(st.id)}: failed criteria {_md(names)}.")
        lines.append(f"  To accept it as a documented exception: {_code(accept)}")
    return lines


def _failed_agents_md(state: RunState) -> list[str]:
    lines = ["", "## Failed agents", ""]
    run = state.run_id
    found = False
    for st in state.stages.values():
        for agent in st.agents.values():
            if agent.status not in FAILED:
                continue
            found = True
            ref = f"{st.id}.{agent.id}"
            live = [a for a in agent.attempts if not a.rolled_back]
            last = live[-1] if live else None
            why = (last.error if last else None) or agent.reason or agent.status
            category = (last.category if last else None) or agent.status
            lines.append(f"- {_md(ref)} ({category}): {_md(why, 300)}")
            retries = [command("phaseboard", "retry", run, ref)]
            spec = _agent_spec(state, st.id, agent.id)
            if spec is not None and spec.reduced_scope is not None:
                retries.append(command("phaseboard", "retry", run, ref, "--reduced-scope"))
            if spec is not None and spec.backup:
                retries.append(command("phaseboard", "retry", run, ref, "--backup"))
            lines.append("  retry: " + " or ".join(_code(r) for r in retries))
    return lines if found else [*lines, "_None._"]


def _agent_spec(state: RunState, stage_id: str, agent_id: str) -> Any:
    if state.workflow is None:
        return None
    try:
        return state.workflow.agent(stage_id, agent_id)
    except KeyError:
        return None


def _next_action(state: RunState) -> str:
    resume = _code(command("phaseboard", "resume", state.run_id))
    report = _code(command("phaseboard", "report", state.run_id))
    attach = _code(command("phaseboard", "attach", state.run_id))
    if state.status == "running":
        return f"The run is in progress; watch it with {attach}."
    if state.status == "completed":
        return (
            f"Nothing: the run is finished ({state.decision or 'no decision'}). Report: {report}."
        )
    if state.status == "paused":
        return f"Deal with what is listed above, then {resume}."
    if state.status == "failed":
        return f"Retry the failed agents or roll back (commands above), then {resume}."
    return resume + "."
