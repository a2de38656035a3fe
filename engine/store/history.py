"""Durations of earlier runs of a workflow, read from the event log: what the estimate of a run's
completion is made from (see :mod:`engine.reports.forecast`)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine.store.core import StoreCore

HISTORY_RUNS = 20
"""Completed runs looked at, newest first: enough for a median, few enough to read at once."""


@dataclass
class RunDurations:
    """How long each stage and each agent's successful attempt of one earlier run took."""

    run_id: str
    stages: dict[str, float] = field(default_factory=dict)
    agents: dict[str, float] = field(default_factory=dict)
    """``STAGE.AGENT`` -> seconds of its last successful attempt."""


class HistoryTables(StoreCore):
    async def run_durations(
        self, workflow: str, exclude: str, runs: int = HISTORY_RUNS
    ) -> list[RunDurations]:
        """Stage and agent durations of the newest completed runs of ``workflow`` (by name),
        ``exclude`` left out. A stage's duration runs from its last start to its last successful
        finish, so time a checkpoint spent waiting for the operator is not counted."""
        async with self._conn.execute(
            "SELECT id FROM runs WHERE workflow = ? AND id != ? AND status = 'completed' "
            "ORDER BY created_at DESC LIMIT ?",
            (workflow, exclude, runs),
        ) as cur:
            ids = [row[0] for row in await cur.fetchall()]
        found = []
        for run_id in ids:
            async with self._conn.execute(
                "SELECT ts, kind, data FROM events WHERE run_id = ? AND kind IN "
                "('stage_started', 'stage_finished', 'attempt_finished') ORDER BY seq",
                (run_id,),
            ) as cur:
                rows = await cur.fetchall()
            found.append(_durations(run_id, rows))
        return found


def _durations(run_id: str, rows: Iterable[Sequence[Any]]) -> RunDurations:
    out = RunDurations(run_id)
    started: dict[str, float] = {}
    for ts, kind, text in rows:
        data = json.loads(text)
        stage = str(data.get("stage"))
        if kind == "stage_started":
            started[stage] = ts
        elif kind == "stage_finished" and data.get("status") == "succeeded" and stage in started:
            out.stages[stage] = round(ts - started[stage], 3)
        elif kind == "attempt_finished" and data.get("status") == "succeeded":
            out.agents[f"{stage}.{data.get('agent')}"] = float(data.get("duration_s") or 0.0)
    return out
