"""Reading a test run's output line by line, as it is printed.

A suite stopped at its timeout prints no closing summary, so counting only that summary reports a
half-run suite as "0 passed". :class:`Tally` therefore counts the per-test lines each runner prints
(pytest ``-v``, also under xdist; unittest ``-v``; cargo; ``go test -v``; node's TAP and spec
reporters) while the suite runs, and prefers the closing summary when the run got that far. It
also notes the modules a collection failed to import, so the caller can tell "the project's tests
fail" from "this interpreter lacks a package the tests need". Standard library only.
"""

from __future__ import annotations

import re
from typing import Any

MAX_FAILING = 50
KEYS = ("passed", "failed", "errors", "skipped")

_STATUS = "PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS"
_PYTEST_TEST = re.compile(rf"^(?P<id>[^\s\[].*?::.+?) (?P<status>{_STATUS})(?: |$)")
_PYTEST_XDIST = re.compile(rf"^\[gw\d+\] \[ *\d+%\] (?P<status>{_STATUS}) (?P<id>\S.*?)(?: - .*)?$")
_PYTEST_WORD = {"PASSED": "passed", "XPASS": "passed", "FAILED": "failed", "ERROR": "errors"}
_PYTEST_DOTS = re.compile(r"^(?:\S+\.py )?([.FEsxX]+)(?: +\[ *\d+%\])?$")
_PYTEST_CHAR = dict(
    zip(".XFEsx", ("passed",) * 2 + ("failed", "errors") + ("skipped",) * 2, strict=True)
)
_PYTEST_SECTION = re.compile(r"^={3,} (.+?) ={3,}$")
_PYTEST_SUMMARY = re.compile(r"^((?:\d+ [a-z]+(?:, )?)+|no tests ran)(?P<time> in [\d.]+s\b.*)?$")
_PYTEST_COUNT = re.compile(r"(\d+) ([a-z]+)")
_PYTEST_SHORT = re.compile(r"^(?:FAILED|ERROR) (\S.*?)(?: - .*)?$")
_PYTEST_COLLECTING = re.compile(r"^_+ ERROR collecting (\S+) _+$")
_COLLECTED = re.compile(
    r"^(?:collecting \.\.\. )?collected (\d+) items?(?:.* / (\d+) selected)?"
    r"|^(\d+) workers? \[(\d+) item"
)
_COLLECT_ERROR = re.compile(
    r"ERROR collecting (\S+)|errors? during collection|ImportError while (?:loading conftest|importing)"
)
_MISSING = re.compile(
    r"(?:ModuleNotFoundError: No module named|ImportError: cannot import name \S+ from) '([\w.]+)'"
)
_UNITTEST_TEST = re.compile(r"^(\w+) \(([\w.]+)\)")
_UNITTEST_STATUS = re.compile(
    r" \.\.\. (ok|FAIL|ERROR|skipped\b.*|expected failure|unexpected success)$"
)
_UNITTEST_WORD = {
    "ok": "passed",
    "FAIL": "failed",
    "ERROR": "errors",
    "unexpected success": "failed",
}
_UNITTEST_FAILED = re.compile(r"^(?:FAIL|ERROR): ([\w.]+) \(([\w.]+)\)")
"""``ERROR: tests.test_x (unittest.loader._FailedTest.tests.test_x)`` names a module it could not
import; a test's line names the test (``FAIL: test_y (tests.test_x.T.test_y)``)."""
_UNITTEST_RAN = re.compile(r"^Ran (\d+) tests? in ")
_UNITTEST_END = re.compile(r"^(OK|FAILED)(?: \((.*)\))?$")
_CARGO_TEST = re.compile(r"^test (.+?) \.\.\. (ok|FAILED|ignored)\b")
_CARGO_RESULT = re.compile(r"^test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored;")
_CARGO_RUNNING = re.compile(r"^running (\d+) tests?$")
_CARGO_OFFLINE = re.compile(
    r"--offline|failed to (?:get|load source for|download|select a version)|no matching package"
)
_GO_TEST = re.compile(r"^--- (PASS|FAIL|SKIP): (\S+)")
_GO_WORD = {"PASS": "passed", "FAIL": "failed", "SKIP": "skipped"}
_NODE_COUNT = re.compile(r"^(?:#|\u2139) (tests|pass|fail|skipped|todo|cancelled)\s+(\d+)$")
_NODE_WORD = {"pass": "passed", "fail": "failed", "skipped": "skipped", "todo": "skipped"}
_TAP_TEST = re.compile(r"^(not ok|ok) \d+(?: -)? (.+?)(?: # (?:SKIP|TODO)\b.*)?$")
_SPEC_TEST = re.compile(r"^(\u2714|\u2716) (?!\d+ problems? \()(.+?)(?: \([\d.]+m?s\))?$")
"""node --test's spec lines; eslint's "✖ 53 problems (0 errors, 53 warnings)" is not a test."""
_MOCHA = re.compile(r"^\s+(\d+) (passing|failing|pending)\b")
_JEST = re.compile(r"^Tests:\s+(.*\d+ total)")
_JEST_FAIL = re.compile(r"^\s*\u25cf (.+)$")


class Tally:
    """What a run printed so far: per-test counts, the closing summary, failing ids, and signs
    that the suite could not be collected. ``runner`` chooses the patterns; ``command`` (a
    command given by the user) tries them all."""

    def __init__(self, runner: str) -> None:
        self.runner = runner
        self.per_test = dict.fromkeys(KEYS, 0)
        self.summary: dict[str, int] | None = None
        self.collected: int | None = None
        self.warnings: int | None = None
        self.failing: list[str] = []
        self.missing_modules: list[str] = []
        self.collection_error = False
        self.import_failures: list[str] = []
        """Test modules unittest could not import (it runs the others)."""
        self.unresolved = False
        self._ran: set[str] = set()
        self._in_run = True
        self._pending = ""
        self._unittest_ran: int | None = None

    def _wants(self, *runners: str) -> bool:
        return self.runner in runners or self.runner == "command"

    @property
    def seen(self) -> int:
        return sum(self.per_test.values())

    def _test(self, test_id: str, key: str) -> None:
        self.per_test[key] += 1
        self._ran.add(test_id)
        if key in ("failed", "errors"):
            self._failing(test_id)

    def _failing(self, test_id: str) -> None:
        if test_id not in self.failing and len(self.failing) < MAX_FAILING:
            self.failing.append(test_id)

    def _add_summary(self, counts: dict[str, int]) -> None:
        base = self.summary or dict.fromkeys(KEYS, 0)
        self.summary = {k: base[k] + counts.get(k, 0) for k in KEYS}

    def feed(self, line: str) -> None:
        line = line.rstrip()
        if missing := _MISSING.search(line):
            name = missing.group(1).split(".")[0]
            if name not in self.missing_modules:
                self.missing_modules.append(name)
        if self._wants("pytest", "unittest") and _COLLECT_ERROR.search(line):
            self.collection_error = True
        if self._wants("pytest"):
            self._pytest(line)
        if self._wants("unittest"):
            self._unittest(line)
        if self._wants("cargo"):
            self._cargo(line)
        if self._wants("go") and (m := _GO_TEST.match(line)):
            self._test(m.group(2), _GO_WORD[m.group(1)])
        if self._wants("npm"):
            self._npm(line)

    def _pytest(self, line: str) -> None:
        if m := _COLLECTED.match(line):
            self.collected = int(m.group(2) or m.group(1) or m.group(4))
            return
        if m := _PYTEST_XDIST.match(line) or (self._in_run and _PYTEST_TEST.match(line)):
            status = m.group("status")
            self._test(m.group("id"), _PYTEST_WORD.get(status, "skipped"))
            return
        if self._in_run and (m := _PYTEST_DOTS.match(line)):  # a project's -q undoing our -v
            for char in m.group(1):
                self.per_test[_PYTEST_CHAR[char]] += 1
            return
        if section := _PYTEST_SECTION.match(line):
            self._in_run = self._in_run and section.group(1) == "test session starts"
            if m := _PYTEST_SUMMARY.match(section.group(1)):
                self._pytest_summary(m.group(1))
        elif (m := _PYTEST_SUMMARY.match(line)) and m.group("time"):  # under -q, no rulers
            self._pytest_summary(m.group(1))
        elif m := (not self._in_run and _PYTEST_SHORT.match(line)) or _PYTEST_COLLECTING.match(
            line
        ):
            self._failing(m.group(1))

    def _pytest_summary(self, text: str) -> None:
        counts = dict.fromkeys(KEYS, 0)
        self.warnings = 0
        for number, word in _PYTEST_COUNT.findall(text):
            word = {"error": "errors", "xpassed": "passed", "xfailed": "skipped"}.get(word, word)
            if word in counts:
                counts[word] += int(number)
            elif word.startswith("warning"):
                self.warnings = int(number)
        self.summary = counts

    def _unittest(self, line: str) -> None:
        if m := _UNITTEST_FAILED.match(line):
            self._failing(_unittest_id(m.group(1), m.group(2)))
            if m.group(2).startswith("unittest.loader."):
                self.collection_error = True
                if m.group(1) not in self.import_failures:
                    self.import_failures.append(m.group(1))
            return
        if m := _UNITTEST_TEST.match(line):
            self._pending = _unittest_id(m.group(1), m.group(2))
        if (m := _UNITTEST_STATUS.search(line)) and self._pending:
            word = m.group(1)
            key = _UNITTEST_WORD.get(word, "skipped")
            self._test(self._pending, key)
            self._pending = ""
        elif m := _UNITTEST_RAN.match(line):
            self._unittest_ran = int(m.group(1))
        elif (m := _UNITTEST_END.match(line)) and self._unittest_ran is not None:
            details = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", m.group(2) or "")}
            counts = {
                "failed": details.get("failures", 0) + details.get("unexpected_successes", 0),
                "errors": details.get("errors", 0),
                "skipped": details.get("skipped", 0) + details.get("expected_failures", 0),
            }
            counts["passed"] = max(0, self._unittest_ran - sum(counts.values()))
            self.summary = counts

    def _cargo(self, line: str) -> None:
        if m := _CARGO_TEST.match(line):
            key = {"ok": "passed", "FAILED": "failed"}.get(m.group(2), "skipped")
            self._test(m.group(1), key)
        elif m := _CARGO_RESULT.match(line):
            passed, failed, ignored = (int(g) for g in m.groups())
            self._add_summary({"passed": passed, "failed": failed, "skipped": ignored})
        elif m := _CARGO_RUNNING.match(line):
            self.collected = (self.collected or 0) + int(m.group(1))
        elif line.startswith("error") and _CARGO_OFFLINE.search(line):
            self.unresolved = True

    def _npm(self, line: str) -> None:
        if m := _NODE_COUNT.match(line):
            word, number = m.group(1), int(m.group(2))
            if word == "tests":
                self.collected = (self.collected or 0) + number
            else:
                self._add_summary({_NODE_WORD.get(word, "errors"): number})
        elif m := _TAP_TEST.match(line) or _SPEC_TEST.match(line):
            failed = m.group(1) in ("not ok", "\u2716")
            skipped = re.search(r" # (?:SKIP|TODO)\b", line)
            self._test(m.group(2), "skipped" if skipped else "failed" if failed else "passed")
        elif m := _MOCHA.match(line):
            key = {"passing": "passed", "failing": "failed", "pending": "skipped"}[m.group(2)]
            self._add_summary({key: int(m.group(1))})
        elif m := _JEST.match(line):
            words = {w: int(n) for n, w in _PYTEST_COUNT.findall(m.group(1))}
            self.collected = words.get("total")
            self.summary = {
                "passed": words.get("passed", 0),
                "failed": words.get("failed", 0),
                "errors": 0,
                "skipped": words.get("skipped", 0) + words.get("todo", 0),
            }
        elif (m := _JEST_FAIL.match(line)) and "Test suite failed to run" not in line:
            self._failing(m.group(1))

    def counts(self, timed_out: bool) -> dict[str, Any]:
        """The counts to report: the closing summary of a finished run, else the per-test lines
        (None each when the run printed neither)."""
        use = self.summary if self.summary is not None and not timed_out else None
        if use is None and (self._ran or self.seen):
            use = self.per_test
        counts: dict[str, Any] = dict(use) if use is not None else dict.fromkeys(KEYS)
        # a collection error is no collected test that ran
        ran = max(len(self._ran), sum(counts[k] or 0 for k in ("passed", "failed", "skipped")))
        counts["collected"] = self.collected
        counts["not_run"] = max(0, self.collected - ran) if self.collected is not None else None
        counts["reported_warnings"] = None if timed_out else self.warnings
        return counts

    def so_far(self) -> str:
        p = self.per_test
        text = f"{p['passed']} passed, {p['failed']} failed"
        text += f", {p['errors']} errors" if p["errors"] else ""
        total = f" of {self.collected}" if self.collected else ""
        return f"{text} so far ({self.seen}{total} tests)"


def _unittest_id(name: str, where: str) -> str:
    """The test's dotted id: Python 3.11+ prints it whole in the parentheses, older ones the class."""
    if where.startswith("unittest.loader."):
        return name
    return where if where.endswith("." + name) else f"{where}.{name}"
