"""Git's ignore rules as a snapshot applies them: one layer per ``.gitignore`` (and the root's
``.git/info/exclude``), each for the paths under its directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where a workspace is walked: `status` and `logs` start faster
    import pathspec


@dataclass(frozen=True, slots=True)
class IgnoreLayer:
    """The rules of one ignore file, which apply to paths under ``base``.

    ``GitIgnoreSpec`` answers for files. A directory is asked about by its path without the trailing
    slash against the same patterns with their trailing slash dropped (git matches a directory
    against ``build/`` as it matches a file against ``build``); asking with ``"dir/"`` instead gets
    ``*`` + ``!*/`` and ``dir/**`` wrong.
    """

    base: str
    files: pathspec.GitIgnoreSpec
    dirs: pathspec.GitIgnoreSpec

    @classmethod
    def parse(cls, base: str, data: bytes | None) -> IgnoreLayer | None:
        if not data:
            return None
        lines = [
            _fix_double_star_dir(line)
            for line in data.decode("utf-8", "surrogateescape").splitlines()
        ]
        dir_lines = [_without_trailing_slash(line) for line in lines]
        return cls(base, _spec(lines), _spec(dir_lines))


def _fix_double_star_dir(line: str) -> str:
    """pathspec reads ``dir/**/`` as ``dir/``; git means the directories under it: ``dir/**/*/``."""
    trimmed = line.rstrip(" ")
    head = trimmed.removesuffix("/**/")
    return head + "/**/*/" if head != trimmed and head not in ("", "!") else line


def _without_trailing_slash(line: str) -> str:
    trimmed = line.rstrip(" ")
    return trimmed[:-1] if trimmed.endswith("/") and not trimmed.endswith("\\/") else line


def _spec(lines: list[str]) -> pathspec.GitIgnoreSpec:
    import pathspec

    try:
        return pathspec.GitIgnoreSpec.from_lines(lines)
    except ValueError:
        # Git skips a malformed pattern and keeps the rest; so do we.
        return pathspec.GitIgnoreSpec.from_lines(line for line in lines if _valid_pattern(line))


def _valid_pattern(line: str) -> bool:
    import pathspec

    try:
        pathspec.GitIgnoreSpec.from_lines([line])
    except ValueError:
        return False
    return True


def is_ignored(layers: list[IgnoreLayer], rel: str, is_dir: bool) -> bool:
    """The deepest ignore file with a matching pattern decides, as in git."""
    for layer in reversed(layers):
        local = rel[len(layer.base) :]
        if is_dir:
            verdict = layer.dirs.check_file(local[:-1]).include
        else:
            verdict = layer.files.check_file(local).include
        if verdict is not None:
            return verdict
    return False


def info_exclude(root: Path) -> IgnoreLayer | None:
    git = root / ".git"
    git_dir: Path | None = git if git.is_dir() else None
    if git_dir is None and git.is_file():
        # A worktree or submodule: ".git" is a file naming the real git dir.
        text = git.read_text("utf-8", "replace").strip()
        if text.startswith("gitdir:"):
            git_dir = root / text.removeprefix("gitdir:").strip()
            common = git_dir / "commondir"
            if common.is_file():
                git_dir = git_dir / common.read_text("utf-8", "replace").strip()
    if git_dir is None:
        return None
    try:
        return IgnoreLayer.parse("", (git_dir / "info" / "exclude").read_bytes())
    except OSError:
        return None
