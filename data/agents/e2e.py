"""Extended testing agent 4, End-to-End: start each entry point of the project the way a user would
(``--help`` of console scripts, ``python -m PACKAGE --help``, ``node BIN --help``), bounded by a
timeout, and check it starts and exits cleanly.

Console scripts are called through their ``module:function`` target with the project's source
roots on the path, so nothing has to be installed. Python entry points run with the interpreter
the testing phase uses (the workspace's own environment first, see :mod:`suite_env`); with
phaseboard's fallback interpreter, an entry point that fails only because a third-party package
is missing is reported as not checked, not as failing.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import time
from typing import Any

import agentlib
import manifests
import project_exec
import repo_scan
import suite_env
from repo_scan import Repo, risk

CALL_TARGET = """
import importlib, sys
module, _, attr = sys.argv[1].partition(":")
target = importlib.import_module(module)
for part in filter(None, attr.split(".")):
    target = getattr(target, part)
sys.argv = [sys.argv[2], "--help"]
sys.exit(target())
"""
MAX_CHECKS = 5
_MISSING = re.compile(r"No module named '(\w+)")


def checks(repo: Repo, python: str) -> list[tuple[str, list[str]]]:
    """(label, argv) for each entry point worth starting, console scripts first."""
    found: list[tuple[str, list[str]]] = []
    pyproject = repo.toml("pyproject.toml")
    scripts = dict(pyproject.get("project", {}).get("scripts", {}))
    scripts.update(pyproject.get("tool", {}).get("poetry", {}).get("scripts", {}))
    for name, target in scripts.items():
        if isinstance(target, str) and ":" in target:
            found.append((f"{name} --help", [python, "-c", CALL_TARGET, target, name]))
    for module, rel in sorted(repo.python_modules.items()):
        if rel.endswith("__main__.py") and "." in module:
            package = module.rpartition(".")[0]
            found.append((f"python -m {package} --help", [python, "-m", package, "--help"]))
    node = shutil.which("node")
    bins = manifests.package_json(repo).get("bin")
    if node and bins:
        for name, target in (bins if isinstance(bins, dict) else {"bin": bins}).items():
            found.append((f"{name} --help", [node, str(repo.path(str(target))), "--help"]))
    return found[:MAX_CHECKS]


def run_check(
    repo: Repo, label: str, argv: list[str], timeout: float, fallback: bool
) -> dict[str, Any]:
    """Start one entry point; ``fallback`` when it runs with phaseboard's own interpreter."""
    agentlib.progress(f"starting {label}")
    done = project_exec.run_bounded(argv, repo.root, timeout, project_exec.child_env(repo))
    output = (done.stdout or done.stderr).strip()
    ok = done.returncode == 0 and bool(output) and not done.timed_out
    own = {name.split(".")[0] for name in repo.python_modules}
    missing = sorted(set(_MISSING.findall(done.stderr)) - own)
    unchecked = (
        f"phaseboard's interpreter lacks {', '.join(missing)}; the workspace has no environment"
        if not ok and fallback and missing
        else ""
    )
    state = "ok" if ok else "NOT CHECKED" if unchecked else "FAILED"
    agentlib.progress(f"{label}: {state} (exit {done.returncode})")
    return {
        "entry": label,
        "ok": ok,
        "unchecked": unchecked,
        "exit_code": done.returncode,
        "timed_out": done.timed_out,
        "duration_s": done.duration_s,
        "output_head": "\n".join(output.splitlines()[:5])[:500],
        "error_tail": "" if ok else "\n".join(done.stderr.strip().splitlines()[-5:])[:800],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per entry point")
    root, args = repo_scan.start("end-to-end checks", parser)
    started = time.monotonic()
    repo = Repo(root)
    plan = suite_env.python_plan(repo) if repo.python_modules else None
    python = (plan.python if plan else None) or sys.executable
    fallback = plan is None or plan.kind == "phaseboard"
    results = [
        {"entry": label, "ok": False, "unchecked": plan.not_run}
        if plan and plan.not_run  # phaseboard's interpreter would run an installed copy
        else run_check(repo, label, argv, args.timeout, fallback)
        for label, argv in checks(repo, python)
    ]
    failed = [r for r in results if not r["ok"] and not r["unchecked"]]
    unchecked = [r for r in results if r["unchecked"]]
    risks = []
    if failed:
        names = ", ".join(r["entry"] for r in failed)
        risks.append(risk("e2e.entry_points", "high", f"{len(failed)} entry point(s) fail", names))
    if unchecked:
        names = ", ".join(r["entry"] for r in unchecked)
        detail = f"{names}: {unchecked[0]['unchecked']}"
        risks.append(
            risk(
                "e2e.not_checked", "medium", f"{len(unchecked)} entry point(s) not checked", detail
            )
        )
    elif not results:
        risks.append(risk("e2e.nothing_to_start", "low", "No entry point could be started"))
    agentlib.result(
        {
            "summary": (
                f"{len(results) - len(failed) - len(unchecked)}/{len(results)} entry points "
                f"start and exit cleanly" + (f", {len(unchecked)} not checked" if unchecked else "")
            ),
            "findings": {
                "e2e": {
                    "checked": len(results) - len(unchecked),
                    "passed": len(results) - len(failed) - len(unchecked),
                    "failed": len(failed),
                    "not_checked": len(unchecked),
                    "environment": {"kind": plan.kind, "python": python} if plan else None,
                    "results": results,
                }
            },
            "risks": risks,
            "dependencies": [],
            "metrics": {"duration_ms": repo_scan.elapsed_ms(started)},
        }
    )


if __name__ == "__main__":
    main()
