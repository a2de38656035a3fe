"""The unit_tests agent runs a workspace's tests in the workspace's own environment, says when a
suite could not be run, and keeps what a suite stopped at its timeout had reported.

Real subprocesses and real virtual environments: each venv is made with ``--without-pip`` and
reaches pytest through a ``.pth`` file naming this interpreter's site-packages, so it costs a few
milliseconds; the package its tests need (``needed_pkg``) is in that venv and nowhere else.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.agents_std.harness import AGENTS, AgentRun, run_agent, write_tree

NEEDS_PKG = {
    "tests/test_needs.py": """
        import needed_pkg


        def test_answer():
            assert needed_pkg.ANSWER == 42


        def test_more():
            assert needed_pkg.ANSWER > 0
    """
}
COUNTS = ("collected", "passed", "failed", "errors", "skipped", "not_run")


def make_venv(path: Path) -> Path:
    """A real venv holding ``needed_pkg``, with pytest importable from this interpreter's."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    site = path / "lib" / version / "site-packages"
    (site / "needed_pkg.py").write_text("ANSWER = 42\n", encoding="utf-8")
    pytest_site = Path(pytest.__file__).resolve().parents[1]
    (site / "phaseboard_pytest.pth").write_text(f"{pytest_site}\n", encoding="utf-8")
    return path


def findings_of(run: AgentRun) -> dict[str, Any]:
    assert run.returncode == 0, run.stderr
    return run.findings["tests"]


def test_needed_pkg_is_absent_from_phaseboards_interpreter() -> None:
    assert importlib.util.find_spec("needed_pkg") is None


def test_the_workspace_venv_runs_the_tests(tmp_path: Path) -> None:
    repo = write_tree(tmp_path / "ws", NEEDS_PKG)
    venv = make_venv(repo / ".venv")

    tests = findings_of(run_agent("unit_tests.py", repo))

    assert tests["status"] == "passed" and tests["reason"] == ""
    assert tests["environment"]["kind"] == "venv"
    assert tests["environment"]["python"] == str(venv / "bin" / "python")
    assert ".venv/bin/python" in tests["environment"]["why"]
    assert tests["runner"] == "pytest"
    assert tests["command"].startswith(f"{venv}/bin/python -m pytest -v")
    assert [tests[k] for k in COUNTS] == [2, 2, 0, 0, 0, 0]
    assert tests["reported_warnings"] == 0 and "warnings" not in tests


def test_without_an_environment_a_missing_package_is_not_run_not_failed(tmp_path: Path) -> None:
    missing = write_tree(tmp_path / "missing", NEEDS_PKG)
    own = write_tree(
        tmp_path / "own",
        {
            "mypkg/__init__.py": "",
            "tests/test_own.py": "from mypkg import gone\n\n\ndef test_x():\n    pass\n",
        },
    )
    in_venv = write_tree(tmp_path / "in_venv", {"tests/test_x.py": "import absent_pkg\n"})
    make_venv(in_venv / "venv")

    with ThreadPoolExecutor(3) as pool:
        runs = list(pool.map(lambda r: run_agent("unit_tests.py", r), (missing, own, in_venv)))
    not_run, own_failure, venv_failure = (findings_of(r) for r in runs)

    assert not_run["status"] == "not_run"
    assert "needed_pkg" in not_run["reason"] and "phaseboard" in not_run["reason"]
    assert not_run["environment"]["kind"] == "phaseboard"
    assert not_run["environment"]["python"] == sys.executable
    assert all(not_run[k] is None for k in COUNTS)
    assert runs[0].risk_ids() == {"unit.not_run": "medium"}
    assert runs[0].result["summary"].startswith("not run: ")
    # the project's own module failing to import is the project's failure
    assert own_failure["status"] == "failed" and own_failure["errors"] == 1
    assert runs[1].risk_ids() == {"unit.failures": "high"}
    # in the project's own environment, a collection error is the project's failure
    assert venv_failure["environment"]["kind"] == "venv"
    assert venv_failure["status"] == "failed" and venv_failure["errors"] == 1
    assert venv_failure["failing"] == ["tests/test_x.py"]


def test_test_command_runs_through_the_shell_in_the_workspace(tmp_path: Path) -> None:
    repo = write_tree(tmp_path / "cmd", {"test_one.py": "def test_one():\n    pass\n"})
    good = f"{sys.executable} -m pytest -q -p no:cacheprovider test_one.py && pwd > where.txt"

    with ThreadPoolExecutor(2) as pool:
        ran, broken = pool.map(
            lambda cmd: run_agent("unit_tests.py", repo, "--test-command", cmd),
            (good, "echo broken; exit 3"),
        )

    tests = findings_of(ran)
    assert tests["environment"] == {
        "kind": "param",
        "python": None,
        "why": "the test_command parameter is set",
    }
    assert tests["runner"] == "command" and tests["command"].startswith("/bin/sh -c ")
    assert (tests["status"], tests["passed"], tests["failed"]) == ("passed", 1, 0)
    assert (repo / "where.txt").read_text().strip() == str(repo)
    failed = findings_of(broken)
    assert (failed["status"], failed["exit_code"], failed["passed"]) == ("failed", 3, None)
    assert broken.risk_ids() == {"unit.failures": "high"}


SLOW_SUITE = {
    "test_slow.py": """
        import time


        def test_a():
            pass


        def test_b():
            assert 1 + 1 == 3


        def test_c():
            time.sleep(60)


        def test_d():
            pass


        def test_e():
            pass
    """
}


def test_a_suite_stopped_at_its_timeout_keeps_what_it_reported(tmp_path: Path) -> None:
    failing = write_tree(tmp_path / "failing", SLOW_SUITE)
    quiet = dict(SLOW_SUITE)
    quiet["test_slow.py"] = quiet["test_slow.py"].replace("1 + 1 == 3", "1 + 1 == 2")
    passing = write_tree(tmp_path / "passing", quiet)
    args = ("--timeout", "5", "--progress-every", "0.5")

    with ThreadPoolExecutor(2) as pool:
        stopped, incomplete = pool.map(
            lambda r: run_agent("unit_tests.py", r, *args), (failing, passing)
        )

    tests = findings_of(stopped)
    assert tests["timed_out"] and tests["status"] == "failed"
    assert [tests[k] for k in COUNTS] == [5, 1, 1, 0, 0, 3]
    assert tests["failing"] == ["test_slow.py::test_b"]
    assert tests["reported_warnings"] is None
    assert stopped.risk_ids() == {"unit.failures": "high", "unit.timeout": "medium"}
    assert "1 passed, 1 failed so far" in "\n".join(stopped.progress)
    assert stopped.duration_s < 30
    tests = findings_of(incomplete)
    assert (tests["status"], tests["passed"], tests["not_run"]) == ("incomplete", 2, 3)
    assert "timeout" in tests["reason"]
    assert incomplete.risk_ids() == {"unit.timeout": "medium"}


def stand_in(bin_dir: Path, name: str, words: str, answer: Path) -> None:
    """A ``poetry``/``hatch`` on PATH that answers ``words`` by printing ``answer``, as the real
    tool prints the environment's path, and fails on anything else."""
    script = bin_dir / name
    script.write_text(
        f'#!/bin/sh\nif [ "$*" = "{words}" ]; then echo "{answer}"; exit 0; fi\n'
        'echo "unexpected: $*" >&2; exit 1\n',
        encoding="utf-8",
    )
    script.chmod(0o755)


@pytest.mark.parametrize(
    ("kind", "pyproject"),
    [
        ("poetry", '[tool.poetry]\nname = "p"\n'),
        ("hatch", "[tool.hatch.envs.default]\ndependencies = []\n"),
        ("uv", '[project]\nname = "p"\n'),
    ],
)
def test_environments_managed_elsewhere_are_found(
    tmp_path: Path, kind: str, pyproject: str
) -> None:
    repo = write_tree(tmp_path / "ws", {**NEEDS_PKG, "pyproject.toml": pyproject})
    venv = make_venv(tmp_path / "elsewhere" / "env")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stand_in(bin_dir, "poetry", "env info --path", venv)
    stand_in(bin_dir, "hatch", "env find", venv)
    env = {"PATH": f"{bin_dir}:{Path(sys.executable).parent}:/usr/bin:/bin"}
    if kind == "uv":
        env["UV_PROJECT_ENVIRONMENT"] = str(venv)

    tests = findings_of(run_agent("unit_tests.py", repo, env=env))

    assert tests["environment"]["kind"] == kind
    assert tests["environment"]["python"] == str(venv / "bin" / "python")
    assert (tests["status"], tests["passed"]) == ("passed", 2)


def npm_project(root: Path, script: str, test_js: str, **extra: Any) -> Path:
    package = {"name": root.name, "version": "1.0.0", "scripts": {"test": script}, **extra}
    return write_tree(root, {"package.json": json.dumps(package), "test/a.test.js": test_js})


NODE_TEST = """
    const test = require("node:test");
    const assert = require("node:assert");
    test("adds", () => assert.strictEqual(1 + 1, 2));
    test("also adds", () => assert.strictEqual(2 + 2, 4));
"""


@pytest.mark.skipif(shutil.which("npm") is None, reason="npm is not installed")
def test_npm_test_passing_failing_and_not_installed(tmp_path: Path) -> None:
    good = npm_project(tmp_path / "good", "node --test", NODE_TEST)
    bad = npm_project(tmp_path / "bad", "node --test", NODE_TEST.replace("2 + 2, 4", "2 + 2, 5"))
    deps = npm_project(tmp_path / "deps", "jest", NODE_TEST, devDependencies={"jest": "29"})
    placeholder = 'echo "Error: no test specified" && exit 1'
    none = npm_project(tmp_path / "none", placeholder, NODE_TEST)

    with ThreadPoolExecutor(4) as pool:
        runs = list(pool.map(lambda r: run_agent("unit_tests.py", r), (good, bad, deps, none)))
    passed, failed, not_installed, no_tests = (findings_of(r) for r in runs)

    assert (passed["runner"], passed["environment"]["kind"], passed["command"]) == (
        "npm",
        "npm",
        "npm test",
    )
    assert (passed["status"], passed["passed"], passed["failed"]) == ("passed", 2, 0)
    assert (failed["status"], failed["passed"], failed["failed"]) == ("failed", 1, 1)
    assert failed["failing"] == ["also adds"]
    assert not_installed["status"] == "not_run"
    assert not_installed["reason"] == "dependencies not installed: run npm install"
    assert not_installed["passed"] is None
    assert runs[2].risk_ids() == {"unit.not_run": "medium"}
    assert (no_tests["status"], no_tests["reason"]) == ("not_run", "no tests found")


CRATE = {
    "Cargo.toml": '[package]\nname = "tiny"\nversion = "0.1.0"\nedition = "2021"\n',
    "src/lib.rs": """
        pub fn add(a: i32, b: i32) -> i32 {
            a + b
        }

        #[cfg(test)]
        mod tests {
            #[test]
            fn adds() {
                assert_eq!(super::add(1, 1), 2);
            }
        }
    """,
}


@pytest.mark.skipif(shutil.which("cargo") is None, reason="cargo is not installed")
def test_cargo_test_runs_offline_and_unresolved_crates_are_not_run(tmp_path: Path) -> None:
    crate = write_tree(tmp_path / "crate", CRATE)
    needy = dict(CRATE)
    needy["Cargo.toml"] += '\n[dependencies]\nphaseboard-no-such-crate = "1"\n'
    unresolved = write_tree(tmp_path / "needy", needy)
    env = {"CARGO_TARGET_DIR": str(tmp_path / "target")}

    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda r: run_agent("unit_tests.py", r, env=env), (crate, unresolved)))
    built, not_run = (findings_of(r) for r in runs)

    assert built["command"] == "cargo test --offline"
    assert built["environment"]["kind"] == "cargo"
    assert (built["status"], built["passed"], built["failed"], built["collected"]) == (
        "passed",
        1,
        0,
        1,
    )
    assert not (crate / "target").exists()
    assert not_run["status"] == "not_run" and "offline" in not_run["reason"]
    assert runs[1].risk_ids() == {"unit.not_run": "medium"}


# -- reading per-test lines, from output the runners really print -----------------------------


def tally(runner: str, text: str) -> Any:
    spec = importlib.util.spec_from_file_location("agent_suite_output", AGENTS / "suite_output.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    reader = module.Tally(runner)
    for line in text.strip("\n").splitlines():
        reader.feed(line)
    return reader


def test_xdist_lines_are_counted_when_the_summary_never_came() -> None:
    printed = [  # each line as xdist prints it, trailing space included
        "2 workers [7 items]",
        "test_a.py::test_bad ",
        "[gw1] [ 57%] PASSED test_a.py::test_p[c] ",
        "[gw1] [ 71%] XFAIL test_a.py::test_xf ",
        "[gw0] [ 85%] FAILED test_a.py::test_bad ",
        "[gw0] [100%] PASSED test_a.py::test_td ",
        "[gw0] [100%] ERROR test_a.py::test_td ",
    ]
    reader = tally("pytest", "\n".join(printed))

    counts = reader.counts(timed_out=True)
    assert [counts[k] for k in COUNTS] == [7, 2, 1, 1, 1, 3]
    assert reader.failing == ["test_a.py::test_bad", "test_a.py::test_td"]


def test_unittest_go_cargo_and_node_lines() -> None:
    unittest = tally(
        "unittest",
        """
test_imp (unittest.loader._FailedTest.test_imp) ... ERROR
test_bad (test_u.T.test_bad) ... FAIL
test_ok (test_u.T.test_ok)
Has a doc. ... ok
test_s (test_u.T.test_s) ... skipped 'why'
""",
    )
    go = tally("go", "=== RUN   TestA\n--- PASS: TestA (0.00s)\n--- FAIL: TestB (0.01s)\nFAIL\n")
    cargo = tally(
        "cargo",
        "running 2 tests\ntest tests::adds ... ok\ntest tests::breaks ... FAILED\n",
    )
    jest = tally("npm", "  ● math › breaks\nTests:       1 failed, 3 passed, 4 total\n")
    mocha = tally("npm", "  3 passing (5ms)\n  1 failing\n")

    assert [unittest.counts(True)[k] for k in ("passed", "failed", "errors", "skipped")] == [
        1,
        1,
        1,
        1,
    ]
    assert unittest.failing == ["test_imp", "test_u.T.test_bad"]
    assert (go.counts(True)["passed"], go.counts(True)["failed"], go.failing) == (1, 1, ["TestB"])
    assert [cargo.counts(True)[k] for k in ("collected", "passed", "failed", "not_run")] == [
        2,
        1,
        1,
        0,
    ]
    assert (jest.counts(False)["failed"], jest.counts(False)["passed"]) == (1, 3)
    assert jest.failing == ["math › breaks"]
    assert (mocha.counts(False)["passed"], mocha.counts(False)["failed"]) == (3, 1)


def test_progress_characters_are_counted_when_a_project_asks_for_quiet_output() -> None:
    reader = tally(
        "pytest", "collected 9 items\n\ntests/test_a.py ..F.sx [ 66%]\ntests/test_b.py E"
    )

    counts = reader.counts(timed_out=True)
    assert [counts[k] for k in COUNTS] == [9, 3, 1, 1, 2, 3]


def test_entry_points_start_in_the_workspace_environment(tmp_path: Path) -> None:
    """The e2e agent starts console scripts with the same interpreter: a CLI whose package is
    in the workspace's .venv starts; without it, it is not checked rather than failing."""
    files = {
        "pyproject.toml": '[project]\nname = "needy"\n[project.scripts]\nneedy = "needy.cli:main"\n',
        "needy/__init__.py": "",
        "needy/cli.py": "import needed_pkg\n\n\ndef main():\n    print('answer', needed_pkg.ANSWER)\n",
    }
    bare = write_tree(tmp_path / "bare", files)
    with_env = write_tree(tmp_path / "with_env", files)
    make_venv(with_env / ".venv")
    broken = write_tree(tmp_path / "broken", files)
    make_venv(broken / ".venv")
    (broken / "needy" / "cli.py").write_text("def main():\n    raise SystemExit('boom')\n")

    bare_run, env_run, broken_run = (run_agent("e2e.py", r) for r in (bare, with_env, broken))

    assert bare_run.findings["e2e"]["not_checked"] == 1
    assert bare_run.findings["e2e"]["failed"] == 0
    assert bare_run.risk_ids() == {"e2e.not_checked": "medium"}
    assert "lacks needed_pkg" in bare_run.findings["e2e"]["results"][0]["unchecked"]
    assert env_run.findings["e2e"]["environment"]["kind"] == "venv"
    assert env_run.findings["e2e"]["results"][0]["ok"] is True
    assert env_run.risk_ids() == {}
    assert broken_run.risk_ids() == {"e2e.entry_points": "high"}


def test_a_built_project_is_not_tested_against_an_installed_copy(tmp_path: Path) -> None:
    """rpds-py's shape: a compiled extension with a type stub and Python tests. phaseboard's own
    interpreter has a release of it installed; the tests would exercise that copy, so they are
    not run rather than reported for this workspace's code."""
    repo = write_tree(
        tmp_path / "built",
        {
            "pyproject.toml": '[project]\nname = "orjson"\n',
            "orjson.pyi": "def dumps(obj: object) -> bytes: ...\n",
            "src/lib.rs": "// the extension's source\n",
            "tests/test_dumps.py": "import orjson\n\n\ndef test_dumps():\n    assert orjson.dumps(1)\n",
        },
    )
    tests = findings_of(run_agent("unit_tests.py", repo))
    assert tests["status"] == "not_run"
    assert "would import orjson from" in tests["reason"]
    assert tests["passed"] is None and tests["environment"]["kind"] == "phaseboard"
    infra = run_agent("infrastructure.py", repo)
    assert infra.risk_ids()["infra.collect_unverified"] == "medium"


def test_tape_output_and_a_linter_before_it() -> None:
    """minimist's `npm test`: eslint's summary, then tape's TAP with repeated test names and a
    two-space count line; 153 tests, all passing."""
    lines = "\n".join(f"ok {n} should be deeply equivalent" for n in range(1, 153))
    tape = tally(
        "npm",
        "\u2716 53 problems (0 errors, 53 warnings)\n"
        f"TAP version 13\n# parse args\n{lines}\nnot ok 153 should be equal\n"
        "1..153\n# tests 153\n# pass  152\n# fail  1\n",
    )
    counts = tape.counts(False)
    assert [counts[k] for k in ("collected", "passed", "failed", "not_run")] == [153, 152, 1, 0]
    assert tape.failing == ["should be equal"]


def test_under_unittest_a_module_that_cannot_be_imported_leaves_the_rest_standing(
    tmp_path: Path,
) -> None:
    """idna's shape under a phaseboard without pytest: unittest runs every module it can import;
    the one needing `hypothesis` is not run, which is neither a failure nor the whole suite."""
    bare = tmp_path / "bare-python"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True)
    repo = write_tree(
        tmp_path / "partly",
        {
            "tests/__init__.py": "",
            "tests/test_plain.py": (
                "import unittest\n\n\nclass T(unittest.TestCase):\n"
                "    def test_a(self):\n        pass\n\n    def test_b(self):\n        pass\n"
            ),
            "tests/test_props.py": "import needed_pkg\n",
            "tests/test_style.py": "def test_pytest_style():\n    pass\n",
        },
    )
    run = run_agent("unit_tests.py", repo, python=str(bare / "bin" / "python"))
    tests = findings_of(run)
    assert tests["runner"] == "unittest" and tests["environment"]["kind"] == "phaseboard"
    assert tests["status"] == "incomplete"
    assert (tests["passed"], tests["failed"], tests["errors"]) == (2, 0, 0)
    assert "tests.test_props" in tests["reason"] and "lacks needed_pkg" in tests["reason"]
    assert run.risk_ids() == {"unit.incomplete": "medium"}

    (repo / "tests" / "test_plain.py").unlink()
    (repo / "tests" / "test_props.py").unlink()
    only_pytest_style = findings_of(
        run_agent("unit_tests.py", repo, python=str(bare / "bin" / "python"))
    )
    assert only_pytest_style["status"] == "not_run"
    assert "has no pytest" in only_pytest_style["reason"]
