"""Running the standard workflow's agents as real subprocesses, and building fixture trees."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
AGENTS = ROOT / "data" / "agents"
SAMPLE = ROOT / "data" / "sample"
WORKFLOW = ROOT / "data" / "workflows" / "standard.yaml"


@dataclass
class AgentRun:
    returncode: int
    stdout: str
    stderr: str
    duration_s: float
    messages: list[dict[str, Any]] = field(default_factory=list)
    progress: list[str] = field(default_factory=list)

    @property
    def results(self) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["body"]["message_type"] == "result"]

    @property
    def result(self) -> dict[str, Any]:
        assert len(self.results) == 1, (self.stdout, self.stderr)
        return self.results[0]["body"]["content"]

    @property
    def findings(self) -> dict[str, Any]:
        return self.result["findings"]

    def risk_ids(self) -> dict[str, str]:
        return {r["id"]: r["severity"] for r in self.result["risks"]}

    def errors(self) -> list[str]:
        return [m["body"]["content"] for m in self.messages if m["body"]["message_type"] == "error"]


def run_agent(
    script: str,
    workspace: Path,
    *args: str,
    inputs: dict[str, Any] | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    python: str = sys.executable,
) -> AgentRun:
    """Run ``data/agents/SCRIPT`` on ``workspace`` the way the engine does (cwd = workspace)."""
    environ = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("PHASEBOARD_") or k == "PHASEBOARD_TEST_DEPTH"
    }
    environ["PYTHONDONTWRITEBYTECODE"] = "1"
    environ.update(env or {})
    if inputs is not None:
        path = workspace.parent / f"inputs-{script}-{time.monotonic_ns()}.json"
        path.write_text(json.dumps(inputs), encoding="utf-8")
        environ["PHASEBOARD_INPUTS"] = str(path)
    started = time.monotonic()
    done = subprocess.run(
        [python, str(AGENTS / script), str(workspace), *args],
        cwd=workspace,
        env=environ,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    run = AgentRun(done.returncode, done.stdout, done.stderr, time.monotonic() - started)
    for line in done.stdout.splitlines():
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            run.progress.append(line)
            continue
        if isinstance(value, dict) and "header" in value and "body" in value:
            run.messages.append(value)
        else:
            run.progress.append(line)
    return run


def run_agents(*calls: tuple[Any, ...]) -> list[AgentRun]:
    """Several agent runs at once, each ``(script, workspace[, env])``; results in call order."""

    def one(call: tuple[Any, ...]) -> AgentRun:
        return run_agent(call[0], call[1], env=call[2] if len(call) > 2 else None)

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(one, calls))


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return root


def analysis_inputs(*runs: tuple[str, AgentRun], params: dict[str, Any] | None = None) -> dict:
    return {
        "run_id": "r_test",
        "workflow": "standard",
        "workspace": "",
        "params": params or {},
        "stages": {
            "analysis": {
                "kind": "agents",
                "status": "succeeded",
                "agents": {
                    name: {"status": "succeeded", "result": run.result} for name, run in runs
                },
            }
        },
    }


PY_PROJECT = {
    "pyproject.toml": """
        [project]
        name = "mismatch"
        version = "1.0"
        requires-python = ">=3.11"
        dependencies = ["requests>=2.31", "click"]

        [project.scripts]
        mm = "mismatch.cli:main"
    """,
    "mismatch/__init__.py": '"""The package."""\n',
    "mismatch/cli.py": """
        \"\"\"Command line.\"\"\"
        import argparse

        from mismatch import core


        def main() -> int:
            \"\"\"Run.\"\"\"
            argparse.ArgumentParser(prog="mm").parse_args()
            return core.answer() - 42
    """,
    "mismatch/core.py": """
        \"\"\"Core.\"\"\"
        from .util import helper


        def answer() -> int:
            \"\"\"The answer.\"\"\"
            return helper() * 2
    """,
    "mismatch/util.py": '"""Helpers."""\n\n\ndef helper() -> int:\n    return 21\n',
    "tests/test_core.py": """
        from mismatch.core import answer


        def test_answer():
            assert answer() == 42
    """,
    "README.md": "# mismatch\n\n## Installation\n\npip install .\n\n## Usage\n\nmm\n\n## License\n\nMIT\n",
}


def make_py_mismatch(root: Path, configured: str = "3.10.4") -> Path:
    """A Python project whose pyproject requires >=3.11 while .python-version configures
    ``configured`` (3.10.4 by default: outside the range, a true conflict)."""
    repo = write_tree(root, PY_PROJECT)
    (repo / ".python-version").write_text(f"{configured}\n", encoding="utf-8")
    return repo
