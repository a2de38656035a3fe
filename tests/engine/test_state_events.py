"""Rebuilding a run's state from what the fold keeps gives the state of the whole history."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from engine.run.session import RunSession
from engine.state.events import AgentMessage, RunStatusChanged
from engine.state.run_state import MESSAGE_TAIL, RunState
from engine.store.database import Store
from engine.store.migrations import MIGRATIONS, SCHEMA_VERSION
from tests.helpers import run_inline

MESSAGES = 120
"""Per attempt: four attempts make 480 messages, far more than the state keeps."""

CHATTY_AGENT = f"""
import json, os, sys

def say(kind, content):
    body = {{"message_type": kind, "content": content}}
    print(json.dumps({{"header": {{"priority": "normal"}}, "body": body}}), flush=True)

attempt = int(os.environ["PHASEBOARD_ATTEMPT"])
for i in range({MESSAGES}):
    say("info", {{"progress": i, "attempt": attempt}})
if attempt <= int(sys.argv[1]):
    sys.exit(1)
say("result", {{"summary": "done", "findings": {{"runtime": {{"python": sys.argv[2]}}}}}})
"""


def workflow(agent: Path) -> str:
    def run(fail: int, python: str) -> str:
        return f'["{{python}}", "{agent}", "{fail}", "{python}"]'

    return f"""
version: 1
name: chatty
defaults: {{timeout: 30, retries: 1, retry_backoff: 0}}
stages:
  - id: analysis
    kind: agents
    mode: parallel
    agents:
      - {{id: architecture, run: {run(0, "3.11")}}}
      - {{id: code, run: {run(1, "3.11")}}}
      - {{id: infrastructure, run: {run(0, "3.12")}}}
  - id: analysis_synthesis
    kind: consolidation
    inputs: [analysis]
    conflict_severity: [{{path: "runtime.*", severity: critical}}]
"""


async def test_state_from_state_events_equals_the_full_fold(
    tmp_path: Path, workspace: Path
) -> None:
    agent = tmp_path / "chatty.py"
    agent.write_text(CHATTY_AGENT)
    outcome, _, db = await run_inline(tmp_path, workspace, workflow(agent))
    store = await Store.open(db, create=False)
    try:
        run_id = (await store.runs())[0].id
        every = await store.events(run_id)
        kept = await store.state_events(run_id, MESSAGE_TAIL)
        full = RunState.fold(run_id, every)
        session = await RunSession.load(store, run_id)
        rebuilt = session.state

        messages = [e for e in every if e.kind == "agent_message"]
        assert len(messages) == 4 * MESSAGES
        assert len(kept) == len(every) - len(messages) + MESSAGE_TAIL
        assert [e.seq for e in kept] == sorted(e.seq for e in kept)
        assert kept[-1] == every[-1]

        assert rebuilt.status == full.status == outcome.status
        assert rebuilt.stages == full.stages
        assert rebuilt.stages["analysis"].agents["code"].attempts[0].status == "failed"
        assert rebuilt.conflicts == full.conflicts and len(rebuilt.conflicts) == 1
        assert (rebuilt.last_seq, rebuilt.last_ts) == (full.last_seq, full.last_ts)
        assert rebuilt.last_seq == await store.last_seq(run_id)
        assert list(rebuilt.messages) == list(full.messages)
        assert [m["seq"] for m in rebuilt.messages] == [e.seq for e in messages[-MESSAGE_TAIL:]]
        assert rebuilt == full

        # the gaps do not stop later events from folding: they follow the true last seq
        last = rebuilt.last_seq
        await session.emit(
            AgentMessage(
                stage="analysis", agent="code", attempt=2, message_type="info", content="late"
            ),
            RunStatusChanged(status="completed", reason="checked"),
        )
        assert rebuilt.last_seq == last + 2 == await store.last_seq(run_id)
        assert rebuilt.messages[-1]["content"] == "late"
        assert rebuilt.reason == "checked"
        assert RunState.fold(run_id, await store.events(run_id)) == rebuilt
    finally:
        await store.close()


async def test_state_events_of_a_run_without_messages_are_all_its_events(tmp_path: Path) -> None:
    store = await Store.open(tmp_path / "p.db")
    try:
        await store.create_run("r1", "wf", "/ws", "/run")
        await store.append("r1", [RunStatusChanged(status="running")] * 3)
        assert await store.state_events("r1", MESSAGE_TAIL) == await store.events("r1")
        assert await store.state_events("other", MESSAGE_TAIL) == []
    finally:
        await store.close()


def old_database(path: Path) -> None:
    """A database as the first schema left it, with a run of many messages in it."""
    conn = sqlite3.connect(path)
    conn.executescript(MIGRATIONS[0][1])
    conn.execute(f"PRAGMA user_version={MIGRATIONS[0][0]}")
    conn.execute(
        "INSERT INTO runs(id, workflow, workspace, run_dir, created_at, status) "
        "VALUES ('r1', 'wf', '/ws', '/run', 0, 'running')"
    )
    rows = [("r1", 1, 1.0, "run_status", "", '{"kind":"run_status","status":"running"}')]
    for seq in range(2, 1002):
        kind = "agent_message" if seq % 100 else "run_status"
        data = (
            f'{{"kind":"agent_message","stage":"s","agent":"a","attempt":1,'
            f'"message_type":"info","content":{seq}}}'
            if kind == "agent_message"
            else f'{{"kind":"run_status","status":"running","reason":"{seq}"}}'
        )
        rows.append(("r1", seq, float(seq), kind, "", data))
    conn.executemany("INSERT INTO events VALUES (?,?,?,?,?,?)", rows)
    conn.commit()
    conn.close()


async def test_an_old_database_is_upgraded_and_read_through_the_new_index(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    old_database(db)
    store = await Store.open(db, create=False)
    try:
        kept = await store.state_events("r1", MESSAGE_TAIL)
        every = await store.events("r1")
    finally:
        await store.close()
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='index'")}
        assert "events_not_messages" in indexes
    finally:
        conn.close()
    others = [e for e in every if e.kind != "agent_message"]
    messages = [e for e in every if e.kind == "agent_message"]
    assert kept == sorted(others + messages[-MESSAGE_TAIL:], key=lambda e: e.seq)
    assert kept[-1].seq == 1001
    assert RunState.fold("r1", kept) == RunState.fold("r1", every)
