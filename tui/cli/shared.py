"""Helpers the ``phaseboard`` command handlers share: messages, the store, a run's session."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import AsyncIterator

from engine.run.runs import NotFound, resolve_run_id
from engine.run.session import RunSession
from engine.store.database import Store
from engine.store.location import find_db


def err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def open_store(args: argparse.Namespace) -> Store:
    db = find_db(args.db)
    if db is None:
        raise NotFound(
            "no phaseboard database here (looked for .phaseboard/phaseboard.db upwards; use --db)"
        )
    return await Store.open(db, create=False)


@contextlib.asynccontextmanager
async def opened(args: argparse.Namespace) -> AsyncIterator[Store]:
    store = await open_store(args)
    try:
        yield store
    finally:
        await store.close()


async def effective_status(store: Store, run_id: str, status: str) -> str:
    """A run marked running whose engine is gone was interrupted."""
    from engine.store.run_lock import live_holder

    if status == "running" and await live_holder(store, run_id) is None:
        return "interrupted"
    return status


async def session_of(store: Store, ref: str) -> RunSession:
    run_id = await resolve_run_id(store, ref)
    session = await RunSession.load(store, run_id)
    session.state.status = await effective_status(store, run_id, session.state.status)
    return session
