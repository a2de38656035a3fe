"""The ``phaseboard`` commands that change a run: retry, resolve, accept, stop, rollback, prune."""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import sqlite3
import sys
import time
from typing import Any

from engine.run.command_types import Outcome
from engine.run.requests import submit
from engine.run.runs import NotFound, UsageError, resolve_run_id
from tui.cli.shared import err, opened, session_of


def told(outcome: Outcome) -> int:
    """Say how a submitted command ended; its exit code."""
    if outcome.ok:
        print(outcome.message)
        return 0
    err(f"phaseboard: {outcome.message}")
    return 1


async def queue_command(args: argparse.Namespace, kind: str, payload: dict[str, Any]) -> int:
    async with opened(args) as store:
        run_id = await resolve_run_id(store, args.run)
        return told(await submit(store, run_id, kind, payload))


async def retry(args: argparse.Namespace) -> int:
    mode = "reduced" if args.reduced_scope else "backup" if args.backup else "same"
    if "." not in args.agent:
        raise UsageError(f"AGENT must be STAGE.AGENT, got {args.agent!r}")
    payload: dict[str, Any] = {"agent": args.agent, "mode": mode}
    if args.more_memory:
        payload["more_memory"] = True
    return await queue_command(args, "retry", payload)


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
    return await queue_command(args, "resolve", payload)


async def accept(args: argparse.Namespace) -> int:
    if not args.note.strip():
        raise UsageError("--note must say why the checkpoint is accepted")
    return await queue_command(args, "accept", {"checkpoint": args.checkpoint, "note": args.note})


async def stop(args: argparse.Namespace) -> int:
    return await queue_command(args, "stop", {})


async def rollback(args: argparse.Namespace) -> int:
    from engine.run.rollback import find_point, workspace_changes

    async with opened(args) as store:
        session = await session_of(store, args.run)
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
        return told(await submit(store, session.run_id, "rollback", {"point": point.id}))


async def prune(args: argparse.Namespace) -> int:
    from engine.snapshots import take as snapshots
    from engine.store.run_lock import live_holder

    if args.keep is None and args.older_than is None:
        raise UsageError("give --keep N and/or --older-than DAYS")
    async with opened(args) as store:
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
