"""CEL expressions: the documented examples, macros, errors with columns, static name checks."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from engine.workflow.expressions import (
    ROOTS,
    ExpressionError,
    attribute_references,
    check_names,
    compile_expression,
    evaluate,
    identifier_offset,
    offset_position,
)


def context(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "stages": {
            "analysis": {
                "status": "succeeded",
                "succeeded": 3,
                "failed": 0,
                "total": 3,
                "agents": {
                    "architecture": {"status": "succeeded", "result": {"findings": {}}},
                    "code": {"status": "succeeded", "result": None, "duration_s": 2.5},
                },
            },
            "testing": {"status": "failed", "succeeded": 1, "failed": 1, "total": 2},
        },
        "conflicts": [
            {"id": "c1", "path": "runtime.python", "severity": "critical", "resolved": True},
            {"id": "c2", "path": "db.engine", "severity": "warning", "resolved": False},
        ],
        "open_conflicts": [
            {"id": "c2", "path": "db.engine", "severity": "warning", "resolved": False},
        ],
        "params": {"scope": ".", "depth": 2},
        "metrics": {"cost_usd": 0.75, "tokens": 1200},
        "run": {"id": "r1"},
    }
    base.update(overrides)
    return base


@pytest.mark.parametrize(
    ("src", "expected"),
    [
        ("stages.analysis.succeeded == stages.analysis.total", True),
        ("open_conflicts.filter(c, c.severity == 'critical').size() == 0", True),
        ("conflicts.filter(c, c.severity == 'critical').size()", 1),
        ("conflicts.exists(c, c.path.startsWith('runtime.'))", True),
        ("conflicts.all(c, c.resolved)", False),
        ("stages.testing.failed > 0", True),
        ("stages.analysis.agents.architecture.status == 'succeeded'", True),
        ("has(stages.analysis.agents.architecture.result.findings)", True),
        ("has(stages.analysis.agents.architecture.result.summary)", False),
        ("stages.analysis.agents.code.result == null", True),
        ("open_conflicts.size() + (stages.testing.failed > 0 ? 1 : 0)", 2),
        ("metrics.cost_usd < 1", True),
        ("params.depth >= 2 && params.scope == '.'", True),
        ("'architecture' in stages.analysis.agents", True),
    ],
)
def test_interface_examples_evaluate(src: str, expected: Any) -> None:
    assert evaluate(src, context()) == expected


def test_int_and_float_compare_but_do_not_mix_in_arithmetic() -> None:
    assert evaluate("1 == 1.0", {}) is True
    assert evaluate("x > 2", {"x": 2.5}) is True
    assert evaluate("x == 3", {"x": 3.0}) is True
    assert evaluate("double(x) + 0.5", {"x": 1}) == 1.5
    with pytest.raises(ExpressionError, match=r"double \+ int.*double\(x\)"):
        evaluate("x + 1", {"x": 1.5})


def test_null_is_not_a_number() -> None:
    assert evaluate("x == null", {"x": None}) is True
    with pytest.raises(ExpressionError, match="type mismatch"):
        evaluate("x > 2", {"x": None})


def test_missing_key_is_a_clear_error() -> None:
    with pytest.raises(ExpressionError) as caught:
        evaluate("stages.nope.total == 1", context())
    assert caught.value.message == "no such key: 'nope'"


def test_unknown_variable_and_function() -> None:
    with pytest.raises(ExpressionError, match="unknown name or function: 'nothing'"):
        evaluate("nothing == 1", {})
    with pytest.raises(ExpressionError, match="unknown name or function: 'frobnicate'"):
        evaluate("frobnicate(1)", {})


def test_other_runtime_errors() -> None:
    with pytest.raises(ExpressionError, match="division by zero"):
        evaluate("1 / x", {"x": 0})
    with pytest.raises(ExpressionError, match="index out of range"):
        evaluate("xs[3]", {"xs": [1]})
    with pytest.raises(ExpressionError, match="cannot be used in an expression"):
        evaluate("x", {"x": object()})


def test_parse_error_reports_the_column() -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression("a ==== b")
    assert caught.value.column == 5
    assert caught.value.line == 1
    assert caught.value.message.startswith("Syntax error: extraneous input '=='")
    assert "expecting an operand" in caught.value.message


def test_parse_error_at_end_and_on_a_later_line() -> None:
    with pytest.raises(ExpressionError) as caught:
        compile_expression("1 +")
    assert (caught.value.line, caught.value.column) == (1, 4)
    with pytest.raises(ExpressionError) as caught:
        compile_expression("a &&\n  b ==== c")
    assert (caught.value.line, caught.value.column) == (2, 7)


def test_empty_expression_does_not_parse() -> None:
    with pytest.raises(ExpressionError):
        compile_expression("")


def test_compile_is_cached() -> None:
    assert compile_expression("1 + 2") is compile_expression("1 + 2")


def test_check_names_ignores_comprehension_variables() -> None:
    src = "open_conflicts.filter(c, c.severity == 'critical').size() == 0"
    assert check_names(src, ROOTS) == []
    assert check_names("conflicts.map(x, x.id).exists(i, i == 'c1')", ROOTS) == []


def test_check_names_reports_unknown_roots_sorted() -> None:
    src = "stage.analysis.total == 1 && metric.cost < 1 && params.x == 'a'"
    assert check_names(src, ROOTS) == ["metric", "stage"]


def test_check_names_does_not_look_inside_strings() -> None:
    assert check_names("params.scope == 'filter(c, nothing)'", ROOTS) == []


def test_check_names_raises_on_parse_error() -> None:
    with pytest.raises(ExpressionError):
        check_names("stages.", ROOTS)


def test_identifier_and_attribute_scans_skip_strings() -> None:
    src = "'stages.fake' == \"x\" && stages.real.agents.one.status == 'ok' && params.p"
    assert attribute_references(src, "stages") == [(("real",), src.index("real"))]
    assert attribute_references(src, "stages", "*", "agents") == [
        (("real", "one"), src.index("one"))
    ]
    assert attribute_references(src, "params") == [(("p",), len(src) - 1)]
    assert identifier_offset(src, "stages") == src.index("stages.real")
    assert offset_position("ab\ncd", 4) == (2, 2)


def test_importing_expressions_does_not_load_rich() -> None:
    code = (
        "import sys, engine.workflow.expressions as e\n"
        "assert e.evaluate('1 + 1', {}) == 2\n"
        "assert not [m for m in sys.modules if m.split('.')[0] in ('rich', 'typer', 'textual')]\n"
        "import cel\n"
        "assert cel.evaluate('2 * 3') == 6\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)
