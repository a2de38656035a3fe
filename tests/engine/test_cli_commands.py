"""Every command of the CLI, its exit codes, and its one-line errors (never a traceback)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import agent_cmd, run_cli, run_cli_here


def write(tmp_path: Path, text: str, name: str = "wf.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def decision_workflow(warnings: int, critical: str = "true") -> str:
    exprs = ", ".join(['"true"'] * warnings)
    return f"""
version: 1
name: verdicts
stages:
  - id: work
    kind: agents
    agents:
      - {{id: a, run: {agent_cmd()}}}
  - id: gate
    kind: checkpoint
    criteria: [{{id: ok, expr: "stages.work.succeeded == 1"}}]
    decision:
      critical: ["{critical}"]
      warnings: [{exprs}]
"""


@pytest.mark.parametrize(
    ("warnings", "critical", "code", "decision"),
    [
        (0, "true", 0, "PROCEED"),
        (3, "true", 3, "CONDITIONAL_PROCEED"),
        (5, "true", 1, "BLOCK"),
        (0, "false", 1, "BLOCK"),
    ],
)
def test_decision_exit_codes(
    tmp_path: Path, workspace: Path, warnings: int, critical: str, code: int, decision: str
) -> None:
    wf = write(tmp_path, decision_workflow(warnings, critical))
    result = run_cli("run", str(wf), "--headless", "--workspace", str(workspace), cwd=tmp_path)
    assert result.returncode == code, result.stderr
    runs = json.loads(run_cli("runs", "--json", cwd=workspace).stdout)
    assert runs[0]["decision"] == decision
    assert runs[0]["status"] == "completed"


def test_no_decision_ends_zero_and_json_events(tmp_path: Path, workspace: Path) -> None:
    wf = write(
        tmp_path,
        f"version: 1\nname: plain\nstages:\n  - id: s\n    kind: agents\n    agents:\n"
        f"      - {{id: a, run: {agent_cmd()}}}\n",
    )
    result = run_cli(
        "run", str(wf), "--headless", "--json", "--workspace", str(workspace), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stdout.splitlines()]
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "run_status" and "attempt_finished" in kinds
    assert events[-1]["status"] == "completed"
    assert all("seq" in e for e in events)


def test_lenient_override_only_fails_on_critical(tmp_path: Path, workspace: Path) -> None:
    wf = write(
        tmp_path,
        f"""
version: 1
name: modes
stages:
  - id: s
    kind: agents
    agents: [{{id: a, run: {agent_cmd()}}}]
  - id: gate
    kind: checkpoint
    on_failure: []
    criteria:
      - {{id: soft, expr: "false", severity: warning}}
""",
    )
    strict = run_cli("run", str(wf), "--headless", "--workspace", str(workspace), cwd=tmp_path)
    assert strict.returncode == 1
    lenient = run_cli(
        "run",
        str(wf),
        "--headless",
        "--criteria",
        "lenient",
        "--workspace",
        str(workspace),
        cwd=tmp_path,
    )
    assert lenient.returncode == 0, lenient.stderr


def test_failed_checkpoint_accept_and_retry(tmp_path: Path, workspace: Path) -> None:
    marker = workspace / "fixed"
    wf = write(
        tmp_path,
        f"""
version: 1
name: gate
defaults: {{retries: 0}}
stages:
  - id: s
    kind: agents
    agents:
      - {{id: a, run: {agent_cmd("--fail-unless-file", "fixed")}}}
      - {{id: b, run: {agent_cmd()}}}
  - id: gate
    kind: checkpoint
    criteria: [{{id: all_ok, expr: "stages.s.succeeded == stages.s.total"}}]
    on_failure: [retry_failed, escalate]
""",
    )
    first = run_cli("run", str(wf), "--headless", "--workspace", str(workspace), cwd=tmp_path)
    assert first.returncode == 4, first.stderr
    status = json.loads(run_cli_here("status", "last", "--json", cwd=workspace).stdout)
    a = status["stages"][0]["agents"][0]
    assert len(a["attempts"]) == 2  # retry_failed ran it once more before escalating
    gate = status["stages"][1]
    assert gate["status"] == "failed" and gate["criteria"][0]["passed"] is False

    bad = run_cli("retry", "last", "s.nope", cwd=workspace)
    assert bad.returncode == 1 and "unknown agent" in bad.stderr
    marker.write_text("yes")
    ok = run_cli("retry", "last", "s.a", cwd=workspace)
    assert ok.returncode == 0, ok.stderr
    resumed = run_cli("resume", "last", "--headless", cwd=workspace)
    assert resumed.returncode == 0, resumed.stderr
    status = json.loads(run_cli_here("status", "last", "--json", cwd=workspace).stdout)
    assert status["run"]["status"] == "completed"
    assert len(status["stages"][0]["agents"][0]["attempts"]) == 3


def test_accept_documents_an_exception(tmp_path: Path, workspace: Path) -> None:
    wf = write(
        tmp_path,
        f"""
version: 1
name: acc
stages:
  - id: s
    kind: agents
    agents: [{{id: a, run: {agent_cmd()}}}]
  - id: gate
    kind: checkpoint
    criteria: [{{id: never, expr: "false"}}]
    decision: {{critical: ["true"], warnings: []}}
""",
    )
    assert (
        run_cli(
            "run", str(wf), "--headless", "--workspace", str(workspace), cwd=tmp_path
        ).returncode
        == 4
    )
    empty = run_cli("accept", "last", "gate", "--note", " ", cwd=workspace)
    assert empty.returncode == 2
    wrong = run_cli("accept", "last", "s", "--note", "x", cwd=workspace)
    assert wrong.returncode == 1 and "unknown checkpoint" in wrong.stderr
    ok = run_cli("accept", "last", "gate", "--note", "known flaky gate", cwd=workspace)
    assert ok.returncode == 0, ok.stderr
    done = run_cli("resume", "last", "--headless", cwd=workspace)
    assert done.returncode == 3, done.stderr  # an accepted exception caps the verdict
    status = json.loads(run_cli_here("status", "last", "--json", cwd=workspace).stdout)
    assert status["run"]["decision"] == "CONDITIONAL_PROCEED"


def test_bad_usage_and_unknown_ids(tmp_path: Path, workspace: Path) -> None:
    wf = write(tmp_path, decision_workflow(0))
    assert (
        run_cli(
            "run", str(wf), "--headless", "--workspace", str(workspace), cwd=tmp_path
        ).returncode
        == 0
    )
    cases = [
        (("status", "nope"), 1, "unknown run"),
        (("resolve", "last", "c_nope", "--pick", "x"), 1, "unknown conflict"),
        (("resolve", "last", "c_nope", "--value", "{bad"), 2, "not valid JSON"),
        (("rollback", "last", "rp99", "--yes"), 1, "unknown rollback point"),
        (("logs", "last", "work.zzz"), 1, "unknown agent"),
        (("retry", "last", "work"), 2, "STAGE.AGENT"),
        (("stop", "last"), 1, "already completed"),
        (("frobnicate",), 2, "invalid choice"),
        (("run", str(wf), "--headless", "--set", "nope=1"), 2, "unknown parameter"),
        (("run", str(wf), "--headless", "--from", "zzz"), 2, "unknown stage"),
        (
            ("run", str(wf), "--headless", "--workspace", str(tmp_path / "missing")),
            2,
            "does not exist",
        ),
        (("run", "no-such-workflow", "--headless"), 2, "no-such-workflow"),
    ]
    for args, code, text in cases:
        result = run_cli_here(*args, cwd=workspace)
        assert result.returncode == code, (args, result.stderr)
        assert text in result.stderr, (args, result.stderr)
        assert "Traceback" not in result.stderr


def test_no_database_is_one_clear_line(tmp_path: Path) -> None:
    result = run_cli("runs", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and "no phaseboard database" in result.stderr


def test_check_and_schema(tmp_path: Path) -> None:
    good = write(tmp_path, decision_workflow(0), "good.yaml")
    ok = run_cli("check", str(good), cwd=tmp_path)
    assert ok.returncode == 0 and "ok" in ok.stdout
    bad = write(
        tmp_path,
        "version: 1\nname: x\nstages:\n  - id: Bad\n    kind: agents\n    agents: []\n",
        "bad.yaml",
    )
    result = run_cli("check", str(bad), cwd=tmp_path)
    assert result.returncode == 2
    assert f"{bad}:4:" in result.stderr
    schema = json.loads(run_cli("schema", cwd=tmp_path).stdout)
    assert "stages" in json.dumps(schema)
    assert run_cli("check", "standard", cwd=tmp_path).returncode == 0


def test_logs_keep_every_line_and_long_lines(tmp_path: Path, workspace: Path) -> None:
    big = '["{python}", "-c", "import sys; sys.stdout.write(\\"y\\" * 1000000)"]'
    wf = write(
        tmp_path,
        f"""
version: 1
name: logs
stages:
  - id: s
    kind: agents
    agents:
      - {{id: chatty, run: {agent_cmd("--lines", "100000")}}}
      - {{id: giant, output: json, run: {big}}}
""",
    )
    run_cli("run", str(wf), "--headless", "--workspace", str(workspace), cwd=tmp_path)
    chatty = run_cli("logs", "last", "s.chatty", cwd=workspace)
    lines = chatty.stdout.splitlines()
    assert sum(1 for line in lines if line.startswith("line ")) == 100000
    assert lines[1] == "line 0000000 " + "x" * 60 or "line 0000000" in chatty.stdout
    giant = run_cli("logs", "last", "s.giant", "--attempt", "1", cwd=workspace)
    assert giant.stdout.count("y") == 1000000
    status = json.loads(run_cli_here("status", "last", "--json", cwd=workspace).stdout)
    giant_attempt = status["stages"][0]["agents"][1]["attempts"][0]
    assert giant_attempt["category"] == "data_corruption"  # a million y's is not JSON


def test_report_rebuilds_files_elsewhere(tmp_path: Path, workspace: Path) -> None:
    wf = write(tmp_path, decision_workflow(0))
    run_cli("run", str(wf), "--headless", "--workspace", str(workspace), cwd=tmp_path)
    out = tmp_path / "report"
    result = run_cli("report", "last", "--out", str(out), cwd=workspace)
    assert result.returncode == 0, result.stderr
    assert "PROCEED" in result.stdout
    for name in (
        "final_report.md",
        "final_report.json",
        "SESSION_CONTINUITY.md",
        "work/a.json",
        "work/a.log",
    ):
        assert (out / name).exists(), name
    as_json = run_cli("report", "last", "--format", "json", cwd=workspace)
    assert json.loads(as_json.stdout)["deployment_readiness"]["status"] == "ready"


def test_prune_keeps_the_newest(tmp_path: Path, workspace: Path) -> None:
    wf = write(tmp_path, decision_workflow(0))
    for _ in range(3):
        run_cli("run", str(wf), "--headless", "--workspace", str(workspace), cwd=tmp_path)
    assert run_cli("prune", cwd=workspace).returncode == 2
    result = run_cli("prune", "--keep", "1", cwd=workspace)
    assert result.returncode == 0, result.stderr
    assert "deleted 2 runs" in result.stdout
    assert len(json.loads(run_cli("runs", "--json", cwd=workspace).stdout)) == 1
    assert len(list((workspace / ".phaseboard" / "runs").iterdir())) == 1


def test_slice_runs_only_the_named_stages(tmp_path: Path, workspace: Path) -> None:
    wf = write(tmp_path, decision_workflow(0))
    result = run_cli(
        "run", str(wf), "--headless", "--until", "work", "--workspace", str(workspace), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    status = json.loads(run_cli_here("status", "last", "--json", cwd=workspace).stdout)
    assert [s["status"] for s in status["stages"]] == ["succeeded", "pending"]


def test_unknown_command_lists_only_the_commands_users_have(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from tui.cli.main import build_parser

    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args(["frobnicate"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'frobnicate'" in err and "'rollback'" in err
    assert "engine" not in err
    assert build_parser().parse_args(["engine", "r1"]).run == "r1"
    help_text = build_parser().format_help()
    assert "rollback" in help_text and "engine" not in help_text and "SUPPRESS" not in help_text
