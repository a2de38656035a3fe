"""Shared fixtures: real workspaces on disk."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# The suite starts a few hundred `phaseboard` and agent processes. Where the environment asks
# Python not to write bytecode, each of them would compile the engine from source again (about
# 40 ms a process): they share one bytecode cache outside the repository and the workspaces.
if os.environ.pop("PYTHONDONTWRITEBYTECODE", None):
    os.environ.setdefault(
        "PYTHONPYCACHEPREFIX", str(Path(tempfile.gettempdir()) / "phaseboard-tests-pycache")
    )


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "README.md").write_text("# sample\n")
    (ws / "src").mkdir()
    (ws / "src" / "app.py").write_text("print('hello')\n")
    return ws
