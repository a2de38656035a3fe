"""Where a workspace's database is, and which one a command uses: light to import, for the
commands that must answer fast (``phaseboard logs``)."""

from __future__ import annotations

import os
from pathlib import Path

DB_DIR = ".phaseboard"
DB_NAME = "phaseboard.db"


def default_db(workspace: Path) -> Path:
    return workspace / DB_DIR / DB_NAME


def find_db(explicit: str | None, start: Path | None = None) -> Path | None:
    """``--db``, else ``$PHASEBOARD_DB``, else the nearest ``.phaseboard/phaseboard.db`` upwards."""
    if explicit:
        return Path(explicit).expanduser().resolve()
    env = os.environ.get("PHASEBOARD_DB")
    if env:
        return Path(env).expanduser().resolve()
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        candidate = folder / DB_DIR / DB_NAME
        if candidate.is_file():
            return candidate
    return None
