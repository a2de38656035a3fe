"""The console app: holds the run being watched and its store; the screens do the rest.

It never holds an engine. It folds the run's events from the store (through the
watcher) and acts only by writing commands, so a run driven by this machine's
background engine and one driven from another terminal look and behave the same.
"""

from __future__ import annotations

import gc
import os
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual.app import App
from textual.binding import Binding
from textual.signal import Signal
from textual.theme import Theme

from engine.reports.forecast import History
from engine.reports.next_actions import next_actions
from engine.run.commands import Outcome
from engine.run.notify import headline, notice_kind
from engine.run.runs import NotFound
from engine.state.events import Event
from engine.state.run_state import RunState
from engine.store.database import Store
from engine.store.location import find_db
from screens.help import HelpScreen
from screens.main import MainScreen
from screens.modals import QuitModal
from screens.palette import ActionsProvider
from screens.run_picker import RunPickerScreen
from tui.console.alerts import AlertSettings, alert_sequence
from tui.console.launcher import EngineProcess, launch_engine, send_command
from tui.console.watcher import RunBatch, RunUpdate, RunWatcher

STYLES = Path(__file__).resolve().parents[2] / "styles"
SHEETS = ("base", "main", "conflicts", "rollback", "log", "modals")
FINAL = ("completed", "failed", "stopped")
EVENTS_KEPT = 20_000
GC_THRESHOLDS = (10_000, 5)
"""The collector's first two thresholds while the console runs (Python's are 700 and 10).
Rendering allocates a great deal that dies young; at the defaults, full collections under a
flood of agent output paused the event loop for 50 to 110 ms several times a second. These
gave the shortest pauses measured (young 6 ms, middle 15 ms, no full pass in 10 s)."""

THEME = Theme(
    name="phaseboard",
    primary="#5f87af",
    secondary="#8787af",
    accent="#d7af5f",
    warning="#d7af00",
    error="#d75f5f",
    success="#5faf5f",
    foreground="#d0d0d0",
    background="#1c1c1c",
    surface="#262626",
    panel="#303030",
    dark=True,
)
"""Colours from the xterm 256-colour cube, so the console looks the same over plain SSH."""


class PhaseboardApp(App[int]):
    TITLE = "phaseboard"
    CSS_PATH = [STYLES / f"{name}.tcss" for name in SHEETS]
    COMMANDS = App.COMMANDS | {ActionsProvider}
    BINDINGS = [
        Binding(
            "question_mark",
            "help",
            "help",
            id="app.help",
            tooltip="The keys of this screen and a short guide",
        ),
        Binding("o", "runs", "runs", id="app.runs", tooltip="Switch to another run"),
        Binding(
            "q",
            "quit",
            "quit",
            id="app.quit",
            tooltip="Quit (asks whether to leave a live run running or stop it)",
        ),
    ]

    def __init__(
        self,
        db_path: Path | None = None,
        run_id: str | None = None,
        *,
        engine: EngineProcess | None = None,
        clock: Callable[[], float] = time.time,
        poll_interval: float = 0.1,
    ) -> None:
        super().__init__()
        if "TEXTUAL_ANIMATIONS" not in os.environ:
            # over SSH, a tab's sliding underline redraws the screen for 0.3 s per key press
            self.animation_level = "none"
        found = db_path or find_db(
            None
        )  # `textual run --dev tui.console.app:PhaseboardApp` passes none
        if found is None:
            raise NotFound("no phaseboard database here (looked for .phaseboard/phaseboard.db)")
        self.db_path = found
        self.run_id = run_id
        self.engine_proc = engine
        self.clock = clock
        """Wall time for elapsed clocks (tests freeze it)."""
        self.poll_interval = poll_interval
        self.store: Store
        self.watcher: RunWatcher | None = None
        self.state = RunState(run_id or "")
        self.events: deque[Event] = deque(maxlen=EVENTS_KEPT)
        self.engine_alive = False
        self.history = History()
        """Durations of earlier runs of the open run's workflow (its completion estimate)."""
        self._history_of = ""
        self.run_changed: Signal[RunBatch] = Signal(self, "run-changed")
        self._last_status = ""
        self._proc_reported = False
        self._gc_saved: tuple[int, int, int] | None = None
        self.alerts = AlertSettings.from_env(os.environ)
        """The bell and desktop notifications when the run needs the operator or ends."""

    # -- lifecycle -------------------------------------------------------------------------

    async def on_mount(self) -> None:
        self.register_theme(THEME)
        self.theme = THEME.name
        self.store = await Store.open(self.db_path, create=False)
        self.set_interval(1.0, self._check_engine_proc)
        if self.run_id:
            await self.open_run(self.run_id)
        else:
            self.push_screen(RunPickerScreen(), self._picked)

    async def on_unmount(self) -> None:
        self._release_gc()
        if self.watcher is not None:
            await self.watcher.stop()
        store = getattr(self, "store", None)
        if store is not None:
            await store.close()

    def _hold_gc(self) -> None:
        """While the console shows a run, leave what exists once its screen is up (modules,
        styles, widgets) out of the collector's full passes, and collect the young less often:
        full passes over every object were the longest pauses of the event loop under load."""
        if self._gc_saved is None:
            self._gc_saved = gc.get_threshold()
            gc.set_threshold(*GC_THRESHOLDS, self._gc_saved[2])
        else:
            gc.unfreeze()  # another run: let the screens left behind be collected first
            gc.collect()
        gc.freeze()

    def _release_gc(self) -> None:
        """Put the collector back as it was (tests and benchmarks run many apps per process)."""
        if self._gc_saved is None:
            return
        gc.set_threshold(*self._gc_saved)
        gc.unfreeze()
        self._gc_saved = None

    async def open_run(self, run_id: str) -> None:
        """Watch ``run_id`` and show it on a fresh main screen."""
        if self.watcher is not None:
            await self.watcher.stop()
        if self.engine_proc is not None and run_id != self.run_id:
            self.engine_proc = None
        self.run_id = run_id
        self.watcher = RunWatcher(self.db_path, run_id, self, interval=self.poll_interval)
        self.state = self.watcher.state
        self.events.clear()
        self.engine_alive = False
        self._last_status = ""
        while len(self.screen_stack) > 1:
            await self.pop_screen()
        await self.watcher.start()
        self.history = History()
        self._history_of = ""
        await self.push_screen(MainScreen())
        self._hold_gc()

    async def _load_history(self, run_id: str, workflow: str) -> None:
        """Durations of the earlier completed runs of this run's workflow, for the estimate;
        read once the run's workflow is known (the first batch of its events)."""
        history = History.of(await self.store.run_durations(workflow, run_id))
        if run_id == self.run_id:
            self.history = history

    async def _picked(self, run_id: str | None) -> None:
        if run_id is not None and run_id != self.run_id:
            await self.open_run(run_id)

    # -- the store side --------------------------------------------------------------------

    def on_run_update(self, message: RunUpdate) -> None:
        watcher = self.watcher
        batch = message.batch
        if watcher is None or batch.state is not watcher.state:
            return  # from the watcher of a run we left
        try:
            self.state = batch.state
            self.engine_alive = batch.engine_alive
            self.events.extend(batch.events)
            if batch.state.workflow_name and self._history_of != batch.state.run_id:
                self._history_of = batch.state.run_id
                self.run_worker(
                    self._load_history(batch.state.run_id, batch.state.workflow_name),
                    group="history",
                    exclusive=True,
                    exit_on_error=False,
                )
            self._announce(batch.state)
            self.run_changed.publish(batch)
        finally:
            watcher.ack()

    def _announce(self, state: RunState) -> None:
        """Say at once when the run starts waiting for the operator, or ends."""
        status, before = state.status, self._last_status
        self._last_status = status
        if status == before or (not before and status not in ("paused",)):
            return
        if before:  # seen happen, not found so on opening the run
            self._alert(state)
        if status == "paused":
            todo = "; ".join(a.split(": phaseboard ", 1)[0] for a in next_actions(state)[:3])
            self.notify(
                f"{state.reason}\n{todo}".strip(),
                title="Run paused: your turn",
                severity="warning",
                timeout=8,
                markup=False,
            )
        elif status in FINAL:
            verdict = f": {state.decision}" if state.decision else ""
            self.notify(f"run {status}{verdict}", title="Run finished", timeout=8, markup=False)

    def _alert(self, state: RunState) -> None:
        """The bell and a desktop notification, by the rule the engine's notify hook follows."""
        if notice_kind(state.status, state.awaiting) is None or self.is_headless:
            return
        title, body = headline(state, state.status, state.decision)
        settings = self.alerts
        if self.is_web:  # a browser tab shows no terminal's desktop notifications
            settings = AlertSettings(bell=settings.bell, desktop=False)
        sequence = alert_sequence(settings, title, body)
        if sequence and self._driver is not None:
            # App.bell() writes through the driver too; Textual has no public call for an OSC
            self._driver.write(sequence)

    def engine_state(self) -> str:
        """``live``, ``starting`` (launched, not yet holding the run) or ``none``."""
        if self.engine_alive:
            return "live"
        if self.engine_proc is not None and self.engine_proc.exit_code() is None:
            return "starting"
        return "none"

    def _check_engine_proc(self) -> None:
        proc = self.engine_proc
        if proc is None or self._proc_reported or proc.exit_code() is None:
            return
        self._proc_reported = True
        if self.state.status not in FINAL or proc.exit_code() == 2:
            tail = "\n".join(proc.log_tail(3))
            self.notify(
                f"exit code {proc.exit_code()}\n{tail}",
                title="The engine stopped",
                severity="warning",
                timeout=8,
                markup=False,
            )

    # -- acting ----------------------------------------------------------------------------

    def command(
        self, kind: str, args: dict[str, Any], *, done: Callable[[Outcome], None] | None = None
    ) -> None:
        """Write an operator command in a worker; the outcome is notified (and passed to done)."""
        self.run_worker(self._command(kind, args, done), group="commands", exit_on_error=False)

    async def _command(
        self, kind: str, args: dict[str, Any], done: Callable[[Outcome], None] | None
    ) -> None:
        assert self.run_id is not None
        try:
            outcome = await send_command(self.store, self.run_id, kind, args)
        except Exception as exc:  # a locked or broken database: say so, keep going
            outcome = Outcome(False, str(exc))
        self.notify(
            outcome.message or kind,
            title=kind,
            severity="information" if outcome.ok else "error",
            markup=False,
        )
        if self.watcher is not None:
            self.watcher.poke()
        if done is not None:
            done(outcome)

    def resume_run(self) -> None:
        """Resume through the live engine, or start a background engine when none is alive."""
        engine = self.engine_state()
        if engine == "live":
            self.command("resume", {})
        elif engine == "starting":
            self.notify("the engine is starting", severity="information", markup=False)
        elif self.state.status == "completed":
            self.notify(
                "the run is complete: roll back (b) or retry (r) to run again", markup=False
            )
        elif self.run_id and self.state.run_dir:
            self.engine_proc = launch_engine(self.db_path, self.run_id, Path(self.state.run_dir))
            self._proc_reported = False
            self.notify(
                f"engine started in the background (pid {self.engine_proc.pid})",
                title="resume",
                markup=False,
            )
            if self.watcher is not None:
                self.watcher.poke()

    # -- app-wide actions ------------------------------------------------------------------

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def action_runs(self) -> None:
        if not isinstance(self.screen, RunPickerScreen):
            self.push_screen(RunPickerScreen(), self._picked)

    async def action_quit(self) -> None:
        if self.run_id and self.engine_state() != "none" and self.state.status not in FINAL:
            self.push_screen(QuitModal(self.run_id, self.state.status), self._quit_choice)
        else:
            self.exit(0)

    def _quit_choice(self, choice: str | None) -> None:
        if choice == "leave":
            self.exit(0)
        elif choice == "stop":
            self.command("stop", {}, done=lambda _outcome: self.exit(0))
