"""Store → app: tails one run's events and the log lines of the agent panes on screen.

The console never holds an engine: it reads the store, whoever drives the run. Every
``interval`` the watcher asks SQLite whether anything was committed since it last
looked (``PRAGMA data_version``), and only then fetches new events (folded into its
:class:`RunState`) and new log lines. The first look folds the whole history at once from
:meth:`Store.state_events`, so a run of a million events opens as fast as a short one. It
posts one :class:`RunUpdate` at a time and waits for the app to :meth:`RunWatcher.ack` it,
so a slow screen gets fewer, larger batches instead of a growing queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from textual.message import Message
from textual.message_pump import MessagePump

from engine.state.events import Event
from engine.state.run_state import MESSAGE_TAIL, RunState
from engine.store.database import Store, StoredLog
from tui.console.launcher import engine_alive
from tui.console.widgets.agent_pane import PANE_LINES
from tui.console.widgets.event_log import KEEP

log = logging.getLogger(__name__)

PANE_TAIL = 200
"""Lines of each agent's log shown when its pane appears."""
EVENT_BATCH = 20_000
HISTORY_SHOWN = KEEP
"""Events of the history read on the first tick that go to the Events tab (it keeps no more)."""
ALIVE_EVERY_S = 1.0
FLOOD_LINES = 1000
"""A batch with this many pane lines means the agents print faster than anyone reads..."""
FLOOD_SLOWDOWN = 2.5
"""...so the next look comes this many intervals later: fewer, larger batches and frames."""


@dataclass
class PaneLines:
    """New lines for one agent pane."""

    lines: list[StoredLog]
    reset: bool = False
    """Replace what the pane shows (a fresh tail after a switch, or after skipping lines)."""
    skipped: bool = False
    """Lines were left out between what the pane showed and these (see the full log)."""


@dataclass
class RunBatch:
    """What changed in a run since the last batch."""

    state: RunState
    events: list[Event] = field(default_factory=list)
    panes: dict[str, PaneLines] = field(default_factory=dict)
    """Keyed by agent id, for the stage in :attr:`stage`."""
    stage: str | None = None
    engine_alive: bool = False
    first: bool = False


class RunUpdate(Message):
    """Posted to the app with each batch."""

    def __init__(self, batch: RunBatch) -> None:
        super().__init__()
        self.batch = batch


class RunWatcher:
    """Follows one run in the store and posts :class:`RunUpdate` messages to ``target``."""

    def __init__(
        self,
        db_path: Path,
        run_id: str,
        target: MessagePump,
        *,
        interval: float = 0.1,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.db_path = db_path
        self.run_id = run_id
        self.target = target
        self.interval = interval
        self._pause = interval
        self.state = RunState(run_id)
        self.engine_alive = False
        self._clock = clock or asyncio.get_event_loop().time
        self._store: Store | None = None
        self._task: asyncio.Task[None] | None = None
        self._version: int | None = None
        self._inflight = False
        self._wake = asyncio.Event()
        self._stage: str | None = None
        self._agents: list[str] = []
        self._cursors: dict[str, tuple[int, int]] = {}
        """Per agent: the attempt and log id the pane has shown up to."""
        self._panes_dirty = False
        self._alive_checked = -1e9
        self._first = True

    # -- control ---------------------------------------------------------------------------

    async def start(self) -> None:
        self._store = await Store.open(self.db_path, create=False)
        self._task = asyncio.create_task(self._run(), name=f"watch {self.run_id}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self._store is not None:
            await self._store.close()
            self._store = None

    def watch_panes(self, stage: str | None, agents: list[str]) -> None:
        """Follow the log lines of these agents of ``stage`` (the panes now on screen)."""
        if stage == self._stage and agents == self._agents:
            return
        self._stage = stage
        self._agents = list(agents)
        self._cursors = {}
        self._panes_dirty = True
        self._wake.set()

    def ack(self) -> None:
        """The app has handled the last batch: the next one may be fetched."""
        self._inflight = False
        self._wake.set()

    def poke(self) -> None:
        """Look again now rather than at the next tick (after the app wrote a command)."""
        self._wake.set()

    # -- the loop --------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            if not self._inflight:
                try:
                    batch = await self._tick()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("watcher tick failed")
                    batch = None
                if batch is not None:
                    self._inflight = True
                    self.target.post_message(RunUpdate(batch))
                    flood = sum(len(p.lines) for p in batch.panes.values()) >= FLOOD_LINES
                    self._pause = self.interval * FLOOD_SLOWDOWN if flood else self.interval
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._pause)

    async def _tick(self) -> RunBatch | None:
        store = self._store
        assert store is not None
        now = self._clock()
        alive_changed = False
        if now - self._alive_checked >= ALIVE_EVERY_S:
            self._alive_checked = now
            alive = await engine_alive(store, self.run_id)
            alive_changed = alive != self.engine_alive
            self.engine_alive = alive
        version = await store.data_version()
        changed = version != self._version
        self._version = version
        if not (changed or self._panes_dirty or alive_changed or self._first):
            return None
        events: list[Event] = []
        if self._first:
            events = await self._history(store)
        elif changed:
            events = await store.events(self.run_id, after=self.state.last_seq, limit=EVENT_BATCH)
            for event in events:
                self.state.apply(event)
            if len(events) == EVENT_BATCH:
                self._version = None  # more to read: look again at once
        panes = await self._pane_lines(store, changed)
        batch = RunBatch(
            state=self.state,
            events=events,
            panes=panes,
            stage=self._stage,
            engine_alive=self.engine_alive,
            first=self._first,
        )
        self._first = False
        if not (events or panes or alive_changed or batch.first):
            return None
        return batch

    async def _history(self, store: Store) -> list[Event]:
        """The whole history folded in one read of what the fold keeps (every event but the
        older progress messages), so the first frame shows the run as it is; the Events tab
        gets the last :data:`HISTORY_SHOWN` of those events."""
        events = await store.state_events(self.run_id, MESSAGE_TAIL)
        for event in events:
            self.state.apply(event)
        return events[-HISTORY_SHOWN:]

    async def _pane_lines(self, store: Store, changed: bool) -> dict[str, PaneLines]:
        if self._stage is None or not self._agents:
            self._panes_dirty = False
            return {}
        if self._panes_dirty:
            self._panes_dirty = False
            return {agent: await self._tail(store, agent, skipped=False) for agent in self._agents}
        if not changed:
            return {}
        out: dict[str, PaneLines] = {}
        for agent in self._agents:
            lines = await self._new_lines(store, agent)
            if lines is not None and lines.lines:
                out[agent] = lines
        return out

    def _attempts(self, agent: str) -> list[int]:
        st = self.state.stages.get(self._stage or "")
        found = st.agents.get(agent) if st else None
        return sorted({a.n for a in found.attempts}) if found else []

    async def _new_lines(self, store: Store, agent: str) -> PaneLines | None:
        """Lines after the pane's cursor, newest first and at most a pane's worth per attempt
        (each read is one index range); under a flood the pane skips to the tail."""
        attempt, after = self._cursors.get(agent, (0, 0))
        rows: list[StoredLog] = []
        skipped = False
        for n in self._attempts(agent):
            if n < attempt:
                continue
            since = after if n == attempt else 0
            got = await store.logs(
                self.run_id, self._stage, agent, n, after_id=since, newest=True, limit=PANE_LINES
            )
            if len(got) == PANE_LINES:
                skipped = True
                rows = []  # older attempts' lines are gone from the pane's window anyway
            rows += got
            attempt, after = n, (got[-1].id if got else since)
        self._cursors[agent] = (attempt, after)
        return PaneLines(rows, skipped=skipped)

    async def _tail(self, store: Store, agent: str, *, skipped: bool) -> PaneLines:
        """The agent's last lines (newest attempts first until the tail is full)."""
        attempts = self._attempts(agent)
        rows: list[StoredLog] = []
        for n in reversed(attempts):
            got = await store.logs(
                self.run_id, self._stage, agent, n, newest=True, limit=PANE_TAIL - len(rows)
            )
            rows = got + rows
            if len(rows) >= PANE_TAIL:
                break
        last = attempts[-1] if attempts else 0
        newest = max((r.id for r in rows if r.attempt == last), default=0)
        self._cursors[agent] = (last, newest)
        return PaneLines(rows, reset=True, skipped=skipped)
