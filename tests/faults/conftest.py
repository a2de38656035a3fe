"""Fixtures of the fault suite: workspaces and the clean run every faulted run is compared with."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.faults.harness import cli, status, succeeded_agents
from tests.faults.workflows import STAGED, write


def make_workspace(root: Path) -> Path:
    ws = root / "ws"
    ws.mkdir()
    (ws / "README.md").write_text("# sample\n")
    (ws / "src").mkdir()
    (ws / "src" / "app.py").write_text("print('hello')\n")
    return ws


@pytest.fixture(scope="module")
def clean_staged(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The `staged` workflow run once without a fault: exit code, decision, succeeded agents."""
    root = tmp_path_factory.mktemp("clean")
    ws = make_workspace(root)
    wf = write(root, STAGED)
    result = cli("run", str(wf), "--headless", "--workspace", str(ws), cwd=root)
    doc = status(ws)
    return {
        "exit": result.returncode,
        "decision": doc["run"]["decision"],
        "status": doc["run"]["status"],
        "succeeded": succeeded_agents(doc),
    }
