"""The console folds a long history in its first look, and keeps following the run after it."""

from __future__ import annotations

from pathlib import Path

from engine.state.events import (
    AgentMessage,
    AttemptFinished,
    AttemptStarted,
    Payload,
    RunStatusChanged,
    StageStarted,
)
from engine.state.run_state import MESSAGE_TAIL, RunState
from engine.store.database import Store
from tests.helpers import agent_cmd
from tests.tui.tui_helpers import make_run, wait_for
from tui.console.app import PhaseboardApp
from tui.console.watcher import EVENT_BATCH
from tui.console.widgets.event_log import EventLog

FLOW = f"""
version: 1
name: long
stages:
  - id: s
    kind: agents
    agents:
      - {{id: a, run: {agent_cmd()}}}
      - {{id: b, run: {agent_cmd()}}}
"""
MESSAGES = EVENT_BATCH + 1000
"""More than the watcher reads per look after the first: the first look must not page."""


def message(agent: str, i: int) -> AgentMessage:
    return AgentMessage(stage="s", agent=agent, attempt=1, message_type="info", content=i)


def shown_up_to(app: PhaseboardApp) -> int:
    """The seq of the last event the app has handled (the watcher folds before it posts)."""
    return app.events[-1].seq if app.events else 0


async def append(db: Path, run_id: str, payloads: list[Payload]) -> RunState:
    store = await Store.open(db)
    try:
        for start in range(0, len(payloads), 5000):
            await store.append(run_id, payloads[start : start + 5000])
        return RunState.fold(run_id, await store.events(run_id))
    finally:
        await store.close()


async def test_first_look_folds_a_long_history_then_follows(
    tmp_path: Path, workspace: Path
) -> None:
    db, run_id = await make_run(tmp_path, workspace, FLOW)
    history: list[Payload] = [
        RunStatusChanged(status="running"),
        StageStarted(stage="s"),
        AttemptStarted(stage="s", agent="a", attempt=1),
        AttemptStarted(stage="s", agent="b", attempt=1),
    ]
    history += [message("ab"[i % 2], i) for i in range(MESSAGES)]
    history.append(AttemptFinished(stage="s", agent="a", attempt=1, status="succeeded"))
    history += [message("b", i) for i in range(10)]
    full = await append(db, run_id, history)

    app = PhaseboardApp(db, run_id, poll_interval=0.05)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: shown_up_to(app) == full.last_seq, "the whole history")
        assert app.state == full
        assert [m["content"] for m in app.state.messages] == [
            *range(MESSAGES - 190, MESSAGES),
            *range(10),
        ]
        shown = list(app.events)
        others = [e for e in shown if e.kind != "agent_message"]
        assert [e.kind for e in others] == [
            "run_created",
            "run_status",
            "stage_started",
            "attempt_started",
            "attempt_started",
            "attempt_finished",
        ]
        assert len(shown) == len(others) + MESSAGE_TAIL
        assert shown[-1].seq == full.last_seq
        assert len(app.screen.query_one(EventLog)._lines) == len(shown)

        later = await append(
            db,
            run_id,
            [message("b", 10), AttemptFinished(stage="s", agent="b", attempt=1, status="failed")],
        )
        await wait_for(pilot, lambda: shown_up_to(app) == later.last_seq, "the new events")
        assert app.state == later
        assert app.state.stages["s"].agents["b"].attempts[-1].status == "failed"
        assert [e.seq for e in app.events][-2:] == [later.last_seq - 1, later.last_seq]
