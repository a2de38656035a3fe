"""What the bundled standard agents share: walking a repository, reading it, bounded commands.

Standard library only, like every bundled agent. A :class:`Repo` lists the files once (skipping
tool and build folders and what the top-level ``.gitignore`` names) and caches what it reads, so
each agent stays a short script about its own question.
"""

from __future__ import annotations

import argparse
import ast
import fnmatch
import importlib.util
import json
import os
import re
import signal
import subprocess
import sys
import time
import tomllib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import agentlib

SKIP_DIRS = frozenset(
    {
        ".git", ".hg", ".svn", "node_modules", ".venv", "venv", "env", "__pycache__", ".phaseboard",
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
TEST_DEPTH_ENV = "PHASEBOARD_TEST_DEPTH"
"""How many test runs of bundled agents enclose this one; stops a suite that runs itself looping."""


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
            self._text[rel] = _read_text(self.path(rel))
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
        return [
            rel
            for rel in self.files
            if (lang := SOURCE_LANGUAGES.get(Path(rel).suffix)) and language in (None, lang)
        ]

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
    text = _read_text(path) or ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", "!")):
            continue
        dir_only = line.endswith("/")
        line = line.rstrip("/").removeprefix("**/")
        anchored = line.startswith("/")
        patterns.append((line.lstrip("/"), dir_only, anchored))
    return patterns


def _read_text(path: Path) -> str | None:
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


# -- runtimes and dependencies -------------------------------------------------------------------

_VERSION = re.compile(r"(\d+)\.(\d+)")
_MAJOR = re.compile(r"(\d+)")
RUNTIMES: dict[str, dict[str, Any]] = {
    "python": {"files": [".python-version", "runtime.txt"], "ci_key": "python-version",
               "image": "python", "asdf": "python", "major_only": False},
    "node": {"files": [".nvmrc", ".node-version"], "ci_key": "node-version",
             "image": "node", "asdf": "nodejs", "major_only": True},
    "go": {"files": [".go-version"], "ci_key": "go-version",
           "image": "golang", "asdf": "golang", "major_only": False},
}  # fmt: skip
CI_PATTERNS = (
    ".github/workflows/*.yml", ".github/workflows/*.yaml", ".gitlab-ci.yml", ".circleci/config.yml",
    "Jenkinsfile", "azure-pipelines.yml", ".travis.yml", "bitbucket-pipelines.yml", ".drone.yml",
)  # fmt: skip


def normalise_version(text: str, runtime: str = "python") -> str | None:
    """'>=3.11' -> '3.11', 'python:3.12-slim' -> '3.12'; node to its major ('v20.1' -> '20')."""
    if RUNTIMES.get(runtime, {}).get("major_only"):
        match = _MAJOR.search(text)
        return match.group(1) if match else None
    match = _VERSION.search(text)
    return f"{match.group(1)}.{match.group(2)}" if match else None


def declared_runtimes(repo: Repo) -> dict[str, dict[str, str]]:
    """Runtime versions the project's manifests declare: {runtime: {spec, version, source}}."""
    found: dict[str, dict[str, str]] = {}
    project = repo.toml("pyproject.toml").get("project", {})
    poetry = repo.toml("pyproject.toml").get("tool", {}).get("poetry", {})
    spec = project.get("requires-python") or poetry.get("dependencies", {}).get("python")
    source = "pyproject.toml"
    if not spec:
        match = re.search(r"python_requires\s*=\s*['\"]?([^'\"\n]+)", repo.text("setup.cfg") or "")
        match = match or re.search(
            r"python_requires\s*=\s*['\"]([^'\"]+)", repo.text("setup.py") or ""
        )
        spec, source = (match.group(1).strip(), "setup.cfg/setup.py") if match else (None, "")
    if isinstance(spec, str) and (version := normalise_version(spec)):
        found["python"] = {"spec": spec, "version": version, "source": source}
    engines = package_json(repo).get("engines") or {}
    node = engines.get("node") if isinstance(engines, dict) else None
    if isinstance(node, str) and (version := normalise_version(node, "node")):
        found["node"] = {"spec": node, "version": version, "source": "package.json"}
    match = re.search(r"^go\s+(\d+\.\d+)", repo.text("go.mod") or "", re.M)
    if match:
        found["go"] = {"spec": match.group(1), "version": match.group(1), "source": "go.mod"}
    return found


def configured_runtimes(repo: Repo) -> dict[str, list[dict[str, str]]]:
    """Runtime versions the environment is set up with, most authoritative source first."""
    found: dict[str, list[dict[str, str]]] = {}
    for runtime in RUNTIMES:
        seen = [
            {"version": version, "source": source}
            for text, source in _version_sources(repo, runtime)
            if (version := normalise_version(text, runtime))
        ]
        if seen:
            found[runtime] = seen
    return found


def _version_sources(repo: Repo, runtime: str) -> list[tuple[str, str]]:
    """(text holding a version, where it was found) for one runtime, in order of authority."""
    how = RUNTIMES[runtime]
    sources: list[tuple[str, str]] = []
    for name in how["files"]:
        first = next((ln.strip() for ln in repo.lines(name) if ln.strip()), "")
        if first:
            sources.append((first, name))
    for line in repo.lines(".tool-versions"):
        words = line.split()
        if len(words) >= 2 and words[0] == how["asdf"]:
            sources.append((words[1], ".tool-versions"))
    for rel in ci_files(repo):
        sources += [(value, rel) for value in ci_matrix_values(repo.text(rel) or "", how["ci_key"])]
    image = re.compile(rf"^\s*FROM\s+(?:\S+/)?{how['image']}:(\S+)", re.I | re.M)
    for rel in repo.matching("Dockerfile", "Dockerfile.*", "*.Dockerfile"):
        sources += [(match.group(1), rel) for match in image.finditer(repo.text(rel) or "")]
    if runtime == "python":
        for venv in (".venv", "venv"):
            cfg = _read_text(repo.root / venv / "pyvenv.cfg") or ""
            match = re.search(r"^version(?:_info)?\s*=\s*(\S+)", cfg, re.M)
            if match:
                sources.append((match.group(1), f"{venv}/pyvenv.cfg"))
    return sources


def ci_files(repo: Repo) -> list[str]:
    return repo.matching(*CI_PATTERNS)


def ci_matrix_values(text: str, key: str) -> list[str]:
    """The values given to ``key`` in a CI file (inline lists, block lists, scalars), in order."""
    values: list[str] = []
    lines = text.splitlines()
    pattern = re.compile(rf"^(\s*)-?\s*{re.escape(key)}\s*:\s*(.*)$", re.I)
    for index, line in enumerate(lines):
        match = pattern.match(line)
        if not match:
            continue
        indent, value = len(match.group(1)), match.group(2).split("#")[0].strip()
        if value.startswith("${{"):
            continue
        if value.startswith("["):
            values += [v.strip(" '\"") for v in value.strip("[]").split(",") if v.strip(" '\"")]
        elif value:
            values.append(value.strip("'\""))
        else:
            for follow in lines[index + 1 :]:
                item = re.match(r"^(\s*)-\s*(.+)$", follow)
                if not item or len(item.group(1)) < indent:
                    break
                values.append(item.group(2).split("#")[0].strip(" '\""))
    return values


def package_json(repo: Repo) -> dict[str, Any]:
    try:
        data = json.loads(repo.text("package.json") or "{}")
    except json.JSONDecodeError:
        return {}
    return data if isinstance(data, dict) else {}


_GO_REQUIRE = re.compile(r"^\s*(?:require\s+)?([\w.\-]+\.[\w.\-/]+)\s+(v[\w.\-+]+)", re.M)
_REQ = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*([^;#]*)")


def _python_requirement(text: str, source: str, dev: bool) -> dict[str, Any] | None:
    match = _REQ.match(text)
    if not match or text.strip().startswith(("-", "#")):
        return None
    return {"name": match.group(1), "spec": match.group(3).strip(), "source": source, "dev": dev}


def declared_dependencies(repo: Repo) -> dict[str, list[dict[str, Any]]]:
    """Dependencies the manifests declare, per ecosystem: [{name, spec, source, dev}]."""
    deps: dict[str, list[dict[str, Any]]] = {}

    def add(ecosystem: str, item: dict[str, Any] | None) -> None:
        if item:
            deps.setdefault(ecosystem, []).append(item)

    pyproject = repo.toml("pyproject.toml")
    project = pyproject.get("project", {})
    for text in project.get("dependencies", []):
        add("python", _python_requirement(text, "pyproject.toml", False))
    for group in project.get("optional-dependencies", {}).values():
        for text in group:
            add("python", _python_requirement(text, "pyproject.toml", True))
    poetry = pyproject.get("tool", {}).get("poetry", {})
    for table, dev in (("dependencies", False), ("dev-dependencies", True)):
        for name, spec in poetry.get(table, {}).items():
            if name != "python":
                text = spec if isinstance(spec, str) else str(spec.get("version", ""))
                add("python", {"name": name, "spec": text, "source": "pyproject.toml", "dev": dev})
    for rel in repo.matching("requirements*.txt", "requirements/*.txt"):
        dev = any(w in rel for w in ("dev", "test", "lint", "doc"))
        for line in repo.lines(rel):
            add("python", _python_requirement(line, rel, dev))
    package = package_json(repo)
    for table, dev in (("dependencies", False), ("devDependencies", True)):
        for name, spec in (package.get(table) or {}).items():
            add("node", {"name": name, "spec": str(spec), "source": "package.json", "dev": dev})
    for match in _GO_REQUIRE.finditer(repo.text("go.mod") or ""):
        add(
            "go", {"name": match.group(1), "spec": match.group(2), "source": "go.mod", "dev": False}
        )
    cargo = repo.toml("Cargo.toml")
    for table, dev in (("dependencies", False), ("dev-dependencies", True)):
        for name, spec in cargo.get(table, {}).items():
            text = spec if isinstance(spec, str) else str(spec.get("version", ""))
            add("rust", {"name": name, "spec": text, "source": "Cargo.toml", "dev": dev})
    return deps


# -- bounded subprocesses --------------------------------------------------------------------------


@dataclass
class Completed:
    argv: list[str]
    returncode: int | None
    stdout: str
    stderr: str
    duration_s: float
    timed_out: bool


def child_env(repo: Repo, extra_path: bool = True) -> dict[str, str]:
    """Environment for running the project's code: no bytecode left in the workspace, none of
    phaseboard's own variables; with ``extra_path`` the source roots importable without an
    install (test runs set up their own path, as ``python -m pytest`` does)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PHASEBOARD_")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env[TEST_DEPTH_ENV] = str(test_depth() + 1)
    if extra_path:
        paths = [*repo.python_roots, env.get("PYTHONPATH", "")]
        env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    return env


def test_depth() -> int:
    value = os.environ.get(TEST_DEPTH_ENV, "0")
    return int(value) if value.isdigit() else 0


def run_bounded(
    argv: list[str], cwd: Path, timeout: float, env: dict[str, str] | None = None
) -> Completed:
    """Run a command in its own process group; stop the whole group when ``timeout`` passes."""
    started = time.monotonic()
    try:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            start_new_session=True,
        )
    except OSError as exc:
        return Completed(argv, None, "", str(exc), 0.0, False)
    timed_out = False
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(proc.pid)
        try:
            out, err = proc.communicate(timeout=5)
        except subprocess.TimeoutExpired:
            out, err = "", ""
    return Completed(
        argv, proc.returncode, out, err, round(time.monotonic() - started, 3), timed_out
    )


def _kill_group(pgid: int) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        time.sleep(0.2)


def has_module(name: str) -> bool:
    return importlib.util.find_spec(name) is not None


IMPORT_PROBE = """
import importlib, sys, time
started = time.process_time()
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except Exception:
        if name == sys.argv[1]:
            raise
print(time.process_time() - started)
"""
MAX_PROBED_MODULES = 30


def import_times(repo: Repo, packages: list[str], timeout: float = 20.0) -> dict[str, float]:
    """CPU seconds to import each package and its modules in a fresh interpreter: the
    performance baseline. CPU time, not wall time, so a busy machine (the test suite running
    beside it) does not look like a slowdown. ``__main__`` and test modules are left out."""
    times: dict[str, float] = {}
    for name in packages:
        modules = [
            module
            for module, rel in sorted(repo.python_modules.items())
            if (module == name or module.startswith(name + "."))
            and not module.endswith("__main__")
            and not is_test_file(rel)
        ]
        argv = [sys.executable, "-c", IMPORT_PROBE, name, *modules[:MAX_PROBED_MODULES]]
        done = run_bounded(argv, repo.root, timeout, child_env(repo))
        value = _last_float(done.stdout) if done.returncode == 0 else None
        if value is not None:
            times[name] = round(value, 4)
    return times


def _last_float(text: str) -> float | None:
    try:
        return float(text.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return None


def risk(risk_id: str, severity: str, title: str, detail: str = "") -> dict[str, str]:
    item = {"id": risk_id, "severity": severity, "title": title}
    if detail:
        item["detail"] = detail
    return item


def elapsed_ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
