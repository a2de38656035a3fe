"""Choosing the executor: the flags, the environment and the workflow file; the choice kept with
the run; a clear usage error without the optional extra. No cluster needed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from engine.run.executors import NO_DASK, SCHEDULER_ENV, choose, executor_for
from engine.run.runs import UsageError
from engine.state.run_state import RunState
from engine.workflow.loader import parse_workflow
from engine.workflow.models import Workflow
from tests.helpers import ROOT, agent_cmd, one_stage

FILE_DASK = "executor: {kind: dask, scheduler: 'file-host:8786'}\n"


def workflow(extra: str = "") -> Workflow:
    text = one_stage(f"      - {{id: a, run: {agent_cmd()}}}").replace(
        "name: t\n", f"name: t\n{extra}"
    )
    return parse_workflow(text, "wf.yaml")


def test_the_flags_the_environment_and_the_file_in_that_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(SCHEDULER_ENV, raising=False)
    assert choose(workflow(), None, None) == {}
    assert choose(workflow(FILE_DASK), None, None) == {
        "kind": "dask",
        "scheduler": "tcp://file-host:8786",
    }
    assert choose(workflow(FILE_DASK), "local", None) == {}
    assert choose(workflow(), None, "tls://h:1")["scheduler"] == "tls://h:1"
    monkeypatch.setenv(SCHEDULER_ENV, "env-host:8786")
    assert choose(workflow(FILE_DASK), "dask", None)["scheduler"] == "tcp://env-host:8786"
    assert choose(workflow(FILE_DASK), "dask", "flag:1")["scheduler"] == "tcp://flag:1"


def test_bad_choices_are_usage_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(SCHEDULER_ENV, raising=False)
    with pytest.raises(UsageError, match="needs the scheduler's address"):
        choose(workflow(), "dask", None)
    with pytest.raises(UsageError, match="not an address like tcp://HOST:8786"):
        choose(workflow(), "dask", "just-a-host")
    with pytest.raises(UsageError, match="--scheduler is for --executor dask"):
        choose(workflow(), "local", "h:1")


def test_a_local_run_never_imports_distributed() -> None:
    """Every module of the engine and the command line but the Dask executor's, and the
    executor of a local run, in a fresh interpreter: ``distributed`` stays out (the import
    contract in pyproject.toml checks the static imports)."""
    modules = sorted(
        ".".join(p.relative_to(ROOT).with_suffix("").parts)
        for folder in ("engine", "tui/cli")
        for p in (ROOT / folder).rglob("*.py")
        if not p.name.startswith("dask_") and p.name != "__main__.py"
    )
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "from engine.run.executors import executor_for\n"
        "from engine.state.run_state import RunState\n"
        "print(type(executor_for(RunState('r'))).__name__)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('distributed', 'dask')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.split("\n")[-3:] == ["LocalExecutor", "[]", ""]


def test_without_the_extra_choosing_dask_is_a_usage_error(tmp_path: Path) -> None:
    wf = tmp_path / "wf.yaml"
    wf.write_text(one_stage(f"      - {{id: a, run: {agent_cmd()}}}"))
    hide = (
        "import sys; sys.modules['distributed'] = None; from tui.cli import main; sys.exit(main())"
    )
    args = ["run", str(wf), "--headless", "--workspace", str(tmp_path), "--scheduler", "h:1"]
    done = subprocess.run(
        [sys.executable, "-c", hide, *args], cwd=tmp_path, capture_output=True, text=True
    )
    assert done.returncode == 2
    assert done.stderr.strip() == f"phaseboard: {NO_DASK}"
    assert not (tmp_path / ".phaseboard").exists()  # refused before anything was created


def test_a_run_that_chose_dask_resumes_on_dask(tmp_path: Path) -> None:
    state = RunState("r1")
    state.executor = {"kind": "dask", "scheduler": "tcp://h:1"}
    state.workspace = state.run_dir = str(tmp_path)
    executor = executor_for(state)
    assert type(executor).__name__ == "DaskExecutor" and executor.address == "tcp://h:1"  # type: ignore[attr-defined]
