"""Helpers for tests: the test agent and the real `phaseboard` command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
AGENT = ROOT / "tests" / "agents" / "agent.py"


def agent_cmd(*args: str) -> str:
    """A YAML flow list running the test agent with these arguments."""
    escaped = (a.replace("{", "{{").replace("}", "}}") for a in args)
    items = ['"{python}"', f'"{AGENT}"', *(f"'{a}'" for a in escaped)]
    return "[" + ", ".join(items) + "]"


def run_cli(*args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60):
    """Run the real `phaseboard` command in a subprocess."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("PHASEBOARD_DB", None)
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", *args],
        cwd=cwd,
        env={**full_env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
