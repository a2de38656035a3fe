"""Tools of the fault-injection suite: real `phaseboard` processes and plain reads of the store.

The store is read with the standard ``sqlite3`` module, synchronously: the suite watches a
database another process writes, and starts processes with a ``preexec_fn`` (only safe while
this process has no extra threads, which aiosqlite would start).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import psutil

from tests.helpers import AGENT, ROOT

WAIT_S = 20.0
POLL_S = 0.01


def lit(text: str) -> str:
    """A literal argv element: braces doubled so no placeholder is substituted."""
    return text.replace("{", "{{").replace("}", "}}")


def argv(*items: str) -> str:
    """A YAML flow list (JSON) of argv elements; placeholders such as ``{params.x}`` stay live."""
    return json.dumps(list(items))


def agent(*args: str) -> str:
    """The test agent with these (already escaped where needed) arguments."""
    return argv("{python}", str(AGENT), *args)


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(extra or {})}
    env.pop("PHASEBOARD_DB", None)
    return env


def start(
    *args: str,
    cwd: Path,
    env: dict[str, str] | None = None,
    preexec_fn: Callable[[], None] | None = None,
) -> subprocess.Popen[str]:
    """Start the real `phaseboard` command without waiting for it."""
    return subprocess.Popen(
        [sys.executable, "-m", "tui.cli", *args],
        cwd=cwd,
        env=cli_env(env),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=preexec_fn,
    )


def cli(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tui.cli", *args],
        cwd=cwd,
        env=cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def finish(proc: subprocess.Popen[str], timeout: float = 60) -> tuple[int, str]:
    """Wait (bounded) for a started command; its exit code and stderr."""
    _, err = proc.communicate(timeout=timeout)
    return proc.returncode, err


def kill9(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)


def status(workspace: Path, run: str = "last") -> dict[str, Any]:
    result = cli("status", run, "--json", cwd=workspace)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def attempts_of(doc: dict[str, Any]) -> dict[str, list[str]]:
    """``STAGE.AGENT`` -> the statuses of its attempts, in order."""
    return {
        f"{stage['id']}.{a['id']}": [t["status"] for t in a["attempts"]]
        for stage in doc["stages"]
        for a in stage["agents"]
    }


def succeeded_agents(doc: dict[str, Any]) -> set[str]:
    return {
        f"{stage['id']}.{a['id']}"
        for stage in doc["stages"]
        for a in stage["agents"]
        if a["status"] == "succeeded"
    }


# -- the store, read from outside -----------------------------------------------------------


def connect(db: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(db, timeout=10, isolation_level=None)
    conn.row_factory = sqlite3.Row
    return conn


def events(db: Path, run_id: str | None = None) -> list[dict[str, Any]]:
    """Every committed event of the run (the newest run when no id is given)."""
    if not db.exists():
        return []
    conn = connect(db)
    try:
        try:
            if run_id is None:
                row = conn.execute(
                    "SELECT id FROM runs ORDER BY created_at DESC LIMIT 1"
                ).fetchone()
                if row is None:
                    return []
                run_id = row[0]
            rows = conn.execute(
                "SELECT seq, kind, data FROM events WHERE run_id = ? ORDER BY seq", (run_id,)
            ).fetchall()
        except sqlite3.OperationalError:  # tables not created yet
            return []
    finally:
        conn.close()
    return [{"seq": r[0], "kind": r[1], **json.loads(r[2])} for r in rows]


def wait_for(
    db: Path, predicate: Callable[[list[dict[str, Any]]], Any], what: str, timeout: float = WAIT_S
) -> Any:
    """Poll the store until ``predicate(events)`` is truthy; returns its value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate(events(db))
        if found:
            return found
        time.sleep(POLL_S)
    raise AssertionError(f"timed out waiting for {what}")


def event(kind: str, **fields: Any) -> Callable[[list[dict[str, Any]]], dict[str, Any] | None]:
    """A predicate for :func:`wait_for`: the first event of this kind with these fields."""

    def match(evs: list[dict[str, Any]]) -> dict[str, Any] | None:
        for e in evs:
            if e["kind"] == kind and all(e.get(k) == v for k, v in fields.items()):
                return e
        return None

    return match


def all_of(*predicates: Callable[[list[dict[str, Any]]], Any]) -> Callable[..., Any]:
    def match(evs: list[dict[str, Any]]) -> Any:
        found = [p(evs) for p in predicates]
        return found if all(found) else None

    return match


def kill_once(
    db: Path,
    proc: subprocess.Popen[str],
    predicate: Callable[[list[dict[str, Any]]], Any],
    what: str,
    timeout: float = WAIT_S,
) -> list[dict[str, Any]]:
    """SIGKILL ``proc`` the moment ``predicate(events)`` holds; the history at the kill.

    For windows of a few milliseconds: the store is read in a tight loop (new rows only),
    and once the condition shows, the write lock is taken (``BEGIN IMMEDIATE``) before the
    kill, so the engine cannot commit anything more and the returned history is exact.
    """
    wait_for(db, lambda evs: evs, "the run to start", timeout)
    conn = connect(db)
    run_id = conn.execute("SELECT id FROM runs ORDER BY created_at DESC LIMIT 1").fetchone()[0]
    history: list[dict[str, Any]] = []
    query = "SELECT seq, kind, data FROM events WHERE run_id = ? AND seq > ? ORDER BY seq"

    def read_new() -> None:
        last = history[-1]["seq"] if history else 0
        for r in conn.execute(query, (run_id, last)).fetchall():
            history.append({"seq": r[0], "kind": r[1], **json.loads(r[2])})

    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            read_new()
            if predicate(history):
                conn.execute("BEGIN IMMEDIATE")
                try:
                    read_new()
                    kill9(proc)
                finally:
                    conn.execute("ROLLBACK")
                return history
            time.sleep(0)
    finally:
        conn.close()
    raise AssertionError(f"timed out waiting for {what}")


def integrity(db: Path) -> str:
    conn = connect(db)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


def scalar(db: Path, sql: str, params: Iterable[Any] = ()) -> Any:
    conn = connect(db)
    try:
        row = conn.execute(sql, tuple(params)).fetchone()
        return None if row is None else row[0]
    finally:
        conn.close()


# -- processes and files --------------------------------------------------------------------


def alive(pid: int) -> bool:
    """A zombie counts as gone: it runs nothing and only waits to be reaped."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def leftovers(root: Path) -> list[str]:
    """Live processes working in ``root`` or naming it on their command line (this one aside)."""
    mark = str(root)
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "cwd", "status"]):
        info = proc.info
        if info["pid"] == os.getpid() or info["status"] == psutil.STATUS_ZOMBIE:
            continue
        cmdline = " ".join(info["cmdline"] or [])
        if mark in cmdline or (info["cwd"] or "").startswith(mark):
            found.append(f"{info['pid']}: {cmdline[:200]}")
    return found


def wait_no_leftovers(root: Path, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while (left := leftovers(root)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, f"processes left behind: {left}"


def tree_hashes(root: Path) -> dict[str, str]:
    """sha256 of every file under ``root``, `.phaseboard/` left out."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if rel == ".phaseboard" or rel.startswith(".phaseboard/") or not path.is_file():
            continue
        out[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def manifest_hashes(db: Path, manifest_id: int) -> dict[str, str]:
    conn = connect(db)
    try:
        rows = conn.execute(
            "SELECT path, sha256 FROM manifest_files WHERE manifest_id = ? ORDER BY path",
            (manifest_id,),
        ).fetchall()
    finally:
        conn.close()
    return {r[0]: r[1] for r in rows}


def no_traceback(stderr: str) -> None:
    assert "Traceback" not in stderr, stderr


def conflict_ids(db: Path) -> list[str]:
    """Ids of the conflicts the newest run's last consolidation raised."""
    merged = [e for e in events(db) if e["kind"] == "consolidated"]
    return [c["id"] for c in merged[-1]["conflicts"]] if merged else []


def settled(db: Path | None, root: Path) -> None:
    """After a fault: the database passes its integrity check and nothing of the run still runs."""
    if db is not None:
        assert integrity(db) == "ok"
    wait_no_leftovers(root)
