"""The newest event of one kind in a run, read on a plain ``sqlite3`` connection: for the readers
that look at a database from outside the store (``phaseboard wait``, ``phaseboard logs``)."""

from __future__ import annotations

import sqlite3


def newest_event_seq(conn: sqlite3.Connection, run_id: str, kind: str) -> int:
    """The sequence number of the run's newest event of ``kind`` (0 for none), through the index
    of the events that are not agent messages: a long run's million messages are not read."""
    row = conn.execute(
        "SELECT MAX(seq) FROM events INDEXED BY events_not_messages WHERE run_id = ? "
        "AND kind != 'agent_message' AND kind = ?",  # the index's own term: it is used
        (run_id, kind),
    ).fetchone()
    return int(row[0] or 0)
