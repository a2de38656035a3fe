"""Helpers for the LLM adapter tests: the stand-in ``claude`` first on PATH, a small workspace,
and running the adapter as a real subprocess with its messages split from its log.

A module of its own (not ``conftest``) so test files can import it by a unique name.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
AGENTS = ROOT / "data" / "agents"
ADAPTER = AGENTS / "llm_agent.py"
FAKE_DIR = ROOT / "tests" / "fixtures" / "fake_claude"

if str(AGENTS) not in sys.path:
    sys.path.insert(0, str(AGENTS))


@dataclass
class AgentRun:
    returncode: int
    messages: list[dict[str, Any]]
    lines: list[str]
    """stdout lines that are not messages: the progress shown in the agent's pane."""
    stderr: str

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["body"]["message_type"] == kind]

    @property
    def result(self) -> dict[str, Any]:
        results = self.of_type("result")
        assert results, f"no result message; lines={self.lines} stderr={self.stderr}"
        return results[-1]

    @property
    def content(self) -> dict[str, Any]:
        return self.result["body"]["content"]

    @property
    def error(self) -> str:
        errors = self.of_type("error")
        assert errors, f"no error message; lines={self.lines} stderr={self.stderr}"
        return errors[-1]["body"]["content"]


RunAgent = Callable[..., AgentRun]


def clean_env(tmp_path: Path) -> dict[str, str]:
    """Our environment without phaseboard's or the stand-in's variables, stand-in first on PATH."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PHASEBOARD_", "FAKE_CLAUDE_", "ANTHROPIC_"))
    }
    env["PATH"] = str(FAKE_DIR) + os.pathsep + env.get("PATH", "")
    env["ANTHROPIC_API_KEY"] = "sk-test-not-a-real-key"
    state = tmp_path / "fake_state"
    state.mkdir(exist_ok=True)
    env["FAKE_CLAUDE_STATE_DIR"] = str(state)
    env["FAKE_CLAUDE_LOG"] = str(tmp_path / "fake_calls.jsonl")
    return env


def make_project(root: Path) -> Path:
    """A tiny Python project: a package, a test, a pyproject declaring Python 3.11."""
    (root / "src" / "shop").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "pyproject.toml").write_text(
        '[project]\nname = "shop"\nversion = "0.1.0"\nrequires-python = ">=3.11"\n'
    )
    (root / "src" / "shop" / "__init__.py").write_text('"""A shop."""\n')
    (root / "src" / "shop" / "cart.py").write_text(
        "def total(prices: list[float]) -> float:\n    return sum(prices)\n"
    )
    (root / "tests" / "test_cart.py").write_text(
        "from shop.cart import total\n\n\ndef test_total():\n    assert total([1, 2]) == 3\n"
    )
    (root / "README.md").write_text("# shop\n\nA small shop.\n")
    return root


def split_output(stdout: str) -> tuple[list[dict[str, Any]], list[str]]:
    messages, lines = [], []
    for line in stdout.splitlines():
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            obj = None
        if isinstance(obj, dict) and "header" in obj and "body" in obj:
            messages.append(obj)
        else:
            lines.append(line)
    return messages, lines


def runner(workspace: Path, base_env: dict[str, str]) -> RunAgent:
    """A function running the adapter in ``workspace`` with ``base_env`` plus extra variables."""

    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 30) -> AgentRun:
        proc = subprocess.run(
            [sys.executable, str(ADAPTER), *args],
            cwd=workspace,
            env={**base_env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        messages, lines = split_output(proc.stdout)
        return AgentRun(proc.returncode, messages, lines, proc.stderr)

    return run


def fake_calls(env: dict[str, str]) -> list[dict[str, Any]]:
    """The argv and cwd of each call the stand-in received."""
    path = Path(env["FAKE_CLAUDE_LOG"])
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]
