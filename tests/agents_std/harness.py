"""Running the standard workflow's agents as real subprocesses, and building fixture trees."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
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
) -> AgentRun:
    """Run ``data/agents/SCRIPT`` on ``workspace`` the way the engine does (cwd = workspace)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("PHASEBOARD_")}
    environ["PYTHONDONTWRITEBYTECODE"] = "1"
    environ.update(env or {})
    if inputs is not None:
        path = workspace.parent / f"inputs-{script}-{time.monotonic_ns()}.json"
        path.write_text(json.dumps(inputs), encoding="utf-8")
        environ["PHASEBOARD_INPUTS"] = str(path)
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(AGENTS / script), str(workspace), *args],
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
