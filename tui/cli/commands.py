"""The handlers of the ``phaseboard`` commands (see ``tui.cli`` for their arguments).

This module has the commands that look at runs; those that start runs live in ``tui.cli.run``,
those that change them in ``tui.cli.changes``, and opening the console in ``tui.cli.console``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
import time
from pathlib import Path

from engine.run.runs import NotFound, UsageError
from engine.run.session import RunSession
from engine.workflow.loader import load_workflow, resolve_workflow_path
from engine.workflow.models import workflow_json_schema
from tui.cli.shared import effective_status, err, opened, session_of


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


async def runs(args: argparse.Namespace) -> int:
    from engine.reports.status_json import runs_item

    async with opened(args) as store:
        rows = [
            dataclasses.replace(r, status=await effective_status(store, r.id, r.status))
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


async def status(args: argparse.Namespace) -> int:
    from engine.reports.forecast import History, forecast
    from engine.reports.status_json import status_document
    from engine.reports.status_text import status_lines

    async with opened(args) as store:
        session = await session_of(store, args.run)
        state, now = session.state, time.time()
        history = History.of(await store.run_durations(state.workflow_name, state.run_id))
        outlook = forecast(state, history, now) if state.workflow is not None else None
        if args.json:
            print(json.dumps(status_document(state, outlook, now), indent=2, default=str))
        else:
            print("\n".join(status_lines(state, outlook)))
        return 0


async def report(args: argparse.Namespace) -> int:
    from engine.reports.final_report import final_report, render_final_markdown
    from engine.reports.writer import ReportWriter

    async with opened(args) as store:
        session = await session_of(store, args.run)
        out = Path(args.out).resolve() if args.out else session.run_dir
        await ReportWriter(store, session.state, session.run_dir).write_all(out)
        document = final_report(session.state)
        if args.format == "json":
            print(json.dumps(document, indent=2, default=str))
        else:
            print(render_final_markdown(document))
        err(f"phaseboard: report files written to {out}")
        return 0


async def logs(args: argparse.Namespace) -> int:
    from engine.store.run_lock import live_holder

    if args.raw and sys.stdout.isatty():
        raise UsageError(
            "--raw prints an agent's control sequences as it wrote them: "
            "send it to a pipe or a file, not to a terminal"
        )
    async with opened(args) as store:
        session = await session_of(store, args.run)
        stage, _, agent = args.agent.partition(".")
        st = session.state.stages.get(stage)
        if st is None or agent not in st.agents:
            raise NotFound(f"unknown agent {args.agent!r} (use STAGE.AGENT)")
        clean = not args.raw
        done: dict[int, int] = {}
        """Lines printed so far, per attempt."""
        while True:
            agent_state = session.state.stages[stage].agents[agent]
            numbers = [args.attempt] if args.attempt else [a.n for a in agent_state.attempts]
            for n in numbers:  # attempt by attempt, a few chunks of lines per read
                printed = store.printed_log(
                    session.run_id, stage, agent, n, done.get(n, 0), clean=clean
                )
                async for text, end in printed:
                    sys.stdout.write(text)
                    done[n] = end
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
