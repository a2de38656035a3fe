"""Choosing how to run a workspace's tests: which command, in which environment, and why.

A project's tests import what the project's own environment holds, so they are run there, never
in phaseboard's interpreter when the project has one: a ``test_command`` given by the user first;
then the workspace's virtual environment (``.venv``, ``venv``, any top-level folder with a
``pyvenv.cfg``), ``$UV_PROJECT_ENVIRONMENT``, the environment Poetry or Hatch manage for it;
phaseboard's own interpreter only as a last resort, and the findings say so. Nothing here creates,
installs or syncs an environment (no ``uv run``, no ``poetry install``): it only looks and asks.
Outside Python, ``npm test``, ``go test`` and ``cargo test --offline`` when their toolchain is on
PATH. Standard library only.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import project_exec
from repo_scan import Repo, is_test_file

PROBE = """
def ok(name):
    try:
        __import__(name)
    except Exception:
        return 0
    return 1
print(ok("pytest"), ok("coverage"))
"""
PYTEST_ARGS = ["-m", "pytest", "-v", "-p", "no:cacheprovider", "-rfE", "--color=no"]
UNITTEST_ARGS = ["-m", "unittest", "discover", "-v", "-t", "."]
ASK_TIMEOUT = 30.0


@dataclass
class Plan:
    """The command to run (``argv``) and what the findings say about it; ``not_run`` is the
    reason when there is nothing that can run the suite."""

    runner: str | None
    argv: list[str]
    kind: str | None
    python: str | None
    why: str
    env: dict[str, str] = field(default_factory=dict)
    not_run: str = ""
    coverage: bool = False

    @property
    def command(self) -> str:
        return shlex.join(self.argv)

    @property
    def label(self) -> str:
        """Where the tests ran, in words for the summary."""
        if self.kind == "venv" and self.python:
            return f"in {Path(self.python).parent.parent.name}"
        return {
            "param": "from test_command",
            "uv": "in $UV_PROJECT_ENVIRONMENT",
            "poetry": "in Poetry's environment",
            "hatch": "in Hatch's environment",
            "phaseboard": "with phaseboard's interpreter",
        }.get(self.kind or "", "")


def choose(repo: Repo, test_command: str, scratch: Path) -> Plan | None:
    """The plan for this workspace, or None when it has no tests to run."""
    env = project_exec.child_env(repo, extra_path=False)
    if test_command.strip():
        argv = ["/bin/sh", "-c", test_command]
        return Plan("command", argv, "param", None, "the test_command parameter is set", env)
    if [f for f in repo.source_files("python") if is_test_file(f)]:
        return python_plan(repo)
    package = _package_json(repo)
    script = str((package.get("scripts") or {}).get("test") or "")
    if script and "no test specified" not in script:
        return npm_plan(repo, package, env)
    if repo.exists("go.mod") and any(f.endswith("_test.go") for f in repo.files):
        return tool_plan("go", ["go", "test", "-v", "./..."], "go.mod with _test.go files", env)
    if repo.exists("Cargo.toml") and _has_rust_tests(repo):
        env.setdefault("CARGO_TARGET_DIR", str(scratch / "cargo-target"))
        argv = ["cargo", "test", "--offline"]
        return tool_plan("cargo", argv, "Cargo.toml with #[test] functions", env)
    return None


def python_plan(repo: Repo) -> Plan:
    notes: list[str] = []
    for kind, python, why in _environments(repo, notes):
        env = project_exec.child_env(repo, extra_path=False)
        env_dir = str(Path(python).parent.parent)
        env["VIRTUAL_ENV"] = env_dir
        env["PATH"] = os.pathsep.join([str(Path(python).parent), env.get("PATH", "")])
        plan = _probe(repo, kind, python, why, env, notes)
        if plan is not None:
            return plan
    why = (
        "no virtual environment found in the workspace (.venv, venv, a folder with pyvenv.cfg, "
        "$UV_PROJECT_ENVIRONMENT, Poetry's or Hatch's): phaseboard's own interpreter is a "
        "last resort and lacks whatever the project installs"
    )
    env = project_exec.child_env(repo, extra_path=True)  # the project is not installed there
    plan = _probe(repo, "phaseboard", sys.executable, "; ".join([*notes, why]), env, notes)
    if plan is None:
        return Plan(None, [], "phaseboard", sys.executable, why, env, "; ".join(notes))
    elsewhere = foreign_copies(repo, env)
    if elsewhere:
        shown = ", ".join(f"{name} from {where}" for name, where in elsewhere.items())
        plan.not_run = (
            f"phaseboard's interpreter would import {shown}, not this workspace's code (a "
            "project that is built, not run from source): create the workspace's own "
            "environment (.venv) or set test_command"
        )
    return plan


FIND = """
import importlib.util, json, sys
found = {}
for name in sys.argv[1:]:
    try:
        spec = importlib.util.find_spec(name)
    except Exception:
        continue
    if spec is not None:
        found[name] = spec.origin or next(iter(spec.submodule_search_locations or []), "")
print(json.dumps(found))
"""


def import_names(repo: Repo) -> list[str]:
    """The names the project's code is imported by: its top-level Python packages and modules,
    its type stubs (``rpds.pyi`` of a Rust extension), and its distribution name."""
    names = {
        name.split(".")[0] for name, rel in repo.python_modules.items() if not is_test_file(rel)
    }
    names |= {f.removesuffix(".pyi") for f in repo.files if "/" not in f and f.endswith(".pyi")}
    project = str((repo.toml("pyproject.toml").get("project") or {}).get("name") or "")
    names.add(project.lower().replace("-", "_").replace(".", "_"))
    return sorted(
        n for n in names if n.isidentifier() and n not in ("setup", "conftest", "noxfile")
    )


def foreign_copies(repo: Repo, env: dict[str, str]) -> dict[str, str]:
    """Import names of the project that phaseboard's interpreter resolves outside the workspace:
    the tests would exercise that installed copy, so their verdict says nothing of this code."""
    names = import_names(repo)
    if not names:
        return {}
    done = project_exec.run_bounded(
        [sys.executable, "-c", FIND, *names], repo.root, ASK_TIMEOUT, env
    )
    try:
        found = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        return {}
    root = str(repo.root.resolve())
    return {
        name: str(Path(where).parent)
        for name, where in found.items()
        if where and not str(Path(where).resolve()).startswith(root + os.sep)
    }


def _probe(
    repo: Repo, kind: str, python: str, why: str, env: dict[str, str], notes: list[str]
) -> Plan | None:
    """Whether ``python`` runs, and with pytest (else unittest) and coverage importable."""
    env["PYTHONUNBUFFERED"] = "1"
    done = project_exec.run_bounded([python, "-c", PROBE], repo.root, ASK_TIMEOUT, env)
    answer = done.stdout.split()
    if done.returncode != 0 or len(answer) != 2:
        notes.append(f"{python} did not run ({_last_line(done)})")
        return None
    has_pytest, has_coverage = answer[0] == "1", answer[1] == "1"
    if has_pytest:
        argv, why = [python, *PYTEST_ARGS], f"{why}; pytest is importable there"
    else:
        argv, why = [python, *UNITTEST_ARGS], f"{why}; pytest is not importable there: unittest"
    runner = "pytest" if has_pytest else "unittest"
    return Plan(runner, argv, kind, python, why, env, coverage=has_coverage)


def _environments(repo: Repo, notes: list[str]) -> Iterator[tuple[str, str, str]]:
    """(kind, python, why) of each environment the project has, best first; Poetry and Hatch are
    asked only when nothing before them was found."""
    others = sorted(
        p.name
        for p in repo.root.iterdir()
        if p.is_dir() and p.name not in (".venv", "venv") and (p / "pyvenv.cfg").is_file()
    )
    folders = [".venv", "venv", *others]
    for name in folders:
        python = repo.root / name / "bin" / "python"
        if python.exists():
            yield "venv", str(python), f"{name}/bin/python: the workspace's virtual environment"
        elif (repo.root / name).is_dir():
            notes.append(f"{name}/ has no working bin/python")
    if uv_env := os.environ.get("UV_PROJECT_ENVIRONMENT"):
        python = (repo.root / uv_env / "bin" / "python").absolute()
        if python.exists():
            yield "uv", str(python), f"$UV_PROJECT_ENVIRONMENT is set ({uv_env})"
        else:
            notes.append(f"$UV_PROJECT_ENVIRONMENT ({uv_env}) has no bin/python")
    tool = repo.toml("pyproject.toml").get("tool", {})
    asks = [
        ("poetry", ["poetry", "env", "info", "--path"], "poetry env info --path"),
        ("hatch", ["hatch", "env", "find"], "hatch env find"),
    ]
    for kind, argv, said in asks:
        if kind not in tool or not shutil.which(kind):
            continue
        env = project_exec.child_env(repo, extra_path=False)
        env.pop("VIRTUAL_ENV", None)  # else both tools answer with phaseboard's own environment
        done = project_exec.run_bounded(argv, repo.root, ASK_TIMEOUT, env)
        lines = done.stdout.strip().splitlines()
        if done.returncode != 0 or not lines:
            notes.append(f"{said} found no environment ({_last_line(done)})")
        elif (python := Path(lines[-1].strip()) / "bin" / "python").exists():
            yield kind, str(python), f"the environment {kind} manages for the project ({said})"
        else:
            notes.append(f"{said} names {lines[-1].strip()}, which is not created")


def npm_plan(repo: Repo, package: dict, env: dict[str, str]) -> Plan:
    env["CI"] = "true"  # test runners that would watch for changes run once
    plan = tool_plan("npm", ["npm", "test"], "package.json has a test script", env)
    declared = package.get("dependencies") or package.get("devDependencies")
    if not plan.not_run and declared and not (repo.root / "node_modules").is_dir():
        plan.not_run = "dependencies not installed: run npm install"
    return plan


def tool_plan(tool: str, argv: list[str], why: str, env: dict[str, str]) -> Plan:
    plan = Plan(tool, argv, tool, None, why, env)
    if shutil.which(argv[0]) is None:
        plan.not_run = f"{argv[0]} is not installed ({why})"
    return plan


def _package_json(repo: Repo) -> dict:
    try:
        value = json.loads(repo.text("package.json") or "{}")
    except json.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def _has_rust_tests(repo: Repo) -> bool:
    return any(
        "#[test]" in (repo.text(f) or "") or "#[cfg(test)]" in (repo.text(f) or "")
        for f in repo.source_files("rust")
    )


def _last_line(done: project_exec.Completed) -> str:
    lines = (done.stderr or done.stdout).strip().splitlines()
    return lines[-1][:200] if lines else f"exit code {done.returncode}"
