"""Analysis agent 3, Infrastructure and Testing: test files and runner, CI configuration, the
runtime versions actually configured, free disk and memory, ``pytest --collect-only`` (bounded),
and an import-time baseline the testing phase compares against.

``runtime.<name>`` lists the versions configured or tested (``.python-version``, CI matrices, tox
and nox environments, Dockerfile, the workspace's virtualenv), under the same path as the
architecture agent's declared range, with ``evidence`` saying where each was read. A declared
lower bound that no CI, tox or nox job tests is a risk, not a conflict.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import time
from typing import Any

import agentlib
import manifests
import project_exec
import repo_scan
import runtimes
import suite_env
from repo_scan import Repo, is_test_file, risk

CI_PROVIDERS = {
    ".github/": "GitHub Actions", ".gitlab-ci": "GitLab CI", ".circleci/": "CircleCI",
    "Jenkinsfile": "Jenkins", "azure-pipelines": "Azure Pipelines", ".travis": "Travis CI",
    "bitbucket-pipelines": "Bitbucket Pipelines", ".drone": "Drone",
}  # fmt: skip
_COLLECTED = re.compile(r"(\d+) tests? collected|collected (\d+) items?")
_ERRORS = re.compile(r"(\d+) errors?\b")
_MISSING = re.compile(r"No module named '([\w]+)")


def test_runners(repo: Repo, tests: list[str]) -> list[str]:
    """Test runners the project is set up for, the most likely first."""
    runners = []
    pyproject = repo.toml("pyproject.toml")
    python_deps = {
        d["name"].lower() for d in manifests.declared_dependencies(repo).get("python", [])
    }
    if (
        "pytest" in pyproject.get("tool", {})
        or repo.exists("pytest.ini")
        or repo.matching("conftest.py")
        or "[pytest]" in (repo.text("tox.ini") or "")
        or "[tool:pytest]" in (repo.text("setup.cfg") or "")
        or "pytest" in python_deps
    ):
        runners.append("pytest")
    python_tests = [t for t in tests if t.endswith(".py")]
    if any("unittest" in (repo.text(t) or "") for t in python_tests):
        runners.append("unittest")
    elif python_tests and not runners:
        runners.append("pytest")
    script = (manifests.package_json(repo).get("scripts") or {}).get("test", "")
    if script and "no test specified" not in script:
        runners.append("npm test")
    if any(t.endswith("_test.go") for t in tests):
        runners.append("go test")
    if repo.exists("Cargo.toml"):
        runners.append("cargo test")
    return runners


def collect(repo: Repo, timeout: float) -> dict[str, Any]:
    """What ``pytest --collect-only`` finds, bounded by ``timeout`` seconds, in the environment
    the testing phase will run the suite in (the workspace's own, else phaseboard's)."""
    plan = suite_env.python_plan(repo)
    environment = {"kind": plan.kind, "python": plan.python, "why": plan.why}
    if plan.not_run:
        return {
            "ran": False,
            "reason": plan.not_run,
            "unverified": plan.not_run,
            "environment": environment,
        }
    if plan.runner != "pytest" or plan.python is None:
        return {
            "ran": False,
            "reason": "pytest is not importable there",
            "environment": environment,
        }
    argv = [plan.python, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]
    done = project_exec.run_bounded(argv, repo.root, timeout, plan.env)
    tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-3:])
    collected = next((int(a or b) for a, b in _COLLECTED.findall(done.stdout)), 0)
    lines = done.stdout.strip().splitlines()
    errors = sum(int(n) for n in _ERRORS.findall(lines[-1])) if lines else 0
    found: dict[str, Any] = {
        "ran": True,
        "collected": collected,
        "errors": errors,
        "exit_code": done.returncode,
        "duration_s": done.duration_s,
        "timed_out": done.timed_out,
        "tail": tail[-500:],
        "environment": environment,
    }
    own = {name.split(".")[0] for name in repo.python_modules}
    missing = sorted(set(_MISSING.findall(done.stdout + done.stderr)) - own)
    if errors and plan.kind == "phaseboard" and missing:
        found["unverified"] = (
            f"phaseboard's interpreter lacks {', '.join(missing)}, which the tests import; the "
            "workspace has no environment of its own to collect them in"
        )
    return found


def resources(root: Any) -> dict[str, Any]:
    disk = shutil.disk_usage(root)
    found: dict[str, Any] = {
        "disk_free_mb": disk.free // 2**20,
        "disk_total_mb": disk.total // 2**20,
        "cpu_count": os.cpu_count() or 1,
    }
    meminfo = {}
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                key, _, value = line.partition(":")
                meminfo[key] = int(value.split()[0]) // 1024
    except (OSError, ValueError, IndexError):
        pass
    if meminfo:
        found["memory_total_mb"] = meminfo.get("MemTotal")
        found["memory_available_mb"] = meminfo.get("MemAvailable", meminfo.get("MemFree"))
    if hasattr(os, "getloadavg"):
        found["load_avg"] = [round(x, 2) for x in os.getloadavg()]
    return found


def infra_risks(
    tests: list[str],
    ci: list[str],
    configured: dict[str, Any],
    res: dict[str, Any],
    collected: dict[str, Any],
    has_python: bool,
) -> list[dict[str, str]]:
    risks = []
    if not tests:
        risks.append(risk("infra.no_tests", "high", "No test files found"))
    if not ci:
        risks.append(risk("infra.no_ci", "medium", "No CI configuration found"))
    if collected.get("unverified"):
        risks.append(
            risk(
                "infra.collect_unverified", "medium", "Tests not collected", collected["unverified"]
            )
        )
    elif collected.get("errors"):
        risks.append(
            risk(
                "infra.collect_errors",
                "high",
                f"{collected['errors']} test collection error(s)",
                collected.get("tail", ""),
            )
        )
    if collected.get("timed_out"):
        risks.append(risk("infra.collect_timeout", "medium", "Test collection timed out"))
    if has_python and "python" not in configured:
        risks.append(risk("infra.python_unconfigured", "low", "No Python version configured"))
    if res["disk_free_mb"] < 1024:
        risks.append(risk("infra.low_disk", "high", f"Only {res['disk_free_mb']} MB disk free"))
    if res.get("memory_available_mb") is not None and res["memory_available_mb"] < 512:
        title = f"Only {res['memory_available_mb']} MB memory available"
        risks.append(risk("infra.low_memory", "medium", title))
    return risks


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def untested_lower_bounds(
    declared: dict[str, Any], configured: dict[str, list[dict[str, Any]]]
) -> list[dict[str, str]]:
    """A declared lower bound below every version a CI, tox or nox job tests: users on that
    version run code nobody tested. A risk (medium), not a conflict: both statements hold."""
    risks = []
    for name, item in declared.items():
        tested = [c for c in configured.get(name, []) if c.get("tested")]
        bound = runtimes.lower_bound(item["spec"])
        if not tested or bound is None:
            continue
        lowest = min(tested, key=lambda c: _version_key(c["version"]))
        if _version_key(lowest["version"]) > bound[: len(_version_key(lowest["version"]))]:
            risks.append(
                risk(
                    f"infra.{name}_lower_bound_untested",
                    "medium",
                    f"{item['source']} admits {name} {item['spec']}, but the lowest version "
                    f"tested is {lowest['version']}",
                    f"tested in {', '.join(sorted({c['source'] for c in tested}))}",
                )
            )
    return risks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--collect-timeout", type=float, default=60.0)
    root, args = repo_scan.start("infrastructure and testing analysis", parser)
    started = time.monotonic()
    repo = Repo(root, max_depth=repo_scan.depth_limit())
    tests = [rel for rel in repo.source_files() if is_test_file(rel)]
    runners = test_runners(repo, tests)
    ci = manifests.ci_files(repo)
    agentlib.progress(f"{len(tests)} test files, runners: {', '.join(runners) or 'none'}")
    configured = runtimes.configured_runtimes(repo)
    res = resources(root)
    agentlib.progress(
        f"{res['disk_free_mb']} MB disk free, {res.get('memory_available_mb')} MB memory"
    )

    has_python_tests = any(t.endswith(".py") for t in tests)
    collected: dict[str, Any] = {"ran": False, "reason": "no Python tests"}
    if has_python_tests:
        agentlib.progress("collecting tests with pytest --collect-only")
        collected = collect(repo, args.collect_timeout)
        agentlib.progress(f"collected {collected.get('collected', 0)} tests")
    packages = repo_scan.top_packages(repo)[:3]
    baseline = project_exec.import_times(repo, packages) if packages else {}
    if baseline:
        agentlib.progress(f"import-time baseline: {baseline}")

    findings = {
        "tests": {
            "files": len(tests),
            "examples": tests[:10],
            "runner": runners[0] if runners else None,
            "runners": runners,
        },
        "ci": {
            "files": ci,
            "providers": sorted({n for key, n in CI_PROVIDERS.items() for f in ci if key in f}),
            "python_matrix": [
                c["version"] for c in configured.get("python", []) if c["source"] in ci
            ],
        },
        "configured_runtime": configured,
        "runtime": {
            name: sorted({i["version"] for i in items}, key=_version_key)
            for name, items in configured.items()
        },
        "environment": {
            "interpreter": platform.python_version(),
            "implementation": platform.python_implementation(),
            "platform": platform.platform(terse=True),
        },
        "resources": res,
        "collect": collected,
        "performance": {"import_s": baseline},
    }
    runtime = "; ".join(
        f"{k} {', '.join(findings['runtime'][k])} ({', '.join(dict.fromkeys(i['source'] for i in v))})"
        for k, v in configured.items()
    )
    agentlib.result(
        {
            "summary": (
                f"{len(tests)} test files ({', '.join(runners) or 'no runner'}), "
                f"{len(ci)} CI files; configured runtime: {runtime or 'none'}; "
                f"{res['disk_free_mb']} MB disk free"
            ),
            "findings": findings,
            "risks": infra_risks(
                tests, ci, configured, res, collected, bool(repo.source_files("python"))
            )
            + untested_lower_bounds(runtimes.declared_runtimes(repo), configured),
            "dependencies": [f"tool:{r}" for r in runners],
            "metrics": {
                "files": len(repo.files),
                "duration_ms": repo_scan.elapsed_ms(started),
                "collect_s": collected.get("duration_s", 0.0),
            },
            "evidence": {
                f"runtime.{name}": [
                    {
                        "file": i["source"],
                        "line": i["line"],
                        "text": i["text"],
                        "value": i["version"],
                    }
                    for i in items
                ]
                for name, items in configured.items()
            },
        }
    )


if __name__ == "__main__":
    main()
