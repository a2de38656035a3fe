"""The notify hook: run by the engine once per pause that needs the operator and once at the end,
with the notice on stdin and in its environment; a failing or hanging hook never stops the run."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from engine.execution.local_executor import LocalExecutor
from engine.run.engine import Engine
from engine.run.notify import NOTIFY_ENV, TIMEOUT_ENV, choose_hook, notice_kind
from engine.run.outcome import RunOutcome
from engine.run.requests import submit
from engine.state.events import Event
from engine.store.database import Store
from engine.store.location import default_db
from tests.helpers import GATED, agent_cmd, create_test_run


async def drive(store: Store, run_id: str, **kwargs: Any) -> RunOutcome:
    engine = await Engine.open(store, run_id, LocalExecutor(), **kwargs)
    return await engine.drive()


async def new_run(tmp_path: Path, workspace: Path, text: str) -> tuple[Store, str]:
    store = await Store.open(default_db(workspace))
    return store, await create_test_run(store, tmp_path, workspace, text)


def of_kind(events: list[Event], kind: str) -> list[Event]:
    return [e for e in events if e.kind == kind]


async def test_a_pause_and_the_end_each_run_the_hook_once(tmp_path: Path, workspace: Path) -> None:
    log = tmp_path / "hook.log"
    hook = f'{{ cat; echo "env $PHASEBOARD_EVENT $PHASEBOARD_RUN_ID $PHASEBOARD_STATUS $PHASEBOARD_REASON"; }} >> {log}'
    store, run_id = await new_run(
        tmp_path, workspace, GATED.format(notify=json.dumps(hook), agent=agent_cmd())
    )
    try:
        paused = await drive(store, run_id)
        assert paused.status == "paused"
        accepted = await submit(store, run_id, "accept", {"checkpoint": "gate", "note": "ok"})
        assert accepted.ok, accepted.message
        finished = await drive(store, run_id)
        assert (finished.status, finished.decision) == ("completed", "CONDITIONAL_PROCEED")
        events = await store.events(run_id)
    finally:
        await store.close()

    lines = log.read_text().splitlines()
    documents = [json.loads(line) for line in lines if line.startswith("{")]
    environs = [line.split(" ", 4)[1:] for line in lines if line.startswith("env ")]
    assert [d["event"] for d in documents] == ["paused", "finished"]
    pause, end = documents
    assert pause["run_id"] == run_id and pause["workflow"] == "gated"
    assert pause["status"] == "paused" and pause["exit_code"] == 4
    assert pause["reason"] == "checkpoint gate failed: never"
    assert any("phaseboard accept" in line for line in pause["awaiting"])
    assert pause["message"] == f"gated {run_id} paused at checkpoint gate"
    assert (end["status"], end["decision"], end["exit_code"]) == (
        "completed",
        "CONDITIONAL_PROCEED",
        3,
    )
    assert environs[0] == ["paused", run_id, "paused", "checkpoint gate failed: never"]
    assert environs[1][:3] == ["finished", run_id, "completed"]

    # recorded once each, by the engine that raised it, about that very event
    sent = of_kind(events, "notification_sent")
    statuses = {e.seq: e.data for e in of_kind(events, "run_status")}
    assert [e.data["event"] for e in sent] == ["paused", "finished"]
    assert all(e.data["ok"] and e.data["source"] == "workflow" for e in sent)
    assert [statuses[e.data["about"]]["status"] for e in sent] == ["paused", "completed"]
    assert [d["seq"] for d in documents] == [e.data["about"] for e in sent]


async def test_a_failing_or_hanging_hook_is_recorded_and_the_run_goes_on(
    tmp_path: Path, workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = GATED.format(notify="null", agent=agent_cmd()).replace(
        'criteria: [{id: never, expr: "false"}]', 'criteria: [{id: fine, expr: "true"}]'
    )
    store, run_id = await new_run(tmp_path, workspace, text)
    try:
        outcome = await drive(store, run_id, notify="echo 'no route to ntfy' >&2; exit 3")
        assert (outcome.status, outcome.exit_code) == ("completed", 0)
        failed = of_kind(await store.events(run_id), "notification_sent")
        assert [(e.data["ok"], e.data["exit_code"]) for e in failed] == [(False, 3)]
        assert failed[0].data["error"] == "exit code 3: no route to ntfy"
        assert failed[0].data["source"] == "--notify"

        # a hook that hangs, and a child of it that holds its stderr, are killed at the timeout
        await submit(store, run_id, "rollback", {"point": "work"})
        monkeypatch.setenv(TIMEOUT_ENV, "0.2")
        monkeypatch.setenv(NOTIFY_ENV, "sleep 30 & sleep 30")
        started = time.monotonic()
        outcome = await drive(store, run_id)
        assert time.monotonic() - started < 10
        assert outcome.status == "completed"
        hung = of_kind(await store.events(run_id), "notification_sent")[-1]
        assert (hung.data["ok"], hung.data["error"]) == (False, "timed out after 0.2s")
        assert hung.data["source"] == NOTIFY_ENV
    finally:
        await store.close()


class Unreachable(LocalExecutor):
    """An executor that cannot run the stage now, as a Dask cluster out of reach says."""

    async def prepare(self, needs: Any) -> str | None:
        return "the cluster cannot be reached"


async def test_a_pause_the_executor_asks_for_notifies_too(tmp_path: Path, workspace: Path) -> None:
    store, run_id = await new_run(
        tmp_path, workspace, GATED.format(notify='"cat > /dev/null"', agent=agent_cmd())
    )
    try:
        engine = await Engine.open(store, run_id, Unreachable())
        assert (await engine.drive()).status == "paused"
        events = await store.events(run_id)
    finally:
        await store.close()
    pause = next(e for e in events if e.kind == "run_status" and e.data["status"] == "paused")
    assert pause.data["awaiting"] == [f"resume the run: phaseboard resume {run_id}"]
    assert [e.data["about"] for e in of_kind(events, "notification_sent")] == [pause.seq]


def test_which_hook_runs() -> None:
    env = {NOTIFY_ENV: "from-env"}
    assert choose_hook("cli", "file", env).command == "cli"  # type: ignore[union-attr]
    assert choose_hook(None, "file", env).source == NOTIFY_ENV  # type: ignore[union-attr]
    assert choose_hook(None, "file", {}).source == "workflow"  # type: ignore[union-attr]
    assert choose_hook(None, "file", {NOTIFY_ENV: ""}) is None  # an empty one turns it off
    assert choose_hook("", "file", env) is None
    assert choose_hook(None, None, {}) is None
    assert choose_hook("x", None, {TIMEOUT_ENV: "2.5"}).timeout_s == 2.5  # type: ignore[union-attr]
    assert choose_hook("x", None, {TIMEOUT_ENV: "soon"}).timeout_s == 30  # type: ignore[union-attr]
    # what is a notice: a pause that awaits the operator, and the end
    assert notice_kind("paused", ["resolve conflict c_1: phaseboard resolve ..."]) == "paused"
    assert notice_kind("paused", []) is None  # the operator's own pause, a rollback's hold
    assert notice_kind("completed", []) == notice_kind("failed", []) == "finished"
    assert notice_kind("stopped", []) is notice_kind("interrupted", []) is None
