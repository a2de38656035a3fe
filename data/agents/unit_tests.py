"""Testing agent 1, Unit and Integration: run the workspace's own Python tests, with a timeout.

pytest (``{python} -m pytest -q``) when this interpreter can import it, else unittest discovery;
line coverage only when ``coverage`` is importable (nothing is ever installed). Caches and
bytecode are kept out of the workspace. The attempt succeeds whatever the tests say: failing tests
are findings (and a high risk), judged by the production-readiness checkpoint.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import agentlib
import project_exec
import repo_scan
from project_exec import Completed
from repo_scan import Repo, is_test_file, risk

_PYTEST_COUNT = re.compile(
    r"(\d+) (passed|failed|errors?|skipped|warnings?|xfailed|xpassed|deselected)\b"
)
_UNITTEST_RAN = re.compile(r"^Ran (\d+) tests? in ([\d.]+)s", re.M)
_UNITTEST_STATUS = re.compile(r"^(OK|FAILED)(?: \((.*)\))?\s*$", re.M)
MAX_DEPTH = 2
"""Test runs of bundled agents nested this deep are not started (a suite that runs itself)."""


def parse_pytest(done: Completed) -> dict[str, Any]:
    counts = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0, "warnings": 0}
    lines = [ln for ln in done.stdout.strip().splitlines() if _PYTEST_COUNT.search(ln)]
    for number, word in _PYTEST_COUNT.findall(lines[-1] if lines else ""):
        key = {"error": "errors", "warning": "warnings", "xfailed": "skipped"}.get(word, word)
        if key in counts:
            counts[key] += int(number)
    if done.returncode not in (0, 1, 5) and not counts["failed"] + counts["errors"]:
        counts["errors"] = 1
    return counts


def parse_unittest(done: Completed) -> dict[str, Any]:
    counts = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0, "warnings": 0}
    text = done.stderr + done.stdout
    ran = _UNITTEST_RAN.search(text)
    status = _UNITTEST_STATUS.findall(text)
    details = dict(
        (key.strip(), int(value))
        for key, value in re.findall(r"(\w+)=(\d+)", status[-1][1] if status else "")
    )
    counts["failed"] = details.get("failures", 0) + details.get("unexpected_successes", 0)
    counts["errors"] = details.get("errors", 0)
    counts["skipped"] = details.get("skipped", 0) + details.get("expected_failures", 0)
    total = int(ran.group(1)) if ran else 0
    counts["passed"] = max(0, total - counts["failed"] - counts["errors"] - counts["skipped"])
    if done.returncode not in (0, 5) and not counts["failed"] + counts["errors"]:
        counts["errors"] = 1
    return counts


def command(runner: str, coverage_file: Path | None) -> list[str]:
    tail = (
        ["-m", "pytest", "-q", "-p", "no:cacheprovider"]
        if runner == "pytest"
        else ["-m", "unittest", "discover", "-t", "."]
    )
    if coverage_file is None:
        return [sys.executable, *tail]
    return [sys.executable, "-m", "coverage", "run", f"--data-file={coverage_file}", *tail]


def coverage_percent(repo: Repo, data_file: Path, timeout: float) -> float | None:
    report = data_file.with_suffix(".json")
    argv = [sys.executable, "-m", "coverage", "json", f"--data-file={data_file}", "-o", str(report)]
    done = project_exec.run_bounded(
        argv, repo.root, timeout, project_exec.child_env(repo, extra_path=False)
    )
    if done.returncode != 0 or not report.exists():
        return None
    totals = json.loads(report.read_text(encoding="utf-8")).get("totals", {})
    value = totals.get("percent_covered")
    return round(float(value), 1) if value is not None else None


def run_tests(repo: Repo, runner: str, timeout: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """(tests findings, coverage findings) of one bounded run."""
    with tempfile.TemporaryDirectory(prefix="phaseboard-cov-") as tmp:
        data_file = Path(tmp) / "coverage.data" if project_exec.has_module("coverage") else None
        argv = command(runner, data_file)
        agentlib.progress("running: " + " ".join(argv[1:]))
        done = project_exec.run_bounded(
            argv, repo.root, timeout, project_exec.child_env(repo, extra_path=False)
        )
        counts = parse_pytest(done) if runner == "pytest" else parse_unittest(done)
        coverage: dict[str, Any] = {}
        if data_file is not None and not done.timed_out:
            percent = coverage_percent(repo, data_file, 60)
            coverage = {"percent": percent} if percent is not None else {}
    tail = (done.stdout + done.stderr).strip().splitlines()[-30:]
    tests = {
        "runner": runner,
        **counts,
        "duration_s": done.duration_s,
        "exit_code": done.returncode,
        "timed_out": done.timed_out,
        "command": " ".join(["python", *argv[1:]]),
        "output_tail": "\n".join(tail)[-3000:],
    }
    return tests, coverage


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--timeout", type=float, default=240.0, help="seconds for the whole run")
    root, args = repo_scan.start("unit and integration tests", parser)
    started = time.monotonic()
    repo = Repo(root)
    test_files = [f for f in repo.source_files("python") if is_test_file(f)]
    other = [f for f in repo.files if is_test_file(f) and f not in set(test_files)]
    empty = {"passed": 0, "failed": 0, "errors": 0, "skipped": 0, "warnings": 0, "duration_s": 0}
    coverage: dict[str, Any] = {}
    risks = []
    if project_exec.test_depth() >= MAX_DEPTH:
        tests = {"runner": None, **empty, "note": "not run: nested inside another agent's test run"}
        risks.append(risk("unit.not_run", "medium", "Tests not run (nested test run)"))
    elif not test_files:
        note = "no Python tests found" + (
            f" ({len(other)} other test files not run)" if other else ""
        )
        tests = {"runner": None, **empty, "note": note}
        risks.append(risk("unit.no_tests", "medium", "No tests to run", note))
    else:
        runner = "pytest" if project_exec.has_module("pytest") else "unittest"
        tests, coverage = run_tests(repo, runner, args.timeout)
        agentlib.progress(
            f"{tests['passed']} passed, {tests['failed']} failed, {tests['errors']} errors, "
            f"{tests['warnings']} warnings in {tests['duration_s']}s"
        )
        if tests["timed_out"]:
            risks.append(risk("unit.timeout", "high", f"Tests timed out after {args.timeout}s"))
        if tests["failed"] or tests["errors"]:
            title = f"{tests['failed']} failing test(s), {tests['errors']} error(s)"
            risks.append(risk("unit.failures", "high", title, tests["output_tail"][-500:]))
    findings: dict[str, Any] = {"tests": tests}
    if coverage:
        findings["coverage"] = coverage
    summary = (
        f"{tests['runner']}: {tests['passed']} passed, {tests['failed']} failed, "
        f"{tests['errors']} errors, {tests['skipped']} skipped, {tests['warnings']} warnings"
        if tests["runner"]
        else str(tests["note"])
    )
    agentlib.result(
        {
            "summary": summary + (f"; coverage {coverage['percent']}%" if coverage else ""),
            "findings": findings,
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
