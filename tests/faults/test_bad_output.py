"""Agents that print what no one should: none of it crashes the engine, all of it is logged.

One run holds every bad agent side by side (a parallel stage), so the engine faces them all
at once; each test then checks one of them.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path
from typing import Any

import pytest

from tests.faults.harness import agent, cli, connect, no_traceback, settled, status
from tests.helpers import one_stage, run_inline, stored_lines

pytestmark = pytest.mark.faults

MIB = 1024 * 1024
BLOB = 5_000_000
"""Bytes of the log line with no newline (NUL bytes and invalid UTF-8 inside)."""
GARBAGE = 1_000_000
"""Random bytes the test agent prints (seeded: the test knows them too)."""

BAD_AGENTS: dict[str, tuple[str, list[str]]] = {
    "huge_message": ("messages", ["--pad-bytes", str(20 * MIB)]),
    "huge_file": ("file", ["--pad-bytes", str(20 * MIB), "--output-file"]),
    "garbage_then_result": ("messages", ["--garbage-bytes", str(GARBAGE)]),
    "garbage_json": ("json", ["--garbage-bytes", "100000", "--no-result"]),
    "deep_message": ("messages", ["--deep", "100000"]),
    "deep_file": ("file", ["--deep", "100000", "--output-file"]),
    "utf8_message": ("messages", ["--invalid-utf8"]),
    "utf8_file": ("file", ["--invalid-utf8", "--output-file"]),
    "long_line": ("messages", ["--tail-blob", str(BLOB)]),
}


@pytest.fixture(scope="module")
def bad_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("bad")
    workspace = root / "ws"
    workspace.mkdir()
    agents = "".join(
        f"      - {{id: {name}, output: {output}, run: {agent(*args)}}}\n"
        for name, (output, args) in BAD_AGENTS.items()
    )
    outcome, state, db = asyncio.run(run_inline(root, workspace, one_stage(agents)))
    conn = connect(db)
    try:
        chars: dict[str, int] = {}
        partials: dict[str, int] = {}
        for name, stream, text, partial in stored_lines(conn):
            if stream == "stdout":
                chars[name] = chars.get(name, 0) + len(text)
            partials[name] = partials.get(name, 0) + partial
        messages = [
            r[0] for r in conn.execute("SELECT data FROM events WHERE kind = 'agent_message'")
        ]
    finally:
        conn.close()
    return {
        "root": root,
        "outcome": outcome,
        "agents": state.stages["s"].agents,
        "run_dir": Path(state.run_dir),
        "db": db,
        "chars": chars,
        "partials": partials,
        "messages": messages,
    }


def attempt(bad_run: dict[str, Any], name: str) -> tuple[str, str | None, str]:
    a = bad_run["agents"][name]
    [first] = a.attempts
    return a.status, first.category, first.error or ""


def test_the_engine_survives_every_bad_output(bad_run: dict[str, Any]) -> None:
    assert bad_run["outcome"].status == "failed"  # the stage failed; the engine went on to the end
    failed = {"huge_message", "huge_file", "garbage_json", "deep_message", "deep_file", "utf8_file"}
    for name in BAD_AGENTS:
        status_, category, error = attempt(bad_run, name)
        if name in failed:
            assert (status_, category) == ("failed", "data_corruption"), (name, error)
        else:
            assert (status_, category) == ("succeeded", None), (name, error)
    settled(bad_run["db"], bad_run["root"])


def test_clear_errors_for_results_read_from_files(bad_run: dict[str, Any]) -> None:
    expected = {
        "huge_file": f"is 20971579 bytes, over the {16 * MIB} byte limit",
        "garbage_json": "stdout is not UTF-8 text",
        "deep_file": "is nested too deeply",
        "utf8_file": "is not UTF-8 text",
    }
    for name, words in expected.items():
        assert words in attempt(bad_run, name)[2], name


def test_invalid_utf8_in_a_message_is_replaced_not_fatal(bad_run: dict[str, Any]) -> None:
    result = bad_run["agents"]["utf8_message"].result
    assert result["summary"].startswith("bad \ufffd\ufffd bytes")


def test_huge_and_binary_output_is_logged_whole(bad_run: dict[str, Any]) -> None:
    chars, partials = bad_run["chars"], bad_run["partials"]
    assert chars["huge_message"] > 20 * MIB  # the 20 MiB line is kept, in 64 KiB pieces
    garbage = random.Random(5).randbytes(GARBAGE).decode("utf-8", "replace")  # as the agent
    assert chars["garbage_then_result"] >= sum(
        len(line.removesuffix("\r")) for line in garbage.split("\n")
    )
    assert chars["long_line"] >= BLOB
    assert partials["long_line"] >= BLOB // 65536
    log = bad_run["run_dir"] / "s" / "long_line.log"
    assert log.stat().st_size >= BLOB
    assert any("too large" in m for m in bad_run["messages"])


def test_logs_command_prints_a_nul_laden_line(bad_run: dict[str, Any]) -> None:
    workspace = bad_run["db"].parent.parent
    result = cli("logs", "last", "s.long_line", "--raw", cwd=workspace)
    no_traceback(result.stderr)
    assert result.returncode == 0
    assert "ab\x00cd\ufffdef" in result.stdout  # --raw: as the agent wrote it
    assert status(workspace)["run"]["status"] == "failed"


def test_oversized_result_message_says_so(bad_run: dict[str, Any]) -> None:
    assert "too large" in attempt(bad_run, "huge_message")[2]


def test_deep_result_message_says_so(bad_run: dict[str, Any]) -> None:
    assert "nested too deeply" in attempt(bad_run, "deep_message")[2]


@pytest.mark.parametrize("where", ["--deep", "--deep-warning"])
def test_parseable_but_deep_json_does_not_crash(
    tmp_path: Path, workspace: Path, where: str
) -> None:
    wf = tmp_path / "wf.yaml"
    wf.write_text(one_stage(f"      - {{id: d, run: {agent(where, '300')}}}\n"))
    result = cli("run", str(wf), "--headless", "--workspace", str(workspace), cwd=tmp_path)
    settled(workspace / ".phaseboard" / "phaseboard.db", tmp_path)
    assert "Traceback" not in result.stderr
    [attempt_] = status(workspace)["stages"][0]["agents"][0]["attempts"]
    if where == "--deep":  # the result is refused; a deep warning is only a message
        assert (result.returncode, attempt_["category"]) == (1, "data_corruption")
    else:
        assert (result.returncode, attempt_["status"]) == (0, "succeeded")
