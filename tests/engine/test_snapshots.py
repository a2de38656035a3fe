"""Workspace snapshots against real files and a real WAL-mode SQLite file."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import sqlite3
import stat
import subprocess
import time
from pathlib import Path

import pytest

from engine.snapshots import take as snapshots
from engine.snapshots.take import (
    SnapshotError,
    delete_unreferenced,
    diff_against,
    ensure_schema,
    manifest_files,
    restore_snapshot,
    take_snapshot,
)
from engine.snapshots.workspace_files import walk_workspace
from tests.helpers import before_reads

AGED = time.time() - 3600


def write(root: Path, rel: str, data: bytes | str, mode: int | None = None) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    if mode is not None:
        path.chmod(mode)
    return path


def age(root: Path) -> None:
    """Make every file look written an hour ago, as a real workspace's files mostly are."""
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + dirnames:
            os.utime(Path(dirpath, name), (AGED, AGED), follow_symlinks=False)


def tree(root: Path) -> dict[str, tuple[str, int | str]]:
    """Everything under root, ignored or not: file -> (sha256, permission bits), link -> target."""
    found: dict[str, tuple[str, int | str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + [d for d in dirnames if Path(dirpath, d).is_symlink()]:
            path = Path(dirpath, name)
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                found[rel] = ("link", os.readlink(path))
            else:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                found[rel] = (digest, stat.S_IMODE(path.lstat().st_mode))
    return found


def count(conn: sqlite3.Connection, table: str) -> int:
    return conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def build_project(root: Path) -> None:
    write(root, ".gitignore", "build/\n*.log\n!keep.log\n")
    write(root, "README.md", "# project\n")
    write(root, "run.sh", "#!/bin/sh\necho hi\n", 0o755)
    write(root, "src/app.py", "print('app')\n" * 50)
    write(root, "src/pkg/mod.py", "X = 1\n")
    write(root, "deep/a/b/c.txt", "deep\n")
    write(root, "data.bin", bytes(range(256)) * 40 + os.urandom(4096))
    write(root, "empty.txt", b"")
    write(root, "keep.log", "kept despite *.log\n")
    write(root, "app.log", "ignored\n")
    write(root, "build/out.o", b"\x7fELF")
    write(root, "sub/.gitignore", "*.tmp\n")
    write(root, "sub/notes.txt", "notes\n")
    write(root, "sub/scratch.tmp", "ignored by the nested .gitignore\n")
    write(root, ".git/HEAD", "ref: refs/heads/main\n")
    write(root, ".phaseboard/runs/r1/state.json", "{}\n")
    os.symlink("src/app.py", root / "link-to-app")
    os.symlink("src", root / "link-to-dir")
    os.symlink("nowhere", root / "dangling")


UNTOUCHABLE = ("build/", "app.log", "sub/scratch.tmp", ".git/", ".phaseboard/", "new.log")


def untouchable(rel: str) -> bool:
    return rel.startswith(UNTOUCHABLE)


def test_restore_makes_the_tree_byte_identical(conn: sqlite3.Connection, ws: Path) -> None:
    build_project(ws)
    age(ws)
    before = tree(ws)
    info = take_snapshot(conn, ws)
    assert set(manifest_files(conn, info.manifest_id)) == {p for p in before if not untouchable(p)}

    write(ws, "src/app.py", "print('changed')\n")
    (ws / "run.sh").chmod(0o644)
    (ws / "README.md").unlink()
    (ws / "deep/a/b/c.txt").unlink()
    write(ws, "new/dir/file.txt", "added\n")
    write(ws, "src/extra.py", "added\n")
    (ws / "link-to-app").unlink()
    os.symlink("README.md", ws / "link-to-app")
    write(ws, "keep.log", "tracked, so restored\n")
    write(ws, "build/out.o", b"rebuilt, ignored")
    write(ws, "new.log", "new and ignored\n")
    write(ws, "sub/scratch.tmp", "changed, ignored\n")
    write(ws, ".git/HEAD", "ref: refs/heads/other\n")
    write(ws, ".phaseboard/runs/r1/more.json", "{}\n")
    after_agents = tree(ws)

    expected_diff = snapshots.WorkspaceDiff(
        added=["new/dir/file.txt", "src/extra.py"],
        modified=["keep.log", "link-to-app", "run.sh", "src/app.py"],
        deleted=["README.md", "deep/a/b/c.txt"],
    )
    assert diff_against(conn, ws, info.manifest_id) == expected_diff
    assert restore_snapshot(conn, ws, info.manifest_id) == expected_diff

    restored = tree(ws)
    expected = {p: v for p, v in before.items() if not untouchable(p)}
    expected |= {p: v for p, v in after_agents.items() if untouchable(p)}
    assert restored == expected
    assert not (ws / "new").exists()
    assert (ws / "deep/a/b").is_dir()
    assert diff_against(conn, ws, info.manifest_id) == snapshots.WorkspaceDiff([], [], [])


def test_snapshot_lists_what_git_would_track(conn: sqlite3.Connection, ws: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    subprocess.run(["git", "init", "-q", str(ws)], check=True)
    write(ws, ".git/info/exclude", "secret.env\n")
    write(ws, ".gitignore", "*.log\n!keep.log\nbuild/\n/top-only\nvendor/**\n!vendor/keep\n")
    write(ws, "a/.gitignore", "*.tmp\n!important.tmp\n/anchored\n")
    write(ws, "a/b/.gitignore", "!*.log\nnested/\n")
    write(ws, "only-py/.gitignore", "*\n!*/\n!*.py\n")
    for rel in [
        "x.log",
        "keep.log",
        "secret.env",
        "top-only",
        "a/top-only",
        "build/o",
        "a/build/o",
        "vendor/x",
        "vendor/keep",
        "a/x.tmp",
        "a/important.tmp",
        "a/anchored",
        "a/b/anchored",
        "a/b/x.log",
        "a/b/nested/f",
        "a/b/x.tmp",
        "only-py/m.py",
        "only-py/d/n.py",
        "only-py/d/n.txt",
        "plain.txt",
    ]:
        write(ws, rel, rel)
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    listed = subprocess.run(
        ["git", "-c", f"core.excludesFile={os.devnull}", "ls-files", "-o", "--exclude-standard"],
        cwd=ws,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    walked = [entry.path for entry in walk_workspace(ws)]
    assert walked == sorted(listed)
    assert set(manifest_files(conn, take_snapshot(conn, ws).manifest_id)) == set(listed)


def test_walk_lists_symlinks_without_following_them(ws: Path) -> None:
    write(ws, "dir/f.txt", "f")
    os.symlink("dir", ws / "dir-link")
    os.symlink("missing", ws / "dangling")
    os.mkfifo(ws / "fifo")
    entries = {entry.path: entry for entry in walk_workspace(ws)}
    assert list(entries) == ["dangling", "dir-link", "dir/f.txt"]
    assert entries["dir-link"].is_symlink and stat.S_ISLNK(entries["dir-link"].mode)
    assert entries["dir-link"].size == len("dir")
    assert not entries["dir/f.txt"].is_symlink


def test_unchanged_snapshot_hashes_nothing_and_reuses_the_manifest(
    conn: sqlite3.Connection, ws: Path
) -> None:
    build_project(ws)
    age(ws)
    first = take_snapshot(conn, ws)
    assert first.hashed_files == first.files > 0
    assert not first.reused
    second = take_snapshot(conn, ws)
    assert (second.hashed_files, second.new_blobs, second.new_bytes) == (0, 0, 0)
    assert second.manifest_id == first.manifest_id and second.reused
    assert count(conn, "manifests") == 1


def test_one_changed_file_is_the_only_one_hashed(conn: sqlite3.Connection, ws: Path) -> None:
    build_project(ws)
    age(ws)
    first = take_snapshot(conn, ws)
    write(ws, "src/pkg/mod.py", "X = 2\n")
    second = take_snapshot(conn, ws)
    assert (second.hashed_files, second.new_blobs) == (1, 1)
    assert second.manifest_id != first.manifest_id
    changed = {
        path
        for path, sha in manifest_files(conn, second.manifest_id).items()
        if manifest_files(conn, first.manifest_id)[path] != sha
    }
    assert changed == {"src/pkg/mod.py"}


def test_a_same_size_rewrite_within_the_timestamp_granule_is_not_missed(
    conn: sqlite3.Connection, ws: Path
) -> None:
    path = write(ws, "f.txt", "aaaa")
    first = take_snapshot(conn, ws)
    st = path.stat()
    with path.open("r+b") as f:  # same inode, same size ...
        f.write(b"bbbb")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))  # ... and a coarse clock's same mtime
    second = take_snapshot(conn, ws)
    assert second.hashed_files == 1
    assert manifest_files(conn, second.manifest_id) != manifest_files(conn, first.manifest_id)


def test_identical_contents_are_stored_once(conn: sqlite3.Connection, ws: Path) -> None:
    write(ws, "one.txt", "same text\n" * 100)
    write(ws, "two/copy.txt", "same text\n" * 100)
    write(ws, "random.bin", os.urandom(10_000))
    info = take_snapshot(conn, ws)
    assert (info.files, info.new_blobs) == (3, 2)
    rows = dict(conn.execute("SELECT size, compression FROM blobs"))
    assert rows == {1000: "zstd", 10_000: "none"}
    assert info.new_bytes < 1000 + 10_000


def test_empty_workspace_and_empty_files(conn: sqlite3.Connection, ws: Path) -> None:
    empty = take_snapshot(conn, ws)
    assert (empty.files, empty.bytes) == (0, 0)
    write(ws, "a/empty", b"")
    info = take_snapshot(conn, ws)
    (ws / "a/empty").unlink()
    assert restore_snapshot(conn, ws, info.manifest_id).deleted == ["a/empty"]
    assert (ws / "a/empty").read_bytes() == b""
    assert restore_snapshot(conn, ws, empty.manifest_id).added == ["a/empty"]
    assert list(ws.iterdir()) == []


def test_types_swapped_between_file_directory_and_symlink(
    conn: sqlite3.Connection, ws: Path
) -> None:
    write(ws, "was-file", "file\n")
    write(ws, "was-dir/inner.txt", "inner\n")
    write(ws, "target.txt", "t\n")
    os.symlink("target.txt", ws / "was-link")
    before = tree(ws)
    info = take_snapshot(conn, ws)

    (ws / "was-file").unlink()
    write(ws, "was-file/nested/x.txt", "now a directory\n")
    shutil.rmtree(ws / "was-dir")
    write(ws, "was-dir", "now a file\n")
    (ws / "was-link").unlink()
    write(ws, "was-link", "now a regular file\n")

    diff = restore_snapshot(conn, ws, info.manifest_id)
    assert diff.added == ["was-dir", "was-file/nested/x.txt"]
    assert diff.modified == ["was-link"]
    assert diff.deleted == ["was-dir/inner.txt", "was-file"]
    assert tree(ws) == before


def test_restore_refuses_before_changing_anything_when_ignored_files_block_it(
    conn: sqlite3.Connection, ws: Path
) -> None:
    write(ws, ".gitignore", "*.log\n")
    write(ws, "cache", "a file in the snapshot\n")
    write(ws, "other.txt", "original\n")
    info = take_snapshot(conn, ws)
    (ws / "cache").unlink()
    write(ws, "cache/run.log", "ignored, so the restore may not delete it\n")
    write(ws, "other.txt", "changed\n")
    with pytest.raises(SnapshotError, match="cannot restore cache"):
        restore_snapshot(conn, ws, info.manifest_id)
    assert (ws / "other.txt").read_text() == "changed\n"
    assert (ws / "cache/run.log").exists()


def test_restore_judges_ignored_files_by_the_snapshots_gitignore(
    conn: sqlite3.Connection, ws: Path
) -> None:
    write(ws, ".gitignore", "*.log\n")
    write(ws, "debug.log", "ignored when the snapshot was taken\n")
    write(ws, ".venv/.gitignore", "*\n")  # a tool's self-ignoring directory
    write(ws, ".venv/lib/site.py", "installed\n")
    write(ws, "main.py", "main\n")
    info = take_snapshot(conn, ws)
    assert set(manifest_files(conn, info.manifest_id)) == {".gitignore", "main.py"}

    write(ws, ".gitignore", "")  # the agent stops ignoring logs ...
    write(ws, "gen/.gitignore", "*.o\n")  # ... and adds a directory that ignores its objects
    write(ws, "gen/a.c", "int a;\n")
    write(ws, "gen/a.o", b"\x00obj")

    diff = diff_against(conn, ws, info.manifest_id)
    assert diff.added == ["gen/.gitignore", "gen/a.c", "gen/a.o"]
    assert diff.modified == [".gitignore"]
    assert restore_snapshot(conn, ws, info.manifest_id) == diff
    assert (ws / "debug.log").exists()
    assert (ws / ".venv/lib/site.py").exists()
    assert not (ws / "gen").exists()


def test_unreadable_files_are_skipped_and_left_alone_by_restore(
    conn: sqlite3.Connection, ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(ws, "ok.txt", "ok\n")
    write(ws, "locked.txt", "cannot be read\n")

    def fail(path: Path) -> None:
        if path.name == "locked.txt":
            raise PermissionError(errno.EACCES, "Permission denied", str(path))

    before_reads(monkeypatch, fail)
    info = take_snapshot(conn, ws)
    monkeypatch.undo()
    assert info.skipped == ["locked.txt"]
    assert set(manifest_files(conn, info.manifest_id)) == {"ok.txt"}
    assert restore_snapshot(conn, ws, info.manifest_id).added == []
    assert (ws / "locked.txt").exists()


def test_a_failure_mid_snapshot_leaves_nothing_behind(
    conn: sqlite3.Connection, ws: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(ws, "a.txt", "kept from the first snapshot\n")
    take_snapshot(conn, ws)
    before = {t: count(conn, t) for t in ("manifests", "manifest_files", "blobs", "stat_cache")}
    write(ws, "b.txt", "new content, stored before the failure\n")
    write(ws, "c.txt", "the read of this one fails\n")

    def fail(path: Path) -> None:
        if path.name == "c.txt":
            raise OSError(errno.EIO, "Input/output error", str(path))

    before_reads(monkeypatch, fail)
    with pytest.raises(SnapshotError, match=r"cannot read c\.txt"):
        take_snapshot(conn, ws)
    assert not conn.in_transaction
    assert {t: count(conn, t) for t in before} == before


def test_delete_unreferenced_keeps_blobs_still_in_use(conn: sqlite3.Connection, ws: Path) -> None:
    write(ws, "shared.txt", "in both\n")
    write(ws, "changes.txt", "version 1\n")
    old = take_snapshot(conn, ws)
    write(ws, "changes.txt", "version 2!\n")
    new = take_snapshot(conn, ws)
    assert count(conn, "blobs") == 3

    assert delete_unreferenced(conn, [new.manifest_id]) == (1, 1)
    assert count(conn, "blobs") == 2
    stale = conn.execute(
        "SELECT COUNT(*) FROM stat_cache WHERE sha256 NOT IN (SELECT sha256 FROM blobs)"
    ).fetchone()[0]
    assert stale == 0
    with pytest.raises(SnapshotError, match="does not exist"):
        restore_snapshot(conn, ws, old.manifest_id)
    write(ws, "shared.txt", "clobbered\n")
    assert restore_snapshot(conn, ws, new.manifest_id).modified == ["shared.txt"]
    assert (ws / "shared.txt").read_text() == "in both\n"
    assert delete_unreferenced(conn, [new.manifest_id]) == (0, 0)


def test_a_snapshot_equal_to_an_older_one_reuses_it(conn: sqlite3.Connection, ws: Path) -> None:
    write(ws, "f.txt", "one\n")
    first = take_snapshot(conn, ws)
    write(ws, "f.txt", "two\n")
    take_snapshot(conn, ws)
    restore_snapshot(conn, ws, first.manifest_id)
    again = take_snapshot(conn, ws)
    assert again.reused and again.manifest_id == first.manifest_id


def test_restore_refuses_a_manifest_with_an_unsafe_path(conn: sqlite3.Connection, ws: Path) -> None:
    write(ws, "f.txt", "x")
    info = take_snapshot(conn, ws)
    conn.execute(
        "UPDATE manifest_files SET path = '../escape' WHERE manifest_id = ?", (info.manifest_id,)
    )
    with pytest.raises(SnapshotError, match="unsafe path"):
        restore_snapshot(conn, ws, info.manifest_id)
    assert not (ws.parent / "escape").exists()


def test_works_on_a_connection_with_implicit_transactions(tmp_path: Path, ws: Path) -> None:
    db = sqlite3.connect(tmp_path / "deferred.db")
    ensure_schema(db)
    write(ws, "f.txt", "x")
    info = take_snapshot(db, ws)
    (ws / "f.txt").unlink()
    assert restore_snapshot(db, ws, info.manifest_id).deleted == ["f.txt"]
    assert delete_unreferenced(db, []) == (1, 1)
    db.close()


def test_restore_never_writes_through_a_symlinked_directory(
    conn: sqlite3.Connection, ws: Path, tmp_path: Path
) -> None:
    write(ws, "conf/settings.ini", "a=1\n")
    info = take_snapshot(conn, ws)
    outside = write(tmp_path, "outside/settings.ini", "a=1\n")
    shutil.rmtree(ws / "conf")
    os.symlink(outside.parent, ws / "conf")

    diff = diff_against(conn, ws, info.manifest_id)
    assert (diff.added, diff.deleted) == (["conf"], ["conf/settings.ini"])
    restore_snapshot(conn, ws, info.manifest_id)
    assert not (ws / "conf").is_symlink()
    assert (ws / "conf/settings.ini").read_text() == "a=1\n"
    assert outside.read_text() == "a=1\n" and outside.parent.is_dir()


def test_info_exclude_of_a_worktree_is_found_through_its_gitdir_file(
    ws: Path, tmp_path: Path
) -> None:
    write(tmp_path, "repo.git/worktrees/ws/commondir", "../..\n")
    write(tmp_path, "repo.git/info/exclude", "*.secret\n")
    write(ws, ".git", f"gitdir: {tmp_path / 'repo.git/worktrees/ws'}\n")
    write(ws, "token.secret", "s")
    write(ws, "code.py", "c")
    assert [entry.path for entry in walk_workspace(ws)] == ["code.py"]


def test_a_database_kept_inside_the_workspace_is_never_captured_or_touched(ws: Path) -> None:
    db = sqlite3.connect(ws / "state.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    ensure_schema(db)
    write(ws, "f.txt", "x")
    info = take_snapshot(db, ws)
    assert set(manifest_files(db, info.manifest_id)) == {"f.txt"}
    write(ws, "g.txt", "y")
    assert restore_snapshot(db, ws, info.manifest_id).added == ["g.txt"]
    assert (ws / "state.db").exists() and (ws / "state.db-wal").exists()
    db.close()
