"""Fixtures for the LLM adapter tests (helpers live in ``llm_helpers``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.agents_llm.llm_helpers import RunAgent, clean_env, make_project, runner


@pytest.fixture
def fake_env(tmp_path: Path) -> dict[str, str]:
    return clean_env(tmp_path)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    return make_project(tmp_path / "ws")


@pytest.fixture
def run_agent(workspace: Path, fake_env: dict[str, str]) -> RunAgent:
    return runner(workspace, fake_env)
