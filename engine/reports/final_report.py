"""The run's final deliverables (``final_report.json``/``.md``) and ``SESSION_CONTINUITY.md``.

Everything here is a pure function of the folded state: the engine rewrites these files after
every stage and operator action, and ``phaseboard report`` rebuilds them from the database alone,
so the same history always gives the same bytes. Agent-supplied text is untrusted: it is put on
one line, stripped of control characters and escaped where it sits in a table.

The report dict is assembled here from :mod:`engine.reports.summary` and
:mod:`engine.reports.issues`; :mod:`engine.reports.final_markdown` renders it and :mod:`engine.reports.continuity`
writes the continuity file.
"""

from __future__ import annotations

from typing import Any

from engine.reports.continuity import render_continuity
from engine.reports.final_markdown import render_final_markdown
from engine.reports.issues import decisions, deployment_readiness, known_issues
from engine.reports.summary import monitoring_setup, project_summary, rollback_plan, stage_duration
from engine.state.metrics import run_metrics
from engine.state.run_state import RunState
from engine.support.text import iso

__all__ = ["final_report", "render_continuity", "render_final_markdown"]


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
                "duration_s": stage_duration(st),
            }
            for st in state.stages.values()
        ],
        "project_summary": project_summary(state),
        "deployment_readiness": deployment_readiness(state),
        "monitoring_setup": monitoring_setup(state),
        "rollback_plan": rollback_plan(state),
        "metrics": run_metrics(state),
        "known_issues": known_issues(state),
        "decisions": decisions(state),
    }
