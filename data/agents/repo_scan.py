"""What the bundled standard agents share: walking a repository, reading it, bounded commands.

Standard library only, like every bundled agent. A :class:`Repo` lists the files once (skipping
tool and build folders and what the top-level ``.gitignore`` names) and caches what it reads, so
each agent stays a short script about its own question. What the manifests declare (runtimes,
dependencies, CI) is read by :mod:`manifests`; running the project's code, by :mod:`project_exec`.
"""

from __future__ import annotations

import argparse
import ast
import fnmatch
import os
import time
import tomllib
from functools import cached_property
from pathlib import Path
from typing import Any

import agentlib

SKIP_DIRS = frozenset(
    {
        ".git", ".hg", ".svn", "node_modules", ".venv", "venv", "__pycache__", ".phaseboard",
        "build", "dist", ".tox", ".nox", ".mypy_cache", ".pytest_cache", ".ruff_cache", ".eggs",
        "site-packages", "target", ".idea", ".vscode", ".cache", "htmlcov",
    }
)  # fmt: skip
MAX_FILES = 20_000
MAX_TEXT_BYTES = 1_000_000
SOURCE_LANGUAGES = {
    ".py": "python", ".js": "javascript", ".mjs": "javascript", ".cjs": "javascript",
    ".jsx": "javascript", ".ts": "typescript", ".tsx": "typescript", ".go": "go", ".rs": "rust",
    ".java": "java", ".kt": "kotlin", ".rb": "ruby", ".php": "php", ".c": "c", ".h": "c",
    ".cc": "cpp", ".cpp": "cpp", ".hpp": "cpp", ".cs": "csharp", ".swift": "swift", ".sh": "shell",
}  # fmt: skip

FAULT_PARAM = "fail_first_attempt"
"""Demo fault switch: the workflow parameter naming agents that fail their first attempt on purpose.

``phaseboard demo`` sets it (``--set fail_first_attempt=code``) so the retry path is shown for real;
it is empty by default. The value is a comma-separated list of agent ids or ``STAGE.AGENT`` keys.
"""


# -- agent start -------------------------------------------------------------------------------


def start(
    title: str, parser: argparse.ArgumentParser | None = None
) -> tuple[Path, argparse.Namespace]:
    """Common start of an agent: parse argv, apply the demo fault switch, announce the workspace."""
    parser = parser or argparse.ArgumentParser(description=title)
    parser.add_argument("workspace", nargs="?", default="", help="directory to work on")
    args = parser.parse_args()
    root = Path(args.workspace or os.environ.get("PHASEBOARD_WORKSPACE") or ".").resolve()
    agentlib.progress(f"{title}: {root} (attempt {agentlib.attempt()})")
    demo_fault_switch(agentlib.load_inputs().get("params") or {})
    if not root.is_dir():
        agentlib.fail(f"workspace {root} is not a directory")
    return root, args


def demo_fault_switch(params: dict[str, Any]) -> None:
    """Fail the first attempt of the agents named by the ``fail_first_attempt`` parameter."""
    wanted = {
        name.strip() for name in str(params.get(FAULT_PARAM) or "").split(",") if name.strip()
    }
    me = agentlib.agent_id()
    keys = {me, f"{os.environ.get('PHASEBOARD_STAGE', '')}.{me}"}
    if wanted & keys and agentlib.attempt() == 1:
        agentlib.fail(f"demo: failing the first attempt on purpose (param {FAULT_PARAM})")


def depth_limit() -> int | None:
    """The directory depth of a reduced-scope retry (``reduced_scope: {depth: N}``), else None."""
    value = (agentlib.scope() or {}).get("depth")
    return int(value) if isinstance(value, int | float | str) and str(value).isdigit() else None


# -- the repository ----------------------------------------------------------------------------


class Repo:
    """The files of a workspace, listed once; text, TOML and Python syntax trees read on demand."""

    def __init__(self, root: Path, max_depth: int | None = None) -> None:
        self.root = root
        self.max_depth = max_depth
        self.truncated = False
        self._ignore = _gitignore_patterns(root / ".gitignore")
        self._text: dict[str, str | None] = {}
        self._trees: dict[str, ast.Module | None] = {}

    @cached_property
    def files(self) -> list[str]:
        """Relative POSIX paths of the files worth looking at, sorted."""
        found: list[str] = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            rel_dir = Path(dirpath).relative_to(self.root).as_posix()
            rel_dir = "" if rel_dir == "." else rel_dir
            depth = rel_dir.count("/") + 1 if rel_dir else 0
            dirnames[:] = sorted(
                d
                for d in dirnames
                if d not in SKIP_DIRS
                and not d.endswith(".egg-info")
                and not os.path.exists(os.path.join(dirpath, d, "pyvenv.cfg"))
                and not self.ignored(_join(rel_dir, d), is_dir=True)
                and (self.max_depth is None or depth < self.max_depth)
            )
            for name in sorted(filenames):
                rel = _join(rel_dir, name)
                if not self.ignored(rel, is_dir=False) and not os.path.islink(self.path(rel)):
                    found.append(rel)
            if len(found) >= MAX_FILES:
                self.truncated = True
                break
        return sorted(found[:MAX_FILES])

    def ignored(self, rel: str, *, is_dir: bool) -> bool:
        name = rel.rsplit("/", 1)[-1]
        for pattern, dir_only, anchored in self._ignore:
            if dir_only and not is_dir:
                continue
            if anchored or "/" in pattern:
                if fnmatch.fnmatchcase(rel, pattern):
                    return True
            elif fnmatch.fnmatchcase(name, pattern):
                return True
        return False

    def path(self, rel: str) -> Path:
        return self.root / rel

    def exists(self, rel: str) -> bool:
        return self.path(rel).is_file()

    def text(self, rel: str) -> str | None:
        """The file as text, or None when it is missing, binary or too large."""
        if rel not in self._text:
            self._text[rel] = read_text(self.path(rel))
        return self._text[rel]

    def lines(self, rel: str) -> list[str]:
        return (self.text(rel) or "").splitlines()

    def toml(self, rel: str) -> dict[str, Any]:
        text = self.text(rel)
        if not text:
            return {}
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError:
            return {}

    def python_tree(self, rel: str) -> ast.Module | None:
        if rel not in self._trees:
            text = self.text(rel)
            try:
                self._trees[rel] = ast.parse(text, filename=rel) if text is not None else None
            except (SyntaxError, ValueError):
                self._trees[rel] = None
        return self._trees[rel]

    def matching(self, *patterns: str) -> list[str]:
        """Files whose path or name matches one of the glob patterns."""
        return [
            rel
            for rel in self.files
            if any(
                fnmatch.fnmatchcase(rel, p) or fnmatch.fnmatchcase(rel.rsplit("/", 1)[-1], p)
                for p in patterns
            )
        ]

    def source_files(self, language: str | None = None) -> list[str]:
        """Source files of one language (None: of every language), in path order."""
        return list(self._sources.get(language, []))

    @cached_property
    def _sources(self) -> dict[str | None, list[str]]:
        by_language: dict[str | None, list[str]] = {None: []}
        for rel in self.files:
            if language := SOURCE_LANGUAGES.get(Path(rel).suffix):
                by_language[None].append(rel)
                by_language.setdefault(language, []).append(rel)
        return by_language

    @cached_property
    def python_modules(self) -> dict[str, str]:
        """Dotted module name -> file, for every Python file of the project."""
        modules: dict[str, str] = {}
        for rel in self.source_files("python"):
            modules.setdefault(module_name(rel, self.exists)[0], rel)
        return modules

    @cached_property
    def python_roots(self) -> list[str]:
        """Directories to put on sys.path so the project's own modules import (flat and src)."""
        roots = {module_name(rel, self.exists)[1] for rel in self.source_files("python")}
        roots.discard("")
        return [str(self.root), *(str(self.root / r) for r in sorted(roots, key=len))]


def _join(rel_dir: str, name: str) -> str:
    return f"{rel_dir}/{name}" if rel_dir else name


def _gitignore_patterns(path: Path) -> list[tuple[str, bool, bool]]:
    """(pattern, dirs only, anchored) for the simple lines of a .gitignore; negations skipped."""
    patterns = []
    text = read_text(path) or ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", "!")):
            continue
        dir_only = line.endswith("/")
        line = line.rstrip("/").removeprefix("**/")
        anchored = line.startswith("/")
        patterns.append((line.lstrip("/"), dir_only, anchored))
    return patterns


def read_text(path: Path) -> str | None:
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_TEXT_BYTES + 1)
    except OSError:
        return None
    if len(data) > MAX_TEXT_BYTES or b"\0" in data[:8192]:
        return None
    return data.decode("utf-8", errors="replace")


def is_binary(path: Path) -> bool:
    try:
        with open(path, "rb") as fh:
            return b"\0" in fh.read(8192)
    except OSError:
        return False


def is_test_file(rel: str) -> bool:
    name = rel.rsplit("/", 1)[-1]
    parts = rel.split("/")[:-1]
    return (
        any(p in ("test", "tests", "__tests__", "spec", "testing") for p in parts)
        or fnmatch.fnmatchcase(name, "test_*.py")
        or fnmatch.fnmatchcase(name, "*_test.py")
        or fnmatch.fnmatchcase(name, "*_test.go")
        or any(fnmatch.fnmatchcase(name, f"*.{k}.*") for k in ("test", "spec"))
        or name == "conftest.py"
    )


def module_name(rel: str, exists: Any) -> tuple[str, str]:
    """The dotted name a Python file is imported as, and the directory it is imported from."""
    parts = rel[:-3].split("/")
    dirs = parts[:-1]
    top = len(dirs)
    while top > 0 and exists("/".join(dirs[:top]) + "/__init__.py"):
        top -= 1
    names = parts[top:]
    if names[-1] == "__init__" and len(names) > 1:
        names = names[:-1]
    return ".".join(names), "/".join(dirs[:top])


def top_packages(repo: Repo) -> list[str]:
    """Importable top-level Python packages outside the tests, largest first."""
    sizes: dict[str, int] = {}
    for name, rel in repo.python_modules.items():
        if "." in name or rel.endswith("__init__.py"):
            top = name.split(".")[0]
            if not is_test_file(rel) and top not in ("tests", "test"):
                sizes[top] = sizes.get(top, 0) + 1
    return sorted(sizes, key=lambda n: (-sizes[n], n))


def risk(risk_id: str, severity: str, title: str, detail: str = "") -> dict[str, str]:
    item = {"id": risk_id, "severity": severity, "title": title}
    if detail:
        item["detail"] = detail
    return item


def elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
