"""Extended testing agent 4, End-to-End: start each entry point of the project the way a user would
(``--help`` of console scripts, ``python -m PACKAGE --help``, ``node BIN --help``), bounded by a
timeout, and check it starts and exits cleanly.

Console scripts are called through their ``module:function`` target with the project's source
roots on the path, so nothing has to be installed.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from typing import Any

import agentlib
import manifests
import project_exec
import repo_scan
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


def checks(repo: Repo) -> list[tuple[str, list[str]]]:
    """(label, argv) for each entry point worth starting, console scripts first."""
    found: list[tuple[str, list[str]]] = []
    pyproject = repo.toml("pyproject.toml")
    scripts = dict(pyproject.get("project", {}).get("scripts", {}))
    scripts.update(pyproject.get("tool", {}).get("poetry", {}).get("scripts", {}))
    for name, target in scripts.items():
        if isinstance(target, str) and ":" in target:
            found.append((f"{name} --help", [sys.executable, "-c", CALL_TARGET, target, name]))
    for module, rel in sorted(repo.python_modules.items()):
        if rel.endswith("__main__.py") and "." in module:
            package = module.rpartition(".")[0]
            found.append((f"python -m {package} --help", [sys.executable, "-m", package, "--help"]))
    node = shutil.which("node")
    bins = manifests.package_json(repo).get("bin")
    if node and bins:
        for name, target in (bins if isinstance(bins, dict) else {"bin": bins}).items():
            found.append((f"{name} --help", [node, str(repo.path(str(target))), "--help"]))
    return found[:MAX_CHECKS]


def run_check(repo: Repo, label: str, argv: list[str], timeout: float) -> dict[str, Any]:
    agentlib.progress(f"starting {label}")
    done = project_exec.run_bounded(argv, repo.root, timeout, project_exec.child_env(repo))
    output = (done.stdout or done.stderr).strip()
    ok = done.returncode == 0 and bool(output) and not done.timed_out
    agentlib.progress(f"{label}: {'ok' if ok else 'FAILED'} (exit {done.returncode})")
    return {
        "entry": label,
        "ok": ok,
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
    results = [run_check(repo, label, argv, args.timeout) for label, argv in checks(repo)]
    failed = [r for r in results if not r["ok"]]
    risks = []
    if failed:
        names = ", ".join(r["entry"] for r in failed)
        risks.append(risk("e2e.entry_points", "high", f"{len(failed)} entry point(s) fail", names))
    elif not results:
        risks.append(risk("e2e.nothing_to_start", "low", "No entry point could be started"))
    agentlib.result(
        {
            "summary": (
                f"{len(results) - len(failed)}/{len(results)} entry points start and exit cleanly"
            ),
            "findings": {
                "e2e": {
                    "checked": len(results),
                    "passed": len(results) - len(failed),
                    "failed": len(failed),
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
