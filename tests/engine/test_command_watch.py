"""CommandWatch: a new command row is noticed, other commits and repeated looks are not."""

from __future__ import annotations

from pathlib import Path

from engine.run.command_watch import CommandWatch
from engine.state.events import RunStatusChanged
from engine.store.database import Store


async def test_only_new_command_rows_count(tmp_path: Path) -> None:
    db = tmp_path / "pb.db"
    async with await Store.open(db) as store:
        await store.create_run("r1", "wf", str(tmp_path), str(tmp_path / "run"))
        watch = CommandWatch(db, "r1")
        try:
            assert watch.new_commands() is True  # the first look always looks
            assert watch.new_commands() is False
            await store.add_command("r1", "stop", {}, "op")
            assert watch.new_commands() is True
            assert watch.new_commands() is False  # the same row again
            await store.append("r1", [RunStatusChanged(status="running")])
            assert watch.new_commands() is False  # a commit, but no command
            await store.add_command("r2", "stop", {}, "op")
            assert watch.new_commands() is False  # another run's command
            await store.add_command("r1", "pause", {}, "op")
            assert watch.new_commands() is True
        finally:
            watch.close()


def test_a_database_it_cannot_read_means_look(tmp_path: Path) -> None:
    watch = CommandWatch(tmp_path / "missing.db", "r1")
    assert watch.new_commands() is True
    watch.close()
