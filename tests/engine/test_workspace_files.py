"""The workspace walk against real directories: order, and directories that change under it."""

from __future__ import annotations

import os
from pathlib import Path

from engine.snapshots.workspace_files import read_ignore_from_disk, walk_workspace


def write(root: Path, rel: str, data: str = "x") -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data)


def test_the_walk_is_in_path_order_with_directories_after_same_prefix_files(
    tmp_path: Path,
) -> None:
    for rel in ["a/b", "a.txt", "a-b/c", "ab", "a/a/z", "B", "a0"]:
        write(tmp_path, rel)
    paths = [entry.path for entry in walk_workspace(tmp_path)]
    assert paths == sorted(paths)
    assert paths == ["B", "a-b/c", "a.txt", "a/a/z", "a/b", "a0", "ab"]


def test_a_directory_swapped_for_a_symlink_during_the_walk_is_not_followed(
    tmp_path: Path,
) -> None:
    ws, outside = tmp_path / "ws", tmp_path / "outside"
    write(ws, "a/one.txt")
    write(ws, "b/two.txt")
    write(outside, "secret.txt")
    disk = read_ignore_from_disk(ws)

    def read_ignore(rel: str) -> bytes | None:
        if rel == "a/.gitignore":  # "b" was listed as a directory already; now it becomes a link
            os.rename(ws / "b", tmp_path / "b-moved")
            os.symlink(outside, ws / "b")
        return disk(rel)

    unreadable: list[str] = []
    paths = [entry.path for entry in walk_workspace(ws, read_ignore, unreadable)]
    assert paths == ["a/one.txt"]
    assert unreadable == ["b/"]


def test_a_directory_removed_during_the_walk_is_reported_not_raised(tmp_path: Path) -> None:
    write(tmp_path, "a/one.txt")
    write(tmp_path, "b/two.txt")
    disk = read_ignore_from_disk(tmp_path)

    def read_ignore(rel: str) -> bytes | None:
        if rel == "a/.gitignore":
            (tmp_path / "b" / "two.txt").unlink()
            (tmp_path / "b").rmdir()
        return disk(rel)

    unreadable: list[str] = []
    assert [e.path for e in walk_workspace(tmp_path, read_ignore, unreadable)] == ["a/one.txt"]
    assert unreadable == ["b/"]
