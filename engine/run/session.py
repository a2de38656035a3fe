"""A run as seen by whoever holds its lock: the store, the folded state, and ``emit``.

The engine is a session that also runs stages; the CLI opens a session to apply an
operator's command when no engine is alive. Both write through :meth:`emit`, which
appends to the store first and folds into the state only once committed.
"""

from __future__ import annotations

import functools
import getpass
import os
import socket
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from engine.run.secrets import Masker
from engine.state.events import Event, Payload
from engine.state.run_state import MESSAGE_TAIL, RunState
from engine.store.database import Store
from engine.workflow.models import Workflow


def operator_name() -> str:
    """``$USER@host``, as recorded with every operator action."""
    try:
        user = os.environ.get("USER") or getpass.getuser()
    except Exception:
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


class RunSession:
    def __init__(self, store: Store, state: RunState, *, operator: str | None = None) -> None:
        self.store = store
        self.state = state
        self.run_id = state.run_id
        self.operator = operator or operator_name()
        self.masker = Masker.from_env(os.environ, self.workflow.secrets)
        self._unfolded: dict[int, Event] = {}
        self.listeners: list[Callable[[list[Event]], None]] = []
        """Called with every batch of events this session commits (progress printers)."""

    @classmethod
    async def load(cls, store: Store, run_id: str, *, operator: str | None = None) -> RunSession:
        """Rebuild the state from what the fold keeps (:meth:`Store.state_events`): a run's
        progress messages, nearly all of a long history, are read only for the last few."""
        events = await store.state_events(run_id, MESSAGE_TAIL)
        if not events:
            raise LookupError(f"unknown run: {run_id}")
        return cls(store, RunState.fold(run_id, events), operator=operator)

    @property
    def workflow(self) -> Workflow:
        assert self.state.workflow is not None
        return self.state.workflow

    @property
    def run_dir(self) -> Path:
        return _as_path(self.state.run_dir)

    @property
    def workspace(self) -> Path:
        return _as_path(self.state.workspace)

    async def emit(
        self,
        *payloads: Payload,
        command: tuple[int, dict[str, Any]] | None = None,
        manifests: tuple[int, ...] = (),
        operator: str = "",
    ) -> list[Event]:
        events = await self.store.append(
            self.run_id,
            [self._mask(p) for p in payloads],
            operator=operator,
            command=command,
            manifests=manifests,
        )
        self._fold_in_order(events)
        for listener in self.listeners:
            listener(events)
        await self.after_events(events)
        return events

    def _fold_in_order(self, events: list[Event]) -> None:
        """Fold committed events strictly by seq, whichever emitter wakes first."""
        for event in events:
            self._unfolded[event.seq] = event
        while self.state.last_seq + 1 in self._unfolded:
            self.state.apply(self._unfolded.pop(self.state.last_seq + 1))

    def _mask(self, payload: Payload) -> Payload:
        if not self.masker or payload.kind == "run_created":
            return payload
        data = self.masker.value(payload.model_dump())
        return type(payload).model_validate(data)

    async def after_events(self, events: list[Event]) -> None:
        """Hook for subclasses (the engine rewrites the session files here)."""


@functools.lru_cache(maxsize=64)
def _as_path(text: str) -> Path:
    """One ``Path`` per folder: asked for many times per agent, and parsing one is not free."""
    return Path(text)
