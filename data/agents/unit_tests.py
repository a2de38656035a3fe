"""Testing agent 1, Unit and Integration: run the workspace's own tests, in its own environment,
with a timeout, and tell what happened as it is.

:mod:`suite_env` chooses the command (a ``--test-command``, the project's virtual environment,
phaseboard's interpreter only as a last resort; npm, go or cargo outside Python) and
:mod:`suite_output` reads its output as it is printed, so a suite stopped at its timeout still
reports what ran. A suite that could not be run (no toolchain, dependencies not installed, a
package phaseboard's interpreter lacks) is ``not_run`` with the reason and no counts: "0 failed"
would be a claim nobody checked. Line coverage only when the chosen environment has ``coverage``
(nothing is ever installed); caches and bytecode are kept out of the workspace. The attempt
succeeds whatever the tests say: failing tests are findings (and a high risk), judged by the
production-readiness checkpoint.
"""

from __future__ import annotations

import argparse
import json
import shlex
import tempfile
import time
from pathlib import Path
from typing import Any

import agentlib
import project_exec
import repo_scan
import suite_env
from project_exec import Completed
from repo_scan import Repo, is_test_file, risk
from suite_env import Plan
from suite_output import KEYS, Tally

MAX_DEPTH = 2
"""Test runs of bundled agents nested this deep are not started (a suite that runs itself)."""
PROGRESS_EVERY_TESTS = 200
NO_TESTS = "no tests found"
RUNNER_NO_TESTS = "no tests found by the runner"
PYTEST_STYLE = (
    "phaseboard's interpreter has no pytest, and unittest finds no tests here (they are written "
    "for pytest): create the workspace's own environment (.venv) or set test_command"
)


def findings(plan: Plan | None, status: str, reason: str = "") -> dict[str, Any]:
    """The ``tests`` findings of a suite that did not run (counts None), to be filled by a run."""
    return {
        "status": status,
        "reason": reason,
        "runner": plan.runner if plan else None,
        "command": plan.command if plan and plan.argv else "",
        "environment": {
            "kind": plan.kind if plan else None,
            "python": plan.python if plan else None,
            "why": plan.why if plan else "",
        },
        **dict.fromkeys(("collected", *KEYS, "not_run")),
        "failing": [],
        "reported_warnings": None,
        "duration_s": 0.0,
        "exit_code": None,
        "timed_out": False,
        "output_tail": "",
    }


def run_suite(
    repo: Repo, plan: Plan, timeout: float, every_s: float, scratch: Path
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(tests findings, coverage findings) of one bounded run, read as it goes."""
    data_file = scratch / "coverage.data" if plan.coverage else None
    argv = plan.argv
    if data_file is not None and plan.python:
        argv = [plan.python, "-m", "coverage", "run", f"--data-file={data_file}", *argv[1:]]
    tally = Tally(plan.runner or "command")
    shown = {"at": time.monotonic(), "seen": 0}

    def tick() -> None:
        fresh = tally.seen - shown["seen"]
        due = time.monotonic() - shown["at"] >= every_s or fresh >= PROGRESS_EVERY_TESTS
        if fresh and due:
            agentlib.progress(tally.so_far())
            shown.update(at=time.monotonic(), seen=tally.seen)

    agentlib.progress(f"running: {shlex.join(argv)}")
    done = project_exec.run_streaming(
        argv, repo.root, timeout, plan.env, tally.feed, tick, min(1.0, every_s)
    )
    tests = verdict(repo, plan, tally, done, timeout)
    tests["command"] = shlex.join(argv)  # with coverage's wrapper when it measured the run
    coverage: dict[str, Any] = {"percent": None, "reason": no_coverage(plan, tests)}
    if data_file is not None and tests["status"] in ("passed", "failed") and not done.timed_out:
        coverage = coverage_findings(repo, plan, data_file)
    return tests, coverage


def no_coverage(plan: Plan, tests: dict[str, Any]) -> str:
    """Why this run's coverage was not measured (only read when it was not)."""
    if plan.kind == "param":
        return "the test_command parameter runs as it is, not under coverage.py"
    if plan.runner not in ("pytest", "unittest"):
        return f"coverage is measured for Python suites only (this one runs {plan.runner})"
    if not plan.coverage:
        where = plan.label.removeprefix("in ").removeprefix("with ")
        return f"coverage is not installed in {where} (phaseboard installs nothing)"
    if tests["timed_out"]:
        return "the suite was stopped at its timeout"
    return "the tests were not run" if tests["status"] == "not_run" else "the suite did not finish"


def verdict(
    repo: Repo, plan: Plan, tally: Tally, done: Completed, timeout: float
) -> dict[str, Any]:
    partial = partly_unimportable(repo, plan, tally)
    reason = "" if partial else cannot_run(repo, plan, tally, done)
    tests = findings(plan, "not_run", reason)
    tests.update(
        duration_s=done.duration_s,
        exit_code=done.returncode,
        timed_out=done.timed_out,
        output_tail="\n".join((done.stdout + done.stderr).strip().splitlines()[-30:])[-3000:],
    )
    if reason:
        return tests
    counts = tally.counts(done.timed_out)
    tests.update(counts, failing=tally.failing)
    if partial:  # unittest ran the other modules: their results stand, the rest is not run
        counts["errors"] = max(0, (counts["errors"] or 0) - len(tally.import_failures))
        failing = [t for t in tally.failing if t not in tally.import_failures]
        tests.update(counts, failing=failing)
        if not (counts["failed"] or counts["errors"]):
            tests.update(status="incomplete", reason=partial)
            return tests
    none_ran = counts["passed"] is not None and not sum(counts[k] for k in KEYS)
    if (counts["failed"] or counts["errors"]) and done.returncode == 0 and not done.timed_out:
        # the runner says the suite passed: lines read as failures were something else
        tests["reason"] = (
            f"exit status 0; {len(tally.failing)} line(s) that looked like failures were not "
            f"counted: {'; '.join(tally.failing[:3])}"
        )
        counts.update(failed=0, errors=0)
        tests.update(counts, failing=[])
    if counts["failed"] or counts["errors"]:
        tests["status"] = "failed"
    elif done.timed_out:
        tests["status"] = "incomplete"
        tests["reason"] = f"stopped at the {timeout:g}s timeout before the suite finished"
    elif done.returncode == 5 and plan.runner in ("pytest", "unittest"):  # no tests collected
        tests["status"], tests["reason"] = "not_run", RUNNER_NO_TESTS
    elif done.returncode != 0 and not partial:
        tests["status"] = "failed"
    elif none_ran and plan.kind == "phaseboard" and plan.runner == "unittest":
        tests["status"], tests["reason"] = "not_run", PYTEST_STYLE
    else:
        tests["status"], tests["reason"] = (
            ("not_run", RUNNER_NO_TESTS) if none_ran else ("passed", partial)
        )
    return tests


def partly_unimportable(repo: Repo, plan: Plan, tally: Tally) -> str:
    """Under phaseboard's interpreter, unittest runs the modules it can import: when the others
    fail only for a third-party package it lacks, why they were not run; else ""."""
    if plan.kind != "phaseboard" or not tally.import_failures:
        return ""
    own = {name.split(".")[0] for name in repo.python_modules}
    foreign = [m for m in tally.missing_modules if m not in own]
    if not foreign or len(foreign) != len(tally.missing_modules):
        return ""
    if tally.seen <= len(tally.import_failures):
        return ""  # nothing else ran: the whole suite is not run (cannot_run says why)
    return (
        f"{len(tally.import_failures)} test module(s) not run "
        f"({', '.join(tally.import_failures[:5])}): phaseboard's interpreter lacks "
        f"{', '.join(foreign)}; create the workspace's own environment (.venv) or set test_command"
    )


def cannot_run(repo: Repo, plan: Plan, tally: Tally, done: Completed) -> str:
    """Why this run says nothing about the project's tests, or "" when it does."""
    if done.returncode is None and not done.timed_out:
        return f"could not start {plan.argv[0]}: {done.stderr.strip()}"
    if plan.runner == "cargo" and tally.unresolved and not tally.seen:
        return "crates could not be resolved offline (cargo test --offline): run cargo fetch"
    if plan.kind != "phaseboard":
        return ""  # in the project's own environment, a collection error is the project's
    own = {name.split(".")[0] for name in repo.python_modules}
    foreign = [m for m in tally.missing_modules if m not in own]
    if tally.collection_error and foreign and len(foreign) == len(tally.missing_modules):
        return (
            f"phaseboard's interpreter lacks {', '.join(foreign)}, which the tests import, and "
            "the workspace has no environment of its own (create .venv or set test_command)"
        )
    if plan.runner == "pytest" and done.returncode == 4 and not tally.seen:
        last = (done.stdout.strip().splitlines() or ["exit code 4"])[-1]
        return f"pytest could not start with phaseboard's interpreter ({last})"
    return ""


def coverage_findings(repo: Repo, plan: Plan, data_file: Path) -> dict[str, Any]:
    """coverage.py's total for the run, as it reports it with the project's own configuration:
    ``percent``, what it measured (``line``, or ``line and branch`` where the project turns branch
    coverage on) and the statement counts; ``percent`` None and the reason when it could not."""
    report = data_file.with_suffix(".json")
    argv = [str(plan.python), "-m", "coverage", "json", f"--data-file={data_file}"]
    done = project_exec.run_bounded([*argv, "-o", str(report)], repo.root, 60, plan.env)
    if done.returncode != 0 or not report.exists():
        why = (done.stderr.strip().splitlines() or [f"exit code {done.returncode}"])[-1]
        return {"percent": None, "reason": f"coverage.py could not report: {why[:200]}"}
    data = json.loads(report.read_text(encoding="utf-8"))
    totals = data.get("totals", {})
    if totals.get("percent_covered") is None:
        return {"percent": None, "reason": "coverage.py reported no total"}
    branch = bool(data.get("meta", {}).get("branch_coverage"))
    return {
        "percent": round(float(totals["percent_covered"]), 1),
        "tool": "coverage.py",
        "measure": "line and branch" if branch else "line",
        "covered_lines": totals.get("covered_lines"),
        "statements": totals.get("num_statements"),
    }


def assess(tests: dict[str, Any], timeout: float, where: str) -> tuple[str, list[dict[str, str]]]:
    """The summary line and the risks of a finished (or not started) run."""
    status, reason = tests["status"], tests["reason"]
    risks = []
    if status == "not_run":
        if reason in (NO_TESTS, RUNNER_NO_TESTS):
            risks.append(risk("unit.no_tests", "medium", "No tests to run", reason))
        else:
            risks.append(risk("unit.not_run", "medium", "Tests could not be run", reason))
        return f"not run: {reason}", risks
    counts = ", ".join(f"{tests[k]} {k}" for k in KEYS) if tests["passed"] is not None else ""
    counts = counts or f"no counts printed, exit code {tests['exit_code']}"
    if tests["not_run"]:
        counts += f", {tests['not_run']} not run"
    if tests["timed_out"]:
        counts += f" (stopped at the {timeout:g}s timeout)"
        title = f"Tests stopped at the {timeout:g}s timeout"
        risks.append(risk("unit.timeout", "medium", title, f"{tests['not_run']} tests not run"))
    elif status == "incomplete" or (status == "passed" and reason):
        risks.append(risk("unit.incomplete", "medium", "Part of the suite was not run", reason))
    if status == "failed":
        title = (
            f"{tests['failed']} failing test(s), {tests['errors']} error(s)"
            if tests["passed"] is not None
            else f"The test run failed (exit code {tests['exit_code']})"
        )
        detail = "\n".join([*tests["failing"][:10], tests["output_tail"][-500:]])
        risks.append(risk("unit.failures", "high", title, detail.strip()))
    return f"tests {status}: {' '.join(filter(None, [tests['runner'], where]))}: {counts}", risks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--timeout", type=float, default=240.0, help="seconds for the whole run")
    parser.add_argument("--test-command", default="", help="shell command running the tests")
    parser.add_argument("--progress-every", type=float, default=5.0, help="seconds between lines")
    root, args = repo_scan.start("unit and integration tests", parser)
    started = time.monotonic()
    repo = Repo(root)
    coverage: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="phaseboard-tests-") as tmp:
        plan = None
        if project_exec.test_depth() >= MAX_DEPTH:
            tests = findings(None, "not_run", "nested inside another agent's test run")
        elif (plan := suite_env.choose(repo, args.test_command, Path(tmp))) is None:
            tests = findings(None, "not_run", NO_TESTS)
        elif plan.not_run:
            tests = findings(plan, "not_run", plan.not_run)
        else:
            agentlib.progress(f"environment: {plan.why}")
            tests, coverage = run_suite(repo, plan, args.timeout, args.progress_every, Path(tmp))
    summary, risks = assess(tests, args.timeout, plan.label if plan else "")
    agentlib.progress(summary)
    test_files = [f for f in repo.files if is_test_file(f)]
    result: dict[str, Any] = {"tests": tests, **({"coverage": coverage} if coverage else {})}
    percent = coverage.get("percent")
    agentlib.result(
        {
            "summary": summary + (f"; coverage {percent}%" if percent is not None else ""),
            "findings": result,
            "risks": risks,
            "dependencies": [f"tool:{tests['runner']}"] if tests["runner"] else [],
            "metrics": {
                "duration_ms": repo_scan.elapsed_ms(started),
                "test_files": len(test_files),
            },
        }
    )


if __name__ == "__main__":
    main()
