"""The testing phase's agents: unit tests, performance and security, documentation, and the
extended end-to-end and deployment agents."""

from __future__ import annotations

import importlib.util
import os
import subprocess
from pathlib import Path

import pytest

from tests.agents_std.harness import run_agent, run_agents, write_tree


def test_unit_tests_run_the_sample_suite_without_leaving_caches(sample_copy: Path) -> None:
    run = run_agent("unit_tests.py", sample_copy)

    assert run.returncode == 0, run.stderr
    tests = run.findings["tests"]
    assert tests["runner"] == "pytest" and tests["status"] == "passed"
    assert tests["environment"]["kind"] == "phaseboard"
    assert tests["passed"] == 7 and tests["failed"] == 0 and tests["errors"] == 0
    assert tests["collected"] == 7 and tests["not_run"] == 0 and tests["failing"] == []
    assert tests["reported_warnings"] == 0 and tests["duration_s"] > 0
    coverage = run.findings["coverage"]
    if importlib.util.find_spec("coverage") is None:  # the sample runs with this interpreter
        assert coverage == {
            "percent": None,
            "reason": "coverage is not installed in phaseboard's interpreter "
            "(phaseboard installs nothing)",
        }
    else:
        assert (coverage["tool"], coverage["measure"]) == ("coverage.py", "line")
        assert 0 < coverage["percent"] <= 100 and coverage["statements"] > 0
    assert run.result["risks"] == []
    assert not [p for p in sample_copy.rglob("*") if p.name in ("__pycache__", ".pytest_cache")]


def test_failing_tests_are_findings_and_a_high_risk(tmp_path: Path) -> None:
    repo = write_tree(
        tmp_path / "failing",
        {
            "test_math.py": """
                import warnings


                def test_ok():
                    warnings.warn("old api", DeprecationWarning)


                def test_wrong():
                    assert 1 + 1 == 3
            """
        },
    )

    run = run_agent("unit_tests.py", repo)

    assert run.returncode == 0
    tests = run.findings["tests"]
    assert (tests["passed"], tests["failed"], tests["reported_warnings"]) == (1, 1, 1)
    assert tests["status"] == "failed" and tests["failing"] == ["test_math.py::test_wrong"]
    assert run.risk_ids() == {"unit.failures": "high"}
    assert "test_wrong" in tests["output_tail"]


def python_without_pytest() -> str | None:
    """A Python 3.11+ on PATH that cannot import pytest, if there is one."""
    probe = "import sys\ntry:\n import pytest\nexcept ImportError:\n sys.exit(sys.version_info < (3, 11))\nsys.exit(1)"
    for folder in os.get_exec_path():
        python = Path(folder) / "python3"
        if python.is_file():
            done = subprocess.run([str(python), "-c", probe], capture_output=True, check=False)
            if done.returncode == 0:
                return str(python)
    return None


def test_unittest_is_used_when_pytest_is_not_importable(sample_copy: Path) -> None:
    python = python_without_pytest()
    if python is None:
        pytest.skip("no Python 3.11+ without pytest on PATH")

    run = run_agent("unit_tests.py", sample_copy, python=python)

    tests = run.findings["tests"]
    assert tests["runner"] == "unittest" and tests["status"] == "passed"
    assert tests["command"] == f"{python} -m unittest discover -v -t ."
    assert (tests["passed"], tests["failed"], tests["errors"]) == (7, 0, 0)


def test_no_tests_and_nested_runs_are_documented_not_run(
    empty_repo: Path, sample_copy: Path
) -> None:
    empty, nested = run_agents(
        ("unit_tests.py", empty_repo),
        ("unit_tests.py", sample_copy, {"PHASEBOARD_TEST_DEPTH": "2"}),
    )

    assert empty.findings["tests"]["runner"] is None
    assert empty.findings["tests"]["status"] == "not_run"
    assert empty.findings["tests"]["reason"] == "no tests found"
    assert empty.risk_ids() == {"unit.no_tests": "medium"}
    assert nested.findings["tests"]["status"] == "not_run"
    assert nested.findings["tests"]["reason"].startswith("nested")
    assert nested.findings["tests"]["failed"] is None
    assert nested.risk_ids() == {"unit.not_run": "medium"}


def test_security_finds_secrets_permissions_binaries_and_pins(risky_repo: Path) -> None:
    run = run_agent("security.py", risky_repo)

    assert run.returncode == 0, run.stderr
    security = run.findings["security"]
    kinds = {(s["path"], s["kind"], s["severity"]) for s in security["secrets"]}
    assert kinds == {
        ("settings.py", "github_token", "critical"),
        ("settings.py", "aws_access_key", "critical"),
    }
    assert "Zk3Zk3Zk3" not in run.stdout + run.stderr
    assert security["world_writable"] == ["shared.txt"]
    assert security["large_binaries"] == [{"path": "blob.bin", "mb": 1.0}]
    assert security["dependencies"]["unpinned"] == ["python:flask"]
    assert security["high_risk"] == 2
    assert run.risk_ids() == {
        "security.secrets_critical": "critical",
        "security.world_writable": "high",
        "security.large_binaries": "low",
        "security.unpinned_dependencies": "medium",
    }


def test_placeholder_secrets_and_test_fixtures_are_not_alarms(tmp_path: Path) -> None:
    fake = "hunter2" + "hunter2"
    repo = write_tree(
        tmp_path / "calm",
        {
            "config.py": 'password = "changeme-please"\napi_key = "<your key here>"\n',
            "tests/test_login.py": f'PASSWORD = "{fake}"\n',
        },
    )

    run = run_agent("security.py", repo)

    assert [(s["path"], s["severity"]) for s in run.findings["security"]["secrets"]] == [
        ("tests/test_login.py", "medium")
    ]
    assert run.findings["security"]["high_risk"] == 0


SLOW_IMPORT = """
import time

end = time.process_time() + 0.3
while time.process_time() < end:
    pass
"""


def test_security_reports_import_time_degradation_against_the_baseline(tmp_path: Path) -> None:
    repo = write_tree(
        tmp_path / "slow",
        {
            "slowpkg/__init__.py": SLOW_IMPORT,
            "slowpkg/core.py": "X = 1\n",
        },
    )

    def inputs(seconds: float) -> dict:
        result = {"findings": {"performance": {"import_s": {"slowpkg": seconds}}}}
        return {
            "params": {},
            "stages": {
                "analysis": {"kind": "agents", "agents": {"infrastructure": {"result": result}}}
            },
        }

    slower, same = (
        run_agent("security.py", repo, inputs=inputs(0.01)),
        run_agent("security.py", repo, inputs=inputs(5.0)),
    )

    assert slower.findings["performance"]["degradations"] == 1
    assert slower.risk_ids() == {"performance.import_slowpkg": "medium"}
    assert slower.findings["performance"]["import_s"]["slowpkg"] >= 0.3
    assert same.findings["performance"]["degradations"] == 0


def test_documentation_finds_broken_links_missing_sections_and_docstrings(
    risky_repo: Path, py_mismatch: Path
) -> None:
    risky, documented = run_agents(
        ("documentation.py", risky_repo), ("documentation.py", py_mismatch)
    )

    doc = risky.findings["documentation"]
    assert {(b["path"], b["target"]) for b in doc["broken_links"]} == {
        ("README.md", "docs/missing.md#top"),
        ("README.md", "img/logo.png"),
    }
    assert doc["readme"]["missing_sections"] == ["installation", "license", "usage"]
    assert doc["incomplete_items"] == [
        "README section missing: installation",
        "README section missing: license",
        "README section missing: usage",
        "broken links in README.md",
        "docstring coverage 0.0% < 50.0%",
        "no changelog",
    ]
    assert doc["incomplete"] == 6
    assert risky.risk_ids() == {"docs.broken_links": "medium", "docs.incomplete": "low"}
    good = documented.findings["documentation"]
    assert good["readme"]["missing_sections"] == []
    assert (good["docstrings"]["documented"], good["docstrings"]["total"]) == (6, 7)
    assert good["docstrings"]["missing"] == ["mismatch/util.py:4 helper"]
    assert good["incomplete_items"] == ["no changelog"]


def test_e2e_starts_entry_points_and_reports_failures(sample_copy: Path, tmp_path: Path) -> None:
    broken = write_tree(
        tmp_path / "broken",
        {
            "pyproject.toml": '[project]\nname = "b"\n[project.scripts]\nb = "bpkg.cli:main"\n',
            "bpkg/__init__.py": "",
            "bpkg/cli.py": "def main():\n    raise RuntimeError('boom')\n",
        },
    )

    good, bad = run_agents(("e2e.py", sample_copy), ("e2e.py", broken))

    assert [(r["entry"], r["ok"]) for r in good.findings["e2e"]["results"]] == [
        ("wordstat --help", True),
        ("python -m wordstat --help", True),
    ]
    assert "usage: wordstat" in good.findings["e2e"]["results"][0]["output_head"]
    assert bad.findings["e2e"]["failed"] == 1
    assert "RuntimeError: boom" in bad.findings["e2e"]["results"][0]["error_tail"]
    assert bad.risk_ids() == {"e2e.entry_points": "high"}


def test_deployment_validates_configs_and_looks_for_rollback_and_monitoring(
    risky_repo: Path, polyglot: Path
) -> None:
    (polyglot / "docs").mkdir()
    (polyglot / "docs" / "RUNBOOK.md").write_text("# Runbook\n\nTo roll back, redeploy the tag.\n")
    (polyglot / "bad.toml").write_text("key = [unclosed\n")

    risky, poly = run_agents(("deployment.py", risky_repo), ("deployment.py", polyglot))

    deployment = risky.findings["deployment"]
    assert [i["path"] for i in deployment["configs"]["invalid"]] == ["config.json"]
    assert risky.risk_ids() == {
        "deploy.invalid_config": "high",
        "deploy.no_rollback_procedure": "medium",
        "deploy.no_monitoring": "low",
    }
    deployment = poly.findings["deployment"]
    assert [i["path"] for i in deployment["configs"]["invalid"]] == ["bad.toml"]
    assert deployment["rollback"] == {"present": True, "evidence": ["docs/RUNBOOK.md"]}
    assert deployment["monitoring"]["evidence"] == ["Dockerfile"]
    assert {"Dockerfile", "docker-compose.yml"} <= set(deployment["artifacts"])


def test_unpinned_development_tools_are_a_low_risk(tmp_path: Path) -> None:
    """more-itertools and python-dotenv list their tools (ruff, tox) without versions in
    requirements/dev files; that changes only what a developer installs."""
    repo = write_tree(
        tmp_path / "tools",
        {
            "pyproject.toml": '[project]\nname = "t"\ndependencies = ["attrs>=23"]\n',
            "requirements/dev.txt": "ruff\ntox\n",
        },
    )
    run = run_agent("security.py", repo)
    assert run.findings["security"]["dependencies"]["unpinned"] == [
        "python:ruff (dev)",
        "python:tox (dev)",
    ]
    assert run.risk_ids() == {"security.unpinned_dependencies": "low"}
