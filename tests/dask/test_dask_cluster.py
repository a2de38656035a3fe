"""Runs through a real Dask cluster (tests/dask/conftest.py: a ``dask scheduler`` and two
``dask worker`` processes), with the real ``phaseboard`` command: the standard workflow gives
what it gives locally; a worker killed mid-attempt, an engine killed and resumed, the operator's
stop, the scheduler going away and coming back. (A stage no worker can hold is
test_dask_executor.py's, on an in-process cluster.)

The tests share one cluster and run in this order (the last ones take workers and the scheduler
away); ``-m "not dask"`` skips them."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil
import pytest

from tests.dask.conftest import Cluster, dask_env, wait
from tests.faults.harness import agent, cli, event, status, wait_for
from tests.helpers import ROOT

pytestmark = [pytest.mark.dask, pytest.mark.xdist_group("dask")]
SAMPLE = ROOT / "data" / "sample"
RUN_S = 120


def phaseboard(*args: str, cwd: Path) -> subprocess.Popen[str]:
    env = {**dask_env(), "PYTHONPATH": str(ROOT)}
    env.pop("PHASEBOARD_DB", None)
    return subprocess.Popen(
        [sys.executable, "-m", "tui.cli", *args],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def done(proc: subprocess.Popen[str]) -> tuple[int, str]:
    _, err = proc.communicate(timeout=RUN_S)
    return proc.returncode, err


def workflow(tmp_path: Path, agents: str, *, first: str = "") -> tuple[Path, Path]:
    """A workflow file (one parallel stage ``s`` of these agents, after ``first``'s stages) and
    an empty workspace."""
    path = tmp_path / "wf.yaml"
    path.write_text(
        "version: 1\nname: t\n"
        "defaults: {retries: 1, retry_backoff: 0, grace: 0.5, timeout: 60}\n"
        f"stages:\n{first}  - id: s\n    kind: agents\n    mode: parallel\n    agents:\n{agents}"
    )
    ws = tmp_path / "ws"
    ws.mkdir()
    return path, ws


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def started(db: Path, agent: str, attempt: int = 1) -> dict[str, Any]:
    found: dict[str, Any] = wait_for(
        db, event("attempt_started", agent=agent, attempt=attempt), f"{agent} to start"
    )
    return found


def attempts(doc: dict[str, Any], stage: str, agent_id: str) -> list[tuple[str, str | None]]:
    st = next(s for s in doc["stages"] if s["id"] == stage)
    agent = next(a for a in st["agents"] if a["id"] == agent_id)
    return [(t["status"], t["category"]) for t in agent["attempts"]]


MACHINE = {"memory_available_mb", "load_avg", "disk_free_mb", "performance"}
"""Findings about the machine at that moment, and the import timings of the security agent's
performance check: they differ between two local runs too."""
VARYING = re.compile(r"\b\d+(\.\d+)?s\b|\d+ MB disk free")
"""The same in text: a time ("collected in 0.02s"), the free disk."""


def results(doc: dict[str, Any]) -> dict[str, Any]:
    """What each agent stored, without what changes from run to run: times (keys ``*_s``,
    ``*_ms``, and "in 0.02s" in a text), the machine's load and free space, the run's id and
    workspace."""

    def clean(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                k: clean(v)
                for k, v in value.items()
                if not k.endswith(("_s", "_ms")) and k not in MACHINE
            }
        if isinstance(value, list):
            return [clean(v) for v in value]
        if isinstance(value, str):
            value = value.replace(doc["run"]["workspace"], "WS").replace(doc["run"]["id"], "RUN")
            return VARYING.sub("N", value)
        return value

    return {
        f"{st['id']}.{a['id']}": (a["status"], clean(a["result"]), attempts(doc, st["id"], a["id"]))
        for st in doc["stages"]
        for a in st["agents"]
    }


def test_the_standard_workflow_on_the_cluster_gives_what_it_gives_locally(
    cluster: Cluster, tmp_path: Path
) -> None:
    """Both runs at once, on copies of the sample whose configured Python is inside its declared
    range (no conflict to settle: the pause, resolve and resume of a Dask run are the other
    tests' business)."""
    runs = {}
    for kind in ("local", "dask"):
        ws = tmp_path / kind
        shutil.copytree(SAMPLE, ws)
        (ws / ".python-version").write_text("3.12\n")
        extra = ["--executor", "dask", "--scheduler", cluster.address] if kind == "dask" else []
        runs[kind] = (ws, phaseboard("run", "standard", "--headless", *extra, cwd=ws))
    docs = {}
    for kind, (ws, proc) in runs.items():
        code, err = done(proc)
        assert code == 0, err
        docs[kind] = status(ws)
    local, dask = docs["local"], docs["dask"]
    assert dask["run"]["executor"] == {"kind": "dask", "scheduler": cluster.address}
    assert local["run"]["decision"] == dask["run"]["decision"] == "PROCEED"
    assert results(local) == results(dask)
    assert len(results(dask)) == 13
    hosts = {t["host"] for st in dask["stages"] for a in st["agents"] for t in a["attempts"]}
    assert hosts == {socket.gethostname()}
    shown = cli("status", "last", cwd=runs["dask"][0]).stdout
    assert f"executor dask {cluster.address}" in shown
    assert f"succeeded   1 attempt  on {socket.gethostname()}" in shown


def test_the_operators_stop_leaves_nothing_running_on_the_workers(
    cluster: Cluster, tmp_path: Path
) -> None:
    stubborn = json.dumps(["{python}", str(ROOT / "tests/agents/proc_ignore_term.py")])
    agents = f"      - {{id: stubborn, run: {stubborn}}}\n      - {{id: hangs, run: {agent('--hang')}}}\n"
    wf, ws = workflow(tmp_path, agents)
    run = phaseboard("run", str(wf), "--headless", "--scheduler", cluster.address, cwd=ws)
    db = ws / ".phaseboard" / "phaseboard.db"
    pids = [started(db, name)["pid"] for name in ("stubborn", "hangs")]
    assert cli("stop", "last", cwd=ws).returncode == 0
    _, err = done(run)
    assert status(ws)["run"]["status"] == "stopped", err
    assert all(gone(pid) for pid in pids)


def test_an_engine_killed_while_attempts_run_is_resumed_without_redoing_work(
    cluster: Cluster, tmp_path: Path
) -> None:
    first = f"  - id: a\n    kind: agents\n    agents:\n      - {{id: quick, run: {agent()}}}\n"
    wf, ws = workflow(
        tmp_path, f"      - {{id: slow, run: {agent('--hang-attempts', '1')}}}\n", first=first
    )
    run = phaseboard("run", str(wf), "--headless", "--scheduler", cluster.address, cwd=ws)
    db = ws / ".phaseboard" / "phaseboard.db"
    pid = started(db, "slow")["pid"]
    run.send_signal(signal.SIGKILL)
    run.communicate(timeout=10)
    code, err = done(phaseboard("resume", "last", "--headless", cwd=ws))  # at once
    assert code == 0, err
    assert gone(pid)  # stopped by its worker (its engine left) or by resume (by its task key)
    doc = status(ws)
    assert attempts(doc, "a", "quick") == [("succeeded", None)]
    assert attempts(doc, "s", "slow") == [("failed", None), ("succeeded", None)]


def test_a_worker_killed_mid_attempt_fails_it_and_the_retry_runs_on_another(
    cluster: Cluster, tmp_path: Path
) -> None:
    wf, ws = workflow(tmp_path, f"      - {{id: victim, run: {agent('--hang-attempts', '1')}}}\n")
    run = phaseboard("run", str(wf), "--headless", "--scheduler", cluster.address, cwd=ws)
    db = ws / ".phaseboard" / "phaseboard.db"
    pid = started(db, "victim")["pid"]
    worker = psutil.Process(pid).ppid()
    assert worker in {w.pid for w in cluster.live_workers()}
    os.kill(worker, signal.SIGKILL)
    code, err = done(run)
    assert code == 0, err
    doc = status(ws)
    assert attempts(doc, "s", "victim") == [
        ("failed", "integration_failure"),
        ("succeeded", None),
    ]
    first = next(s for s in doc["stages"] if s["id"] == "s")["agents"][0]["attempts"][0]
    assert "went away while it ran" in first["error"]
    wait(lambda: gone(pid), "the dead worker's agent to be stopped", timeout=30)


def test_the_scheduler_going_away_pauses_the_run_until_it_is_back(
    cluster: Cluster, tmp_path: Path
) -> None:
    wf, ws = workflow(tmp_path, f"      - {{id: waits, run: {agent('--hang-attempts', '1')}}}\n")
    run = phaseboard("run", str(wf), "--headless", "--scheduler", cluster.address, cwd=ws)
    db = ws / ".phaseboard" / "phaseboard.db"
    pid = started(db, "waits")["pid"]
    cluster.kill_scheduler()
    code, err = done(run)
    assert code == 4, err
    reason = status(ws)["run"]["reason"]
    assert f"the Dask scheduler at {cluster.address} cannot be reached" in reason
    wait(lambda: gone(pid), "the workers to stop their attempts", timeout=30)
    cluster.start_scheduler(wait_ready=False)  # at the same address; the worker waits for it
    cluster.start_workers(1)
    code, err = done(phaseboard("resume", "last", "--headless", cwd=ws))
    assert code == 0, err
    assert attempts(status(ws), "s", "waits") == [("failed", None), ("succeeded", None)]
