"""A database phaseboard cannot use is refused with one clear line and left untouched."""

from __future__ import annotations

import asyncio
import hashlib
import os
import sqlite3
from pathlib import Path

import pytest

from engine.store.database import Store, StoreError
from tests.helpers import run_cli


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


async def test_newer_schema_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    before = digest(db)
    with pytest.raises(StoreError, match="newer than this phaseboard"):
        await Store.open(db)
    assert digest(db) == before


async def test_corrupt_file_is_refused_and_kept(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    db.write_bytes(os.urandom(8192))
    before = digest(db)
    with pytest.raises(StoreError, match="corrupt or not a phaseboard database"):
        await Store.open(db)
    assert digest(db) == before


async def test_unreadable_file_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "p.db"
    store = await Store.open(db)
    await store.close()
    db.chmod(0)
    try:
        if os.access(db, os.R_OK):  # root reads anything: nothing to test
            return
        with pytest.raises(StoreError, match="permission denied"):
            await Store.open(db)
    finally:
        db.chmod(0o600)


async def test_new_database_is_private_and_versioned(tmp_path: Path) -> None:
    db = tmp_path / "sub" / "p.db"
    store = await Store.open(db)
    await store.close()
    assert db.stat().st_mode & 0o777 == 0o600
    assert db.parent.stat().st_mode & 0o777 == 0o700
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] >= 1
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_cli_reports_a_corrupt_database_in_one_line(tmp_path: Path) -> None:
    db = tmp_path / ".phaseboard" / "phaseboard.db"
    db.parent.mkdir()
    db.write_bytes(b"not a database at all" * 100)
    result = run_cli("runs", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "corrupt" in result.stderr
    assert "Traceback" not in result.stderr


async def test_processes_opening_a_new_database_at_once_migrate_it_once(tmp_path: Path) -> None:
    """Each migration re-reads the schema version under the write lock: a step that cannot run
    twice (ALTER TABLE ADD COLUMN) is not run again by a store that waited for the lock."""
    for i in range(5):
        db = tmp_path / f"new{i}.db"
        opened = await asyncio.gather(*(Store.open(db) for _ in range(4)), return_exceptions=True)
        for store in opened:
            assert isinstance(store, Store), store
            await store.close()
