"""One agent's stored log read straight from the database file, for ``phaseboard logs``.

The store (:class:`engine.store.database.Store`) opens the database for writing, migrates it,
and runs on an event loop; ``phaseboard logs`` only reads, and on a log of a million lines its
own start-up was most of its time. This reader needs nothing but ``sqlite3``: it opens the file
read-only, and answers only when it can alone (a database of this schema, a run it can name
that was never rolled back, an agent that printed something): every attempt that printed is then
one the run's state knows, so it prints what the full command prints. Anything else it leaves to the full command, which says
what is wrong.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

from engine.store.event_lookup import newest_event_seq
from engine.store.log_chunks import printed

READS_SCHEMA = 6
"""The schema version whose log tables this reader knows (the store's ``SCHEMA_VERSION``)."""


class LogReader:
    def __init__(self, db: Path) -> None:
        self._conn = sqlite3.connect(f"file:{quote(str(db))}?mode=ro", uri=True)

    def close(self) -> None:
        self._conn.close()

    def known_schema(self) -> bool:
        return int(self._conn.execute("PRAGMA user_version").fetchone()[0]) == READS_SCHEMA

    def run_id(self, ref: str) -> str | None:
        """The run ``ref`` names (an id, a unique prefix of one, or ``last``), as
        :func:`engine.run.runs.resolve_run_id` finds it; None when it names none or several."""
        if ref == "last":
            row = self._conn.execute(
                "SELECT id FROM runs ORDER BY created_at DESC, id DESC LIMIT 1"
            ).fetchone()
            return None if row is None else str(row[0])
        if self._conn.execute("SELECT 1 FROM runs WHERE id = ?", (ref,)).fetchone():
            return ref
        rows = self._conn.execute(
            "SELECT id FROM runs WHERE substr(id, 1, ?) = ? LIMIT 2", (len(ref), ref)
        ).fetchall()
        return str(rows[0][0]) if len(rows) == 1 else None

    def rolled_back(self, run_id: str) -> bool:
        """Whether the run was ever rolled back: its state then forgets attempts whose lines
        stay in the store, and only the full command knows which to show."""
        return newest_event_seq(self._conn, run_id, "rolled_back") > 0

    def attempts(self, run_id: str, stage: str, agent: str, attempt: int | None) -> list[int]:
        """The log sources of the agent's attempts that printed something, in attempt order."""
        sql = "SELECT id FROM log_sources WHERE run_id = ? AND stage = ? AND agent = ?"
        params: list[object] = [run_id, stage, agent]
        if attempt is not None:
            sql += " AND attempt = ?"
            params.append(attempt)
        rows = self._conn.execute(sql + " ORDER BY attempt", params).fetchall()
        return [int(r[0]) for r in rows]

    def printed(
        self, sources: list[int], *, clean: bool, encoding: str = "utf-8", errors: str = "strict"
    ) -> Iterator[bytes]:
        """The sources' lines as printed, a chunk at a time, encoded. The text comes from SQLite
        as bytes: a plain chunk is written as stored, never decoded and encoded again (a third
        of the time of printing a million lines)."""
        for source in sources:
            rows = self._conn.execute(
                "SELECT CAST(text AS BLOB), lines, marks, plain FROM log_chunks WHERE source = ? "
                "ORDER BY first_line",
                (source,),
            )
            for data, count, marks, plain in rows:
                if marks is None and (plain or not clean) and encoding == "utf-8":
                    yield data + b"\n"
                    continue
                text = printed(data.decode(), count, marks, bool(plain), clean=clean)
                yield text.encode(encoding, errors)
