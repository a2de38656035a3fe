"""The three analysis agents on small fixture repositories."""

from __future__ import annotations

import json
from pathlib import Path

from engine.consolidation.merge import consolidate
from tests.agents_std.harness import run_agent, run_agents, write_tree


def test_architecture_finds_packages_entry_points_dependencies_and_edges(py_mismatch: Path) -> None:
    run = run_agent("architecture.py", py_mismatch)

    assert run.returncode == 0, run.stderr
    f = run.findings
    assert [c["name"] for c in f["components"]] == ["mismatch"]
    assert {"name": "mm", "kind": "console_script", "target": "mismatch.cli:main"} in f[
        "entry_points"
    ]
    assert {d["name"]: d["spec"] for d in f["dependencies"]["python"]} == {
        "requests": ">=2.31",
        "click": "",
    }
    edges = {tuple(e) for e in f["imports"]["edges"]}
    assert ("mismatch.cli", "mismatch.core") in edges
    assert ("mismatch.core", "mismatch.util") in edges
    assert f["runtime"] == {"python": ">=3.11"}
    assert f["declared_runtime"]["python"]["spec"] == ">=3.11"
    assert run.result["evidence"]["runtime.python"] == [
        {
            "file": "pyproject.toml",
            "line": 4,
            "text": 'requires-python = ">=3.11"',
            "value": ">=3.11",
        }
    ]
    assert "python:requests>=2.31" in run.result["dependencies"]


def test_architecture_reads_node_and_go_projects(polyglot: Path) -> None:
    f = run_agent("architecture.py", polyglot).findings

    assert {d["name"] for d in f["dependencies"]["node"]} == {"express", "left-pad", "jest"}
    assert f["dependencies"]["go"] == [
        {"name": "github.com/pkg/errors", "spec": "v0.9.1", "source": "go.mod", "dev": False}
    ]
    kinds = {(p["kind"], p["name"]) for p in f["entry_points"]}
    assert ("node_bin", "webctl") in kinds
    assert ("go_main", "cmd/svc") in kinds
    edges = {tuple(e) for e in f["imports"]["edges"]}
    assert ("bin/webctl", "lib/util") in edges
    assert ("cmd/svc", "internal/store") in edges
    assert {s["name"] for s in f["services"]} == {"api", "db"}
    assert f["runtime"] == {"node": ">=18", "go": ">=1.22"}
    assert "docker-compose.yml" in f["config_files"]


def test_lite_backup_and_reduced_scope_do_less(py_mismatch: Path) -> None:
    deep = py_mismatch / "a" / "b" / "c"
    deep.mkdir(parents=True)
    (deep / "hidden.py").write_text("x = 1\n", encoding="utf-8")

    full = run_agent("architecture.py", py_mismatch).findings
    lite = run_agent("architecture.py", py_mismatch, "--lite").findings
    scoped = run_agent("architecture.py", py_mismatch, env={"PHASEBOARD_SCOPE": '{"depth": 1}'})

    assert "a/b/c" in {c["path"] for c in full["components"]}
    assert "a/b/c" not in {c["path"] for c in lite["components"]}
    assert lite["imports"]["edges"] == [] and full["imports"]["edges"]
    assert lite["runtime"] == {"python": ">=3.11"}
    assert scoped.findings["project"]["files"] < full["project"]["files"]


def test_code_agent_finds_markers_complexity_duplicates_and_naming(messy_repo: Path) -> None:
    run = run_agent("code_patterns.py", messy_repo, "--complexity", "10")

    assert run.returncode == 0, run.stderr
    f = run.findings
    assert f["markers"]["count"] == 1
    assert f["markers"]["items"][0]["path"] == "app/logic.py"
    assert f["markers"]["items"][0]["text"] == "split tangled() up"
    assert f["complex_functions"][0]["name"] == "tangled"
    assert f["complex_functions"][0]["complexity"] > 30
    assert f["longest_functions"][0]["name"] == "tangled"
    assert f["duplicates"]["blocks"] == 2
    assert {b["path"] for b in f["duplicates"]["items"]} == {"app/copy_a.py", "app/copy_b.py"}
    names = {(n["name"], n["expected"]) for n in f["naming"]["items"]}
    assert names == {
        ("BadName", "snake_case"),
        ("lower_class", "CapWords"),
        ("Naming", "lowercase module name"),
    }
    assert run.risk_ids() == {
        "code.complex_functions": "high",
        "code.markers": "low",
        "code.duplication": "medium",
        "code.naming": "low",
    }


def test_code_agent_measures_brace_languages(polyglot: Path) -> None:
    f = run_agent("code_patterns.py", polyglot).findings

    names = {fn["name"] for fn in f["longest_functions"]}
    assert {"main", "Open", "run"} <= names
    assert f["sizes"]["by_language"]["go"]["files"] == 3


def test_infrastructure_reports_configured_runtime_tests_and_resources(py_mismatch: Path) -> None:
    run = run_agent("infrastructure.py", py_mismatch)

    assert run.returncode == 0, run.stderr
    f = run.findings
    assert f["runtime"] == {"python": ["3.10"]}
    assert f["configured_runtime"]["python"][0] == {
        "version": "3.10",
        "found": "3.10.4",
        "source": ".python-version",
        "line": 1,
        "text": "3.10.4",
        "tested": False,
    }
    assert run.result["evidence"]["runtime.python"] == [
        {"file": ".python-version", "line": 1, "text": "3.10.4", "value": "3.10"}
    ]
    assert f["tests"]["files"] == 1 and f["tests"]["runner"] == "pytest"
    assert f["collect"]["ran"] and f["collect"]["collected"] == 1 and f["collect"]["errors"] == 0
    assert f["resources"]["disk_free_mb"] > 0 and f["resources"]["cpu_count"] >= 1
    assert "mismatch" in f["performance"]["import_s"]
    assert "infra.no_ci" in run.risk_ids()
    assert not any(p.name == "__pycache__" for p in py_mismatch.rglob("*"))
    assert not (py_mismatch / ".pytest_cache").exists()


def test_infrastructure_reads_ci_matrix_and_collect_errors(py_agree: Path) -> None:
    (py_agree / "tests" / "test_broken.py").write_text("import not_a_module_anywhere\n")

    run = run_agent("infrastructure.py", py_agree)

    f = run.findings
    assert f["runtime"] == {"python": ["3.12", "3.13"]}
    assert f["ci"]["providers"] == ["GitHub Actions"]
    assert f["ci"]["python_matrix"] == ["3.12", "3.13"]
    assert f["collect"]["errors"] == 1
    # without an environment of its own, a missing package says nothing about the project
    assert f["collect"]["environment"]["kind"] == "phaseboard"
    assert "lacks not_a_module_anywhere" in f["collect"]["unverified"]
    assert run.risk_ids()["infra.collect_unverified"] == "medium"
    assert "infra.collect_errors" not in run.risk_ids()

    (py_agree / "tests" / "test_broken.py").write_text("from mismatch.core import nothing\n")
    broken = run_agent("infrastructure.py", py_agree)
    assert "unverified" not in broken.findings["collect"]
    assert broken.risk_ids()["infra.collect_errors"] == "high"


def runtime_conflicts(repo: Path) -> list[dict[str, object]]:
    """What the standard workflow's analysis consolidation raises on runtime.* for ``repo``."""
    arch, infra = run_agents(("architecture.py", repo), ("infrastructure.py", repo))
    result = consolidate(
        "analysis_synthesis",
        {"analysis.architecture": arch.result, "analysis.infrastructure": infra.result},
        severity_rules=[("runtime.*", "critical")],
        compare_rules=[("runtime.*", "version_in_range", None)],
        timestamp="2026-01-02T03:04:05Z",
    )
    return [c.model_dump() for c in result.conflicts if c.path.startswith("runtime.")]


def test_only_a_configured_version_outside_the_declared_range_conflicts(
    py_mismatch: Path, py_compatible: Path, py_agree: Path
) -> None:
    (conflict,) = runtime_conflicts(py_mismatch)
    assert conflict["severity"] == "critical"
    assert conflict["reason"] == (
        "3.10 (analysis.infrastructure) is outside >=3.11 (analysis.architecture)"
    )
    assert conflict["evidence"]["analysis.architecture"][0]["file"] == "pyproject.toml"
    assert conflict["evidence"]["analysis.infrastructure"][0]["file"] == ".python-version"
    assert runtime_conflicts(py_compatible) == []
    assert runtime_conflicts(py_agree) == []


def test_tox_nox_and_ci_versions_are_tested_versions(py_compatible: Path) -> None:
    (py_compatible / "tox.ini").write_text(
        "[tox]\nenvlist =\n    py3{13,12}\n    pypy311\n    lint\n", encoding="utf-8"
    )
    (py_compatible / "noxfile.py").write_text(
        "import nox\n\n\n@nox.session(python=['3.11', '3.14'])\ndef tests(session):\n    pass\n",
        encoding="utf-8",
    )
    run = run_agent("infrastructure.py", py_compatible)

    assert run.findings["runtime"] == {"python": ["3.11", "3.12", "3.13", "3.14"]}
    tested = {
        (c["source"], c["line"], c["version"])
        for c in run.findings["configured_runtime"]["python"]
        if c["tested"]
    }
    assert tested == {
        ("tox.ini", 3, "3.13"),
        ("tox.ini", 3, "3.12"),
        ("tox.ini", 4, "3.11"),
        ("noxfile.py", 4, "3.11"),
        ("noxfile.py", 4, "3.14"),
    }
    assert "infra.python_lower_bound_untested" not in run.risk_ids()
    assert runtime_conflicts(py_compatible) == []


def test_a_lower_bound_no_job_tests_is_a_risk_not_a_conflict(py_agree: Path) -> None:
    pyproject = py_agree / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace(">=3.12", ">=3.9"), encoding="utf-8")

    run = run_agent("infrastructure.py", py_agree)

    assert run.risk_ids()["infra.python_lower_bound_untested"] == "medium"
    risk = next(r for r in run.result["risks"] if r["id"] == "infra.python_lower_bound_untested")
    assert risk["title"] == (
        "pyproject.toml admits python >=3.9, but the lowest version tested is 3.12"
    )
    assert runtime_conflicts(py_agree) == []


def test_infrastructure_on_node_go_project(polyglot: Path) -> None:
    f = run_agent("infrastructure.py", polyglot).findings

    assert f["runtime"] == {"node": ["20"], "go": ["1.21"]}
    assert f["tests"]["runners"] == ["npm test", "go test"]
    assert f["collect"] == {"ran": False, "reason": "no Python tests"}


def test_empty_directory_gives_empty_findings_not_a_crash(empty_repo: Path) -> None:
    for script in ("architecture.py", "code_patterns.py", "infrastructure.py"):
        run = run_agent(script, empty_repo)
        assert run.returncode == 0, (script, run.stderr)
        json.dumps(run.result)
    assert run_agent("infrastructure.py", empty_repo).risk_ids()["infra.no_tests"] == "high"


def test_demo_fault_switch_fails_only_the_named_agent_and_only_attempt_one(
    py_mismatch: Path,
) -> None:
    inputs = {"params": {"fail_first_attempt": "code"}, "stages": {}}

    first = run_agent(
        "code_patterns.py", py_mismatch, inputs=inputs,
        env={"PHASEBOARD_AGENT": "code", "PHASEBOARD_ATTEMPT": "1"},
    )  # fmt: skip
    second = run_agent(
        "code_patterns.py", py_mismatch, inputs=inputs,
        env={"PHASEBOARD_AGENT": "code", "PHASEBOARD_ATTEMPT": "2"},
    )  # fmt: skip
    other = run_agent(
        "architecture.py", py_mismatch, inputs=inputs,
        env={"PHASEBOARD_AGENT": "architecture", "PHASEBOARD_ATTEMPT": "1"},
    )  # fmt: skip

    assert first.returncode == 1
    assert first.results == []
    assert first.errors() == [
        "demo: failing the first attempt on purpose (param fail_first_attempt)"
    ]
    assert second.returncode == 0 and second.result["findings"]
    assert other.returncode == 0 and other.result["findings"]


def test_a_long_import_chain_and_mass_duplication_stay_fast(tmp_path: Path) -> None:
    body = "\n".join(
        f"def f{i}(x):\n    if x > {i}:\n        return x + {i}\n    return x\n" for i in range(4)
    )
    files = {"chain/__init__.py": ""}
    for n in range(1200):
        files[f"chain/m{n}.py"] = f"from chain import m{n + 1}\n\n{body}" if n < 1199 else body
    repo = write_tree(tmp_path / "chain", files)

    architecture, code = run_agents(("architecture.py", repo), ("code_patterns.py", repo))

    assert architecture.returncode == 0, architecture.stderr[-2000:]
    assert len(architecture.findings["imports"]["edges"]) == 500
    assert architecture.findings["imports"]["cycles"] == []
    assert code.returncode == 0, code.stderr[-2000:]
    assert code.findings["duplicates"]["percent"] > 90
    assert max(architecture.duration_s, code.duration_s) < 15
