"""Helpers for the LLM adapter tests: the stand-ins for ``claude``, ``codex`` and ``gemini`` first
on PATH, a small workspace,
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
FIXTURES = ROOT / "tests" / "fixtures"
FAKE_DIR = FIXTURES / "fake_claude"
DIALECTS = ("claude", "codex", "gemini")
FAKE_DIRS = [FIXTURES / f"fake_{name}" for name in DIALECTS]
KEYS = {"claude": "ANTHROPIC_API_KEY", "codex": "OPENAI_API_KEY", "gemini": "GEMINI_API_KEY"}
"""The credential each stand-in wants (the others it accepts: CODEX_API_KEY, GOOGLE_API_KEY)."""

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
    """Our environment without phaseboard's or the stand-ins' variables (nor any credential of
    theirs), the stand-ins first on PATH, each with a key, a state folder and a call log."""
    credentials = ("ANTHROPIC_", "OPENAI_", "CODEX_", "GEMINI_", "GOOGLE_API")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PHASEBOARD_", "FAKE_", *credentials))
    }
    # the stand-ins (``#!/usr/bin/env python3``) run on this interpreter: no version-manager shim
    # to start on every call
    here = str(Path(sys.executable).parent)
    env["PATH"] = os.pathsep.join([*map(str, FAKE_DIRS), here, env.get("PATH", "")])
    state = tmp_path / "fake_state"
    state.mkdir(exist_ok=True)
    for name in DIALECTS:
        env[KEYS[name]] = "sk-test-not-a-real-key"
        env[f"FAKE_{name.upper()}_STATE_DIR"] = str(state)
        env[f"FAKE_{name.upper()}_LOG"] = str(tmp_path / f"fake_{name}_calls.jsonl")
    return env


def fake_env(name: str, **switches: str) -> dict[str, str]:
    """``FAKE_<NAME>_<SWITCH>`` variables for one stand-in (``mode="nojson"``)."""
    return {f"FAKE_{name.upper()}_{key.upper()}": value for key, value in switches.items()}


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


def fake_calls(env: dict[str, str], name: str = "claude") -> list[dict[str, Any]]:
    """The argv and cwd of each call a stand-in received."""
    path = Path(env[f"FAKE_{name.upper()}_LOG"])
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]
