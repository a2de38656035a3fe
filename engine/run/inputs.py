"""The ``PHASEBOARD_INPUTS`` document: what earlier stages produced, for the next agents."""

from __future__ import annotations

from typing import Any

from engine.state.run_state import RunState


def inputs_document(state: RunState, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    stages: dict[str, Any] = {}
    for sid, st in state.stages.items():
        if st.status in ("pending", "rolled_back") and st.document is None and not st.criteria:
            continue
        if st.kind == "agents":
            stages[sid] = {
                "kind": "agents",
                "status": st.status,
                "agents": {
                    aid: {"status": a.status, "result": a.result, "backup_of": a.backup_of}
                    for aid, a in st.agents.items()
                    if a.status != "pending" or a.attempts
                },
            }
        elif st.kind == "consolidation":
            consolidated = st.document or {}
            stages[sid] = {
                "kind": "consolidation",
                "status": st.status,
                "synthesis": consolidated.get("synthesis", {}),
                "decisions": consolidated.get("decisions", {}),
                "conflicts": [c.as_dict() for c in state.live_conflicts() if c.stage == sid],
            }
        else:
            stages[sid] = {
                "kind": "checkpoint",
                "status": st.status,
                "passed": bool(st.passed),
                "criteria": st.criteria,
                "decision": (st.decision or {}).get("verdict"),
                "accepted": st.accepted,
            }
    document: dict[str, Any] = {
        "run_id": state.run_id,
        "workflow": state.workflow_name,
        "workspace": state.workspace,
        "params": state.params,
        "stages": stages,
    }
    if extra:
        document.update(extra)
    return document
