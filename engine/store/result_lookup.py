"""Finding an earlier attempt whose result a ``cache: true`` agent may reuse
(:mod:`engine.run.result_cache` makes the key): read from the event log, through an index on the
key of ``attempt_finished`` events (schema version 3), so a database of many runs answers at once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from engine.store.core import StoreCore

_CANDIDATES = 20
"""Attempts with the key looked at, newest first: the first that ran (not a cached one) wins."""
_RESULT_WINDOW = 50
"""Events after an attempt's end searched for its agent's result (it is the very next one)."""


@dataclass(frozen=True)
class CachedAttempt:
    """An earlier successful attempt that ran, its result, and what it spent."""

    run_id: str
    stage: str
    agent: str
    attempt: int
    result: Any
    tokens: int
    cost_usd: float

    @property
    def source(self) -> str:
        """``RUN/STAGE.AGENT#N``, as the pane, ``status`` and the event log name it."""
        return f"{self.run_id}/{self.stage}.{self.agent}#{self.attempt}"


class ResultLookupTables(StoreCore):
    async def manifest_digest(self, manifest_id: int) -> str | None:
        """The content digest of a snapshot's manifest (files, modes and skipped paths)."""
        value = await self._scalar("SELECT digest FROM manifests WHERE id = ?", (manifest_id,))
        return None if value is None else str(value)

    async def cached_attempt(self, key: str) -> CachedAttempt | None:
        """The newest successful attempt that ran with ``key`` and whose result was kept."""
        async with self._conn.execute(
            "SELECT run_id, seq, data FROM events WHERE kind = 'attempt_finished' "
            "AND json_extract(data, '$.cache_key') = ? ORDER BY ts DESC, seq DESC LIMIT ?",
            (key, _CANDIDATES),
        ) as cur:
            rows = await cur.fetchall()
        for run_id, seq, text in rows:
            data = json.loads(text)
            if data.get("status") != "succeeded" or data.get("cached_from"):
                continue
            result = await self._result_after(run_id, seq, data["stage"], data["agent"])
            if result is not None:
                return CachedAttempt(
                    run_id,
                    data["stage"],
                    data["agent"],
                    int(data["attempt"]),
                    result[0],
                    int(data.get("tokens") or 0),
                    float(data.get("cost_usd") or 0.0),
                )
        return None

    async def _result_after(
        self, run_id: str, seq: int, stage: str, agent: str
    ) -> tuple[Any] | None:
        """The result the agent finished with right after attempt ``seq`` (in a 1-tuple, as a
        result may be ``null``), or None when it did not finish ``succeeded`` with it."""
        async with self._conn.execute(
            "SELECT data FROM events WHERE run_id = ? AND seq > ? AND kind = 'agent_finished' "
            "ORDER BY seq LIMIT ?",
            (run_id, seq, _RESULT_WINDOW),
        ) as cur:
            rows = await cur.fetchall()
        for (text,) in rows:
            data = json.loads(text)
            if data.get("stage") == stage and data.get("agent") == agent:
                return (data.get("result"),) if data.get("status") == "succeeded" else None
        return None
