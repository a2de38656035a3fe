"""``final_report.md``: the final report dict rendered for people."""

from __future__ import annotations

from typing import Any

from engine.reports.summary import MONITORING_KEYS
from engine.reports.text import (
    as_text,
    decisions_md,
    md,
    md_code,
    md_list,
    md_row,
    tidy,
)
from engine.state.quality import metric_detail, metric_text

VERDICT_TEXT = {
    "ready": "ready to deploy",
    "conditional": "deploy only once the warnings below are addressed or accepted",
    "blocked": "do not deploy",
}


def render_final_markdown(report: dict[str, Any]) -> str:
    run = report["run"]
    lines = [f"# Final report: {md(run['id'])} ({md(run['workflow'])})", ""]
    lines += _executive_summary(report)
    lines += _technical(report)
    lines += _readiness_md(report["deployment_readiness"])
    monitoring = report["monitoring_setup"]
    lines += ["", "## Monitoring", ""]
    for key in MONITORING_KEYS:
        lines += [f"### {key.replace('_', ' ').capitalize()}", ""]
        lines += md_list(monitoring.get(key) or [], "none reported")
        lines.append("")
    lines += _rollback_md(report["rollback_plan"])
    lines += ["", "## Known issues", ""]
    lines += [f"- **{md(i['kind'])}**: {md(i['message'], 300)}" for i in report["known_issues"]]
    if not report["known_issues"]:
        lines.append("_None._")
    lines += decisions_md(report["decisions"])
    lines += _metrics_md(report["metrics"])
    return "\n".join(tidy(lines)) + "\n"


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
        + (f" ({md(run['reason'], 160)})." if run.get("reason") else ".")
    )
    blockers = ready["blockers"]
    if blockers:
        first = "; ".join(md(b["message"], 120) for b in blockers[:2])
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
    suites = summary.get("test_suites") or []
    if not suites:
        lines.append(
            f"- Tests: {summary['tests_passed']} passed, {summary['tests_failed']} failed."
        )
    for suite in suites:
        lines.append(f"- Tests ({md(suite['agent'])}): {_suite_text(suite)}.")
    return lines


def _suite_text(suite: dict[str, Any]) -> str:
    counted = [
        f"{suite[key]} {key.replace('_', ' ')}"
        for key in ("passed", "failed", "errors", "skipped", "not_run")
        if suite.get(key) is not None and (suite[key] or key in ("passed", "failed"))
    ]
    text = suite["status"].replace("_", " ")
    if counted:
        text += ": " + ", ".join(counted)
    if suite.get("reason"):
        text += f" ({md(suite['reason'], 200)})"
    if suite.get("failing"):
        shown = ", ".join(md_code(t[:120]) for t in suite["failing"][:5])
        more = len(suite["failing"]) - 5
        text += f"; failing: {shown}" + (f" and {more} more" if more > 0 else "")
    if suite.get("command") and suite["status"] != "not_run":
        text += f"; ran {md_code(suite['command'][:200])}"
    return text


def _technical(report: dict[str, Any]) -> list[str]:
    summary = report["project_summary"]
    lines = ["", "## Technical details", "", "| Stage | Kind | Status | Duration (s) |"]
    lines.append("|---|---|---|---|")
    for s in report["stages"]:
        took = "" if s["duration_s"] is None else f"{s['duration_s']:.1f}"
        lines.append(md_row(s["id"], s["kind"], s["status"], took))
    lines += ["", "### Changes implemented", ""]
    if not summary["changes_implemented"]:
        lines.append("_No changes recorded._")
    for change in summary["changes_implemented"]:
        counts = ", ".join(f"{len(change[k])} {k}" for k in ("added", "modified", "deleted"))
        lines.append(f"- **{md(change['stage'])}**: {counts}")
        for key in ("added", "modified", "deleted"):
            for path in change[key][:50]:
                lines.append(f"  - {key}: {md_code(path)}")
            if len(change[key]) > 50:
                lines.append(f"  - … {len(change[key]) - 50} more {key}")
        for entry in change["agents"]:
            lines.append(f"  - {md(entry['agent'])}: {md(entry['summary'], 400)}")
    lines += ["", "### Documentation updated", ""]
    lines += [f"- {md_code(p)}" for p in summary["documentation_updated"]] or ["_None._"]
    lines += ["", "### Performance impact", ""]
    for agent, impact in summary["performance_impact"].items():
        lines.append(f"- {md(agent)}: {md(as_text(impact), 300)}")
    if not summary["performance_impact"]:
        lines.append("_Nothing reported._")
    return lines


def _readiness_md(ready: dict[str, Any]) -> list[str]:
    lines = ["", "## Deployment readiness", "", f"- Status: **{ready['status']}**"]
    lines.append(f"- Deployment window: {md(ready['deployment_window']) or '_not set_'}")
    lines += ["", "### Blockers", ""]
    lines += md_list([b["message"] for b in ready["blockers"]], "None.")
    lines += ["", "### Warnings", ""]
    lines += md_list([w["message"] for w in ready["warnings"]], "None.")
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
            lines.append(
                md_row(c["stage"], "yes" if c["passed"] else "no", verdict, count, accepted)
            )
    return lines


def _rollback_md(plan: dict[str, Any]) -> list[str]:
    lines = ["", "## Rollback plan", "", "### Triggers", ""]
    lines += md_list(plan["triggers"], "None defined.")
    lines += ["", "### Procedures", ""]
    if plan["procedures"]:
        lines += [
            "| Point | Before | At | Files | Verified | Command |",
            "|---|---|---|---|---|---|",
        ]
        for p in plan["procedures"]:
            where = f"{p['stage']}.{p['agent']}" if p["agent"] else p["stage"]
            verified = "yes" if p["verified"] else "no"
            lines.append(md_row(p["id"], where, p["at"], p["files"], verified, p["command"]))
    else:
        lines.append("_No rollback points saved._")
    lines += ["", "### Validation steps", ""]
    for step in plan["validation_steps"]:
        lines.append(f"- {md(step['agent'])}: {md_code(step['command'])}")
    if not plan["validation_steps"]:
        lines.append("_No verify commands defined._")
    return lines


def _metrics_md(metrics: dict[str, Any]) -> list[str]:
    lines = ["", "## Metrics", "", "| Metric | Value |", "|---|---|"]
    for key, value in metrics.items():
        if key in ("quality_metrics", "agent_performance"):
            continue
        if isinstance(value, dict):
            for sub, item in value.items():
                lines.append(md_row(f"{key}.{sub}", item))
            if not value:
                lines.append(md_row(key, "-"))
        else:
            lines.append(md_row(key, value))
    lines += _spending_md(metrics)
    lines += _quality_md(metrics.get("quality_metrics") or {})
    efficiency = (metrics.get("agent_performance") or {}).get("resource_efficiency")
    return lines + (_efficiency_md(efficiency) if efficiency else [])


def _spending_md(metrics: dict[str, Any]) -> list[str]:
    """What the tokens and cost figures are made of: estimates, and what was not spent again."""
    lines = []
    if metrics.get("cost_estimated"):
        lines.append(
            "`cost_usd` is partly an estimate: some agents reported tokens but no cost, priced "
            "from the workflow's price table."
        )
    if metrics.get("tokens_saved") or metrics.get("cached_attempts"):
        lines.append(
            f"Not spent again: {metrics.get('tokens_saved', 0)} tokens and "
            f"${metrics.get('cost_saved_usd', 0.0):.4f}, by {metrics.get('cached_attempts', 0)} "
            f"cached result(s) and {metrics.get('resumed_sessions', 0)} resumed session(s)."
        )
    return ["", *lines] if lines else []


def _quality_md(quality: dict[str, Any]) -> list[str]:
    if not quality:
        return []
    lines = ["", "### Quality metrics", "", "| Metric | Value | Made of | Source |"]
    lines.append("|---|---|---|---|")
    for name, metric in quality.items():
        text, detail = metric_text(name, metric), metric_detail(name, metric)
        lines.append(md_row(name.replace("_", " "), text, detail, metric.get("source") or "-"))
    return lines


def _efficiency_md(efficiency: dict[str, Any]) -> list[str]:
    lines = ["", "### Resource efficiency", ""]
    lines.append(
        "CPU time over wall time of the finished attempts (over 1.0: more than one process "
        "busy; time held back by `cpu_percent` counts as wall time)."
    )
    lines += ["", "| Agent | CPU / wall | CPU (s) | Wall (s) | Held back (s) | Attempts |"]
    lines.append("|---|---|---|---|---|---|")
    rows = [("the run", efficiency), *efficiency.get("agents", {}).items()]
    for who, item in rows:
        text = metric_text("resource_efficiency", item)
        cells = [f"{item[k]:.1f}" for k in ("cpu_s", "wall_s", "throttled_s")]
        if item.get("value") is None:
            cells = ["-"] * len(cells)
        lines.append(md_row(who, text, *cells, item["attempts"]))
    return lines
