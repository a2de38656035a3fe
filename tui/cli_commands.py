"""The handlers of the ``phaseboard`` commands (see ``tui.cli`` for their arguments)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import shutil
import signal
import sqlite3
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from engine.engine import Engine, RunOutcome
from engine.local_executor import LocalExecutor
from engine.progress import progress_line
from engine.requests import submit
from engine.runs import (
    NotFound,
    UsageError,
    check_slice,
    create_run,
    default_db,
    find_db,
    parse_params,
    resolve_run_id,
)
from engine.sanitize import sanitize_line
from engine.session import RunSession
from engine.store import Store, StoreError
from engine.workflow import (
    bundled_data_dir,
    load_workflow,
    resolve_workflow_path,
    workflow_json_schema,
)

DEMO_DIR = "phaseboard-demo"


def _err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# -- files ---------------------------------------------------------------------------------


def check(args: argparse.Namespace) -> int:
    path = resolve_workflow_path(args.workflow)
    workflow = load_workflow(path)
    stages = len(workflow.stages)
    agents = sum(len(getattr(s, "agents", [])) for s in workflow.stages)
    print(f"{path}: ok ({workflow.name}: {stages} stages, {agents} agents)")
    return 0


def schema(args: argparse.Namespace) -> int:
    print(json.dumps(workflow_json_schema(), indent=2))
    return 0


# -- starting and driving runs -------------------------------------------------------------


async def _open_store(args: argparse.Namespace) -> Store:
    db = find_db(args.db)
    if db is None:
        raise NotFound(
            "no phaseboard database here (looked for .phaseboard/phaseboard.db upwards; use --db)"
        )
    return await Store.open(db, create=False)


@contextlib.asynccontextmanager
async def _opened(args: argparse.Namespace) -> AsyncIterator[Store]:
    store = await _open_store(args)
    try:
        yield store
    finally:
        await store.close()


def _workspace(raw: str) -> Path:
    path = Path(raw).expanduser().resolve()
    if not path.exists():
        raise UsageError(f"workspace {path} does not exist")
    if not path.is_dir():
        raise UsageError(f"workspace {path} is not a directory")
    if not os.access(path, os.R_OK | os.W_OK | os.X_OK):
        raise UsageError(f"workspace {path} is not readable and writable")
    return path


async def prepare_run(
    args: argparse.Namespace, *, extra_params: list[str] = ()
) -> tuple[Store, str]:  # type: ignore[assignment]
    path = resolve_workflow_path(args.workflow)
    workflow = load_workflow(path)
    text = path.read_text(encoding="utf-8")
    workspace = _workspace(args.workspace or workflow.workspace or ".")
    params = parse_params(workflow, [*extra_params, *getattr(args, "params", [])])
    check_slice(workflow, getattr(args, "from_stage", None), getattr(args, "until_stage", None))
    db = find_db(args.db) if (args.db or os.environ.get("PHASEBOARD_DB")) else default_db(workspace)
    assert db is not None
    store = await Store.open(db)
    run_id = await create_run(
        store,
        workflow=workflow,
        workflow_path=path,
        workflow_text=text,
        workspace=workspace,
        params=params,
        criteria_override=getattr(args, "criteria", None),
        from_stage=getattr(args, "from_stage", None),
        until_stage=getattr(args, "until_stage", None),
    )
    return store, run_id


async def run(args: argparse.Namespace) -> int:
    store, run_id = await prepare_run(args)
    try:
        _err(f"phaseboard: run {run_id} of {args.workflow} (database {store.path})")
        return await drive_headless(store, run_id, json_mode=args.json)
    finally:
        await store.close()


async def drive_headless(
    store: Store, run_id: str, *, json_mode: bool, cd: str | None = None
) -> int:
    engine = await Engine.open(store, run_id, LocalExecutor())
    engine.listeners.append(_printer(json_mode))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(
            sig, engine.request_stop, "interrupted", f"interrupted by {sig.name}"
        )
    try:
        outcome = await engine.drive()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.remove_signal_handler(sig)
    _closing(engine, outcome, cd=cd)
    return outcome.exit_code


def _printer(json_mode: bool) -> Any:
    def show(events: list[Any]) -> None:
        for event in events:
            if json_mode:
                sys.stdout.write(
                    json.dumps(
                        {"seq": event.seq, "ts": event.ts, "kind": event.kind, **event.data},
                        default=str,
                    )
                    + "\n"
                )
            line = progress_line(event)
            if line:
                sys.stderr.write(line + "\n")
        sys.stdout.flush()
        sys.stderr.flush()

    return show


def _closing(session: RunSession, outcome: RunOutcome, *, cd: str | None = None) -> None:
    rid = session.run_id
    verdict = f", decision {outcome.decision}" if outcome.decision else ""
    _err(f"phaseboard: run {rid} {outcome.status}{verdict}")
    _err(f"  files: {session.run_dir}")
    steps = [f"cd {cd}"] if cd else []
    if outcome.status == "paused":
        steps += [line.split(": ", 1)[-1] for line in session.state.awaiting]
        steps.append(f"phaseboard resume {rid} --headless")
    elif outcome.status in ("interrupted", "stopped"):
        steps.append(f"phaseboard resume {rid} --headless")
    elif outcome.status == "completed":
        steps.append(f"less {session.run_dir / 'final_report.md'}")
        if cd:
            steps.append(f"phaseboard rollback {rid} implementation --yes")
            steps.append(f"phaseboard resume {rid} --headless")
    else:
        steps.append(f"phaseboard status {rid}")
    if steps:
        _err("next:")
        for step in steps:
            _err(f"  {step}")


async def resume(args: argparse.Namespace) -> int:
    if not args.headless:
        from tui.cli_console import open_console

        return open_console(args)
    async with _opened(args) as store:
        run_id = await resolve_run_id(store, args.run)
        return await drive_headless(store, run_id, json_mode=args.json)


async def engine(args: argparse.Namespace) -> int:
    """The detached engine a console starts: it waits for the operator when paused."""
    async with _opened(args) as store:
        run_id = await resolve_run_id(store, args.run)
        eng = await Engine.open(store, run_id, LocalExecutor(), wait_when_paused=True)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(
                sig, eng.request_stop, "interrupted", f"interrupted by {sig.name}"
            )
        loop.add_signal_handler(signal.SIGHUP, lambda: None)
        outcome = await eng.drive()
        return outcome.exit_code


async def demo(args: argparse.Namespace) -> int:
    target = prepare_demo_dir()
    args.workflow = "standard"
    args.workspace = str(target)
    args.params = []
    args.criteria = None
    args.from_stage = args.until_stage = None
    store, run_id = await prepare_run(args, extra_params=["fail_first_attempt=code"])
    try:
        _err(f"phaseboard: demo run {run_id} on {target}")
        return await drive_headless(store, run_id, json_mode=args.json, cd=DEMO_DIR)
    finally:
        await store.close()


def prepare_demo_dir() -> Path:
    """A fresh copy of the bundled sample in ./phaseboard-demo (an earlier demo copy is reused)."""
    sample = bundled_data_dir() / "sample"
    target = Path.cwd() / DEMO_DIR
    if target.exists():
        if not (target / ".phaseboard").exists() and any(target.iterdir()):
            raise UsageError(f"{target} exists and is not a phaseboard demo; move it away first")
        return target
    shutil.copytree(sample, target, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return target


# -- looking at runs -----------------------------------------------------------------------


async def runs(args: argparse.Namespace) -> int:
    from engine.status_view import runs_item

    async with _opened(args) as store:
        rows = [
            dataclasses.replace(r, status=await _effective_status(store, r.id, r.status))
            for r in await store.runs()
        ]
        if args.json:
            print(json.dumps([runs_item(r, now=time.time()) for r in rows], indent=2))
            return 0
        if not rows:
            print("no runs")
            return 0
        print(
            f"{'RUN':<22} {'WORKFLOW':<16} {'STATUS':<12} {'DECISION':<20} {'STARTED':<20} DURATION"
        )
        for r in rows:
            status = r.status
            started = time.strftime(
                "%Y-%m-%d %H:%M:%S", time.localtime(r.started_at or r.created_at)
            )
            end = r.ended_at or (time.time() if status == "running" else None)
            duration = f"{(end - (r.started_at or r.created_at)):.0f}s" if end else "-"
            print(
                f"{r.id:<22} {r.workflow[:16]:<16} {status:<12} {r.decision or '-':<20} {started:<20} {duration}"
            )
        return 0


async def _effective_status(store: Store, run_id: str, status: str) -> str:
    """A run marked running whose engine is gone was interrupted."""
    from engine.run_lock import live_holder

    if status == "running" and await live_holder(store, run_id) is None:
        return "interrupted"
    return status


async def _session(store: Store, ref: str) -> RunSession:
    run_id = await resolve_run_id(store, ref)
    session = await RunSession.load(store, run_id)
    session.state.status = await _effective_status(store, run_id, session.state.status)
    return session


async def status(args: argparse.Namespace) -> int:
    from engine.status_view import status_document, status_lines

    async with _opened(args) as store:
        session = await _session(store, args.run)
        if args.json:
            print(json.dumps(status_document(session.state), indent=2, default=str))
        else:
            print("\n".join(status_lines(session.state)))
        return 0


async def report(args: argparse.Namespace) -> int:
    from engine.final_report import final_report, render_final_markdown
    from engine.reports import ReportWriter

    async with _opened(args) as store:
        session = await _session(store, args.run)
        out = Path(args.out).resolve() if args.out else session.run_dir
        await ReportWriter(store, session.state, session.run_dir).write_all(out)
        document = final_report(session.state)
        if args.format == "json":
            print(json.dumps(document, indent=2, default=str))
        else:
            print(render_final_markdown(document))
        _err(f"phaseboard: report files written to {out}")
        return 0


async def logs(args: argparse.Namespace) -> int:
    from engine.run_lock import live_holder

    async with _opened(args) as store:
        session = await _session(store, args.run)
        stage, _, agent = args.agent.partition(".")
        st = session.state.stages.get(stage)
        if st is None or agent not in st.agents:
            raise NotFound(f"unknown agent {args.agent!r} (use STAGE.AGENT)")
        clean = sys.stdout.isatty()
        after: dict[int, int] = {}
        while True:
            agent_state = session.state.stages[stage].agents[agent]
            numbers = [args.attempt] if args.attempt else [a.n for a in agent_state.attempts]
            for n in numbers:  # attempt by attempt: each read is one range of the index
                while True:
                    rows = await store.logs(
                        session.run_id, stage, agent, n, after_id=after.get(n, 0), limit=5000
                    )
                    if not rows:
                        break
                    for row in rows:
                        text = sanitize_line(row.text) if clean else row.text
                        sys.stdout.write(text if row.partial else text + "\n")
                    after[n] = rows[-1].id
            sys.stdout.flush()
            if not args.follow:
                break
            if agent_state.status != "running" and await live_holder(store, session.run_id) is None:
                break
            if agent_state.status not in ("running", "pending"):
                break
            await asyncio.sleep(0.2)
            session = await RunSession.load(store, session.run_id)
        return 0


# -- commands that change a run ------------------------------------------------------------


async def _command(args: argparse.Namespace, kind: str, payload: dict[str, Any]) -> int:
    async with _opened(args) as store:
        run_id = await resolve_run_id(store, args.run)
        outcome = await submit(store, run_id, kind, payload)
        if outcome.ok:
            print(outcome.message)
            return 0
        _err(f"phaseboard: {outcome.message}")
        return 1


async def retry(args: argparse.Namespace) -> int:
    mode = "reduced" if args.reduced_scope else "backup" if args.backup else "same"
    if "." not in args.agent:
        raise UsageError(f"AGENT must be STAGE.AGENT, got {args.agent!r}")
    return await _command(args, "retry", {"agent": args.agent, "mode": mode})


async def resolve(args: argparse.Namespace) -> int:
    payload: dict[str, Any] = {"conflict": args.conflict, "note": args.note}
    if args.pick:
        payload["pick"] = args.pick
    else:
        try:
            json.loads(args.value)
        except json.JSONDecodeError as exc:
            raise UsageError(
                f"--value is not valid JSON: {exc.msg} at column {exc.colno}"
            ) from None
        payload["value"] = args.value
    return await _command(args, "resolve", payload)


async def accept(args: argparse.Namespace) -> int:
    if not args.note.strip():
        raise UsageError("--note must say why the checkpoint is accepted")
    return await _command(args, "accept", {"checkpoint": args.checkpoint, "note": args.note})


async def stop(args: argparse.Namespace) -> int:
    return await _command(args, "stop", {})


async def rollback(args: argparse.Namespace) -> int:
    from engine.rollback import find_point, workspace_changes

    async with _opened(args) as store:
        session = await _session(store, args.run)
        point = find_point(session, args.checkpoint)
        if point is None:
            known = (
                ", ".join(f"{p.id} ({p.stage})" for p in session.state.rollback_points) or "none"
            )
            raise NotFound(f"unknown rollback point {args.checkpoint!r} (points: {known})")
        if not args.yes:
            if not sys.stdin.isatty():
                raise UsageError(
                    "rollback asks for confirmation; pass --yes when not on a terminal"
                )
            diff = await workspace_changes(session, point)
            print(
                f"Roll back run {session.run_id} to {point.id} (saved {point.at}, before {point.stage}):"
            )
            print(
                f"  {len(diff.modified)} files reverted, {len(diff.added)} removed, {len(diff.deleted)} recreated"
            )
            later = [
                s
                for s in session.state.stage_order()[
                    session.state.stage_order().index(point.stage) :
                ]
                if session.state.stages[s].status != "pending"
            ]
            print(
                f"  results of {', '.join(later) or 'nothing'} marked rolled_back (kept in the history)"
            )
            if input("Proceed? [y/N] ").strip().lower() not in ("y", "yes"):
                print("nothing done")
                return 1
        outcome = await submit(store, session.run_id, "rollback", {"point": point.id})
        if outcome.ok:
            print(outcome.message)
            return 0
        _err(f"phaseboard: {outcome.message}")
        return 1


async def prune(args: argparse.Namespace) -> int:
    from engine import snapshots
    from engine.run_lock import live_holder

    if args.keep is None and args.older_than is None:
        raise UsageError("give --keep N and/or --older-than DAYS")
    async with _opened(args) as store:
        rows = await store.runs()
        doomed = []
        for index, r in enumerate(rows):
            old = (
                args.older_than is not None
                and (time.time() - r.created_at) > args.older_than * 86400
            )
            beyond = args.keep is not None and index >= args.keep
            if (
                (old if args.older_than is not None else True)
                and (beyond if args.keep is not None else True)
                and await live_holder(store, r.id) is None
            ):
                doomed.append(r)
        for r in doomed:
            await store.delete_run(r.id)
            shutil.rmtree(r.run_dir, ignore_errors=True)
        live = [r.id for r in await store.runs() if await live_holder(store, r.id) is not None]
        if live:
            print(
                f"deleted {len(doomed)} runs; stored files are kept while engines run ({', '.join(live)})"
            )
            return 0
        keep = await store.manifests_in_use()

        def sweep() -> tuple[int, int]:
            conn = sqlite3.connect(store.path, timeout=30, isolation_level=None)
            try:
                return snapshots.delete_unreferenced(conn, keep)
            finally:
                conn.close()

        manifests, blobs = await asyncio.to_thread(sweep)
        print(f"deleted {len(doomed)} runs, {manifests} snapshots and {blobs} stored files")
        return 0


def open_console(args: argparse.Namespace) -> int:
    from tui.cli_console import open_console as _open

    return _open(args)


__all__ = ["StoreError"]
