"""One-line progress messages for headless runs (stderr), derived from events."""

from __future__ import annotations

from engine.state.events import Event
from engine.support.sanitize import sanitize_line


def progress_line(event: Event) -> str | None:
    d = event.data
    kind = event.kind
    if kind == "run_status":
        text = f"run {d['status']}"
        if d.get("decision"):
            text += f": {d['decision']}"
        if d.get("reason"):
            text += f" ({d['reason']})"
        lines = [text] + [f"  -> {a}" for a in d.get("awaiting") or []]
        return "\n".join(sanitize_line(x) for x in lines)
    if kind == "stage_started":
        return f"[{d['stage']}] started"
    if kind == "stage_finished":
        extra = f" ({d['reason']})" if d.get("reason") else ""
        changes = d.get("changes") or {}
        if changes:
            extra += " files " + ", ".join(f"{k} {len(v)}" for k, v in changes.items())
        return sanitize_line(f"[{d['stage']}] {d['status']}{extra}")
    if kind == "attempt_started" and d.get("cached_from"):
        return None  # said with its end, in the same commit
    if kind == "attempt_started":
        scope = " (reduced scope)" if d.get("scope") == "reduced" else ""
        backup = f" (backup of {d['backup_of']})" if d.get("backup_of") else ""
        limits = f" ({d['limits_reason']})" if d.get("limits_reason") else ""
        return sanitize_line(
            f"[{d['stage']}] {d['agent']}: attempt {d['attempt']} started{scope}{backup}{limits}"
        )
    if kind == "attempt_finished":
        if d.get("cached_from"):
            return sanitize_line(
                f"[{d['stage']}] {d['agent']}: attempt {d['attempt']} cached from "
                f"{d['cached_from']} ({d.get('saved_tokens', 0)} tokens not spent again)"
            )
        if d["status"] == "succeeded":
            resumed = (
                " (continued the session of the attempt before)" if d.get("resumed_session") else ""
            )
            return f"[{d['stage']}] {d['agent']}: attempt {d['attempt']} succeeded in {d['duration_s']:.1f}s{resumed}"
        why = d.get("category") or "stopped"
        err = f": {d['error']}" if d.get("error") else ""
        return sanitize_line(
            f"[{d['stage']}] {d['agent']}: attempt {d['attempt']} failed ({why}){err}"
        )
    if kind == "agent_message" and d.get("message_type") in ("warning", "error"):
        content = d.get("content")
        text = content if isinstance(content, str) else str(content)
        return sanitize_line(f"[{d['stage']}] {d['agent']} {d['message_type']}: {text[:200]}")
    if kind == "consolidated":
        n = len(d.get("conflicts") or [])
        return f"[{d['stage']}] synthesis written, {n} conflict{'s' if n != 1 else ''}"
    if kind == "checkpoint_evaluated":
        failed = [c["id"] for c in d["criteria"] if not c["passed"]]
        verdict = (d.get("decision") or {}).get("verdict")
        text = f"[{d['stage']}] {'passed' if d['passed'] else 'failed'}"
        if failed:
            text += f" (failed: {', '.join(failed)})"
        if verdict:
            text += f" decision {verdict}"
        return text
    if kind == "conflict_resolved":
        return sanitize_line(
            f"conflict {d['conflict']} ({d['path']}) resolved by {d.get('by', '')}"
        )
    if kind == "rollback_point":
        where = f"{d['stage']}.{d['agent']}" if d.get("agent") else d["stage"]
        return f"rollback point {d['id']} before {where} ({d['files']} files)"
    if kind == "rolled_back":
        return f"rolled back to {d['point']}"
    if kind == "command_applied":
        return sanitize_line(f"command {d['command']}: {d.get('message', '')}")
    if kind == "notification_sent":
        how = "sent" if d.get("ok") else f"failed: {d.get('error', '')}"
        return sanitize_line(f"notify hook ({d.get('source', '')}, run {d['status']}) {how}")
    return None
