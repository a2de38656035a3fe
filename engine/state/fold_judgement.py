"""Folding what judges a run: consolidations and their conflicts, resolutions, checkpoint
evaluations and acceptances."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from engine.state.events import Event
from engine.state.finding_paths import set_path
from engine.state.records import ConflictState

if TYPE_CHECKING:
    from engine.state.run_state import RunState


def on_consolidated(state: RunState, event: Event, d: dict[str, Any]) -> None:
    st = state.stages[d["stage"]]
    st.document = d["document"]
    seen = set()
    for c in d.get("conflicts", []):
        seen.add(c["id"])
        old = state.conflicts.get(c["id"])
        keep = old is not None and old.resolved and not old.rolled_back
        state.conflicts[c["id"]] = ConflictState(
            id=c["id"],
            stage=c["stage"],
            path=c["path"],
            severity=c["severity"],
            candidates=c["candidates"],
            reason=c.get("reason", ""),
            evidence=c.get("evidence") or {},
            resolved=keep,
            resolution=old.resolution if keep and old else None,
        )
    for cid, conflict in list(state.conflicts.items()):
        if conflict.stage == st.id and cid not in seen:
            conflict.rolled_back = True


def on_conflict_resolved(state: RunState, event: Event, d: dict[str, Any]) -> None:
    conflict = state.conflicts[d["conflict"]]
    conflict.resolved = True
    conflict.resolution = {
        "value": d.get("value"),
        "picked": d.get("picked"),
        "note": d.get("note", ""),
        "by": d.get("by", ""),
        "at": d.get("at", ""),
    }
    st = state.stages.get(conflict.stage)
    if st is not None and st.document is not None:
        st.document = resolved_document(
            st.document, conflict.id, conflict.path, conflict.resolution
        )
    state.decisions_log.append({"kind": "resolve", "conflict": conflict.id, **conflict.resolution})


def on_checkpoint_evaluated(state: RunState, event: Event, d: dict[str, Any]) -> None:
    st = state.stages[d["stage"]]
    st.criteria = d["criteria"]
    st.passed = d["passed"]
    st.mode = d.get("mode")
    st.decision = d.get("decision")


def on_checkpoint_accepted(state: RunState, event: Event, d: dict[str, Any]) -> None:
    st = state.stages[d["stage"]]
    st.accepted = {"note": d["note"], "by": d.get("by", ""), "at": d.get("at", "")}
    state.decisions_log.append({"kind": "accept", "checkpoint": st.id, **st.accepted})


def resolved_document(
    document: dict[str, Any], conflict_id: str, path: str, resolution: dict[str, Any]
) -> dict[str, Any]:
    """The synthesis document with a conflict's chosen value merged in and the conflict marked."""
    doc = dict(document)
    synthesis = dict(doc.get("synthesis") or {})
    findings = synthesis.get("findings")
    if isinstance(findings, dict):
        with contextlib.suppress(TypeError, KeyError):
            synthesis["findings"] = set_path(findings, path, resolution.get("value"))
    synthesis["conflicts"] = [
        {**c, "resolved": True, "resolution": resolution} if c.get("id") == conflict_id else c
        for c in synthesis.get("conflicts") or []
    ]
    doc["synthesis"] = synthesis
    return doc
