"""Consolidation: merging agent results, conflicts, risks, resolutions and the markdown view."""

from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest

from engine.consolidation.merge import (
    MISSING,
    Conflict,
    Consolidation,
    apply_decisions,
    apply_resolution,
    canonical_json,
    conflict_id,
    consolidate,
    get_path,
    join_path,
    set_path,
    split_path,
)
from engine.reports.synthesis_markdown import render_consolidation_markdown

TS = "2026-01-02T03:04:05Z"
RULES = [("runtime.*", "critical"), ("db.*", "high")]


def seed_inputs() -> dict[str, Any]:
    """Three analysis agents; two disagree on the Python version."""
    return {
        "analysis.architecture": {
            "summary": "Three services behind a gateway.",
            "findings": {
                "services": ["api", "worker", "gateway"],
                "runtime": {"python": "3.11", "os": "linux"},
            },
            "risks": [{"id": "no_tests", "severity": "medium", "title": "No tests for worker"}],
            "dependencies": ["postgres", {"name": "redis", "version": "7"}],
            "metrics": {"files": 120},
        },
        "analysis.code": {
            "summary": "Mostly idiomatic Python.",
            "findings": {"patterns": ["repository"], "runtime": {"python": "3.12", "os": "linux"}},
            "risks": [{"id": "no_tests", "severity": "high", "title": "Worker untested", "x": 1}],
            "dependencies": ["postgres"],
        },
        "analysis.infrastructure": {
            "summary": "Docker compose, one VM.",
            "findings": {"runtime": {"os": "linux"}, "containers": 3},
            "risks": [{"severity": "critical", "title": "Secrets in repo!"}],
            "dependencies": [{"version": "7", "name": "redis"}, "docker"],
        },
    }


def run(inputs: dict[str, Any], **kwargs: Any) -> Consolidation:
    kwargs.setdefault("severity_rules", RULES)
    return consolidate("analysis_synthesis", inputs, timestamp=TS, **kwargs)


def test_seed_python_version_conflict() -> None:
    result = run(seed_inputs())

    assert len(result.conflicts) == 1
    conflict = result.conflicts[0]
    assert conflict.path == "runtime.python"
    assert conflict.stage == "analysis_synthesis"
    assert conflict.severity == "critical"
    assert conflict.candidates == {"analysis.architecture": "3.11", "analysis.code": "3.12"}
    assert conflict.resolved is False
    assert conflict.id == conflict_id("analysis_synthesis", "runtime.python")
    assert re.fullmatch(r"c_[0-9a-f]{8}", conflict.id)

    assert result.merged_findings["runtime"] == {"python": "3.11", "os": "linux"}
    assert result.merged_findings["containers"] == 3
    assert list(result.merged_findings) == ["services", "runtime", "patterns", "containers"]
    body = result.synthesis["synthesis"]
    assert body["conflicts"] == [conflict.model_dump()]
    assert body["findings"] == result.merged_findings


def test_synthesis_follows_seed_template() -> None:
    synthesis = run(seed_inputs()).synthesis

    assert synthesis["timestamp"] == TS
    assert synthesis["phase"] == "analysis_synthesis"
    assert synthesis["inputs"] == list(seed_inputs())
    assert synthesis["missing"] == []
    assert synthesis["warnings"] == []
    body = synthesis["synthesis"]
    for key in ("findings", "conflicts", "dependencies", "risk_assessment"):
        assert key in body
    assert body["architecture"] == seed_inputs()["analysis.architecture"]["findings"]
    assert body["code"]["patterns"] == ["repository"]
    assert set(synthesis["decisions"]) == {
        "implementation_strategy",
        "priority_order",
        "resource_allocation",
    }
    assert synthesis["summaries"]["analysis.code"] == "Mostly idiomatic Python."
    assert synthesis["metrics"] == {"analysis.architecture": {"files": 120}}
    json.dumps(synthesis)
    assert Consolidation.model_validate_json(run(seed_inputs()).model_dump_json()) == run(
        seed_inputs()
    )


def test_conflict_id_is_stable_across_calls_and_input_order() -> None:
    inputs = seed_inputs()
    reordered = dict(reversed(list(inputs.items())))

    first = run(inputs).conflicts[0]
    again = run(copy.deepcopy(inputs)).conflicts[0]
    flipped = run(reordered).conflicts[0]

    assert first.id == again.id == flipped.id
    assert first.id == conflict_id("analysis_synthesis", "runtime.python")
    assert conflict_id("other_stage", "runtime.python") != first.id
    assert flipped.candidates == {"analysis.code": "3.12", "analysis.architecture": "3.11"}
    assert run(reordered).merged_findings["runtime"]["python"] == "3.12"


def test_input_order_decides_first_candidate_and_lists_absent_keys_as_missing() -> None:
    inputs = seed_inputs()
    order = ["analysis.code", "analysis.ghost", "analysis.architecture"]

    result = run(inputs, input_order=order)

    assert result.synthesis["inputs"] == [*order, "analysis.infrastructure"]
    assert result.synthesis["missing"] == ["analysis.ghost"]
    assert result.merged_findings["runtime"]["python"] == "3.12"


def test_equal_values_do_not_conflict_including_int_and_float() -> None:
    inputs = {
        "s.a": {"findings": {"x": 3, "cfg": {"b": 1, "a": [1, 2]}, "same": "v"}},
        "s.b": {"findings": {"x": 3.0, "cfg": {"a": [1, 2], "b": 1.0}, "same": "v"}},
    }

    result = consolidate("s2", inputs, timestamp=TS)

    assert result.conflicts == []
    assert result.merged_findings == {"x": 3, "cfg": {"b": 1, "a": [1, 2]}, "same": "v"}


def test_bool_and_int_are_not_equal() -> None:
    inputs = {"s.a": {"findings": {"x": True}}, "s.b": {"findings": {"x": 1}}}

    assert [c.path for c in consolidate("s2", inputs, timestamp=TS).conflicts] == ["x"]


def test_dict_against_leaf_conflicts_at_that_path() -> None:
    inputs = {
        "s.a": {"findings": {"db": {"engine": "postgres", "version": 15}}},
        "s.b": {"findings": {"db": "postgres"}},
        "s.c": {"findings": {"other": 1}},
    }

    result = consolidate("s2", inputs, severity_rules=RULES, timestamp=TS)

    assert len(result.conflicts) == 1
    conflict = result.conflicts[0]
    assert conflict.path == "db"
    assert conflict.severity == "warning"
    assert conflict.candidates == {
        "s.a": {"engine": "postgres", "version": 15},
        "s.b": "postgres",
    }
    assert result.merged_findings["db"] == {"engine": "postgres", "version": 15}


def test_lists_are_compared_whole_and_severity_rules_apply_in_order() -> None:
    inputs = {
        "s.a": {"findings": {"db": {"tables": ["users", "orders"]}, "runtime": {"x": 1}}},
        "s.b": {"findings": {"db": {"tables": ["orders", "users"]}, "runtime": {"x": 2}}},
    }
    rules = [("db.tab*", "low"), ("db.*", "high"), ("*", "medium")]

    result = consolidate("s2", inputs, severity_rules=rules, timestamp=TS)

    by_path = {c.path: c for c in result.conflicts}
    assert set(by_path) == {"db.tables", "runtime.x"}
    assert by_path["db.tables"].severity == "low"
    assert by_path["runtime.x"].severity == "medium"
    assert by_path["db.tables"].candidates["s.b"] == ["orders", "users"]


def test_unknown_severity_in_rules_is_rejected() -> None:
    with pytest.raises(ValueError, match="severity"):
        consolidate("s", {}, severity_rules=[("*", "fatal")], timestamp=TS)


def test_missing_agent_is_listed_and_has_an_empty_section() -> None:
    inputs: dict[str, Any] = seed_inputs()
    inputs["analysis.code"] = None

    result = run(inputs)

    assert result.synthesis["missing"] == ["analysis.code"]
    assert "analysis.code" in result.synthesis["inputs"]
    assert result.synthesis["synthesis"]["code"] == {}
    assert "analysis.code" not in result.synthesis["summaries"]
    assert result.conflicts == []


def test_non_dict_results_and_findings_are_tolerated() -> None:
    inputs: dict[str, Any] = {
        "s.list": ["not", "an", "object"],
        "s.text": {
            "summary": "ok",
            "findings": "just text",
            "risks": "one risk",
            "dependencies": 5,
        },
        "s.good": {"findings": {"a": 1}, "risks": [42, "Plain title"]},
    }

    result = consolidate("s2", inputs, timestamp=TS)

    assert result.merged_findings == {"a": 1}
    assert result.synthesis["missing"] == []
    warnings = result.synthesis["warnings"]
    assert any(w.startswith("s.list: result is a list") for w in warnings)
    assert any(w.startswith("s.text: findings is a str") for w in warnings)
    assert any("a risk is a int" in w for w in warnings)
    assert result.dependencies == [5]
    ids = {r["id"] for r in result.risks}
    assert ids == {"one_risk", "plain_title"}
    assert all(r["severity"] == "medium" for r in result.risks)


def test_empty_inputs() -> None:
    result = consolidate("s2", {}, timestamp=TS)

    assert result.merged_findings == {}
    assert result.conflicts == []
    assert result.synthesis["synthesis"]["risk_assessment"]["highest"] is None
    assert result.synthesis["decisions"]["priority_order"] == []
    assert result.synthesis["decisions"]["implementation_strategy"]


def test_risks_merged_by_id_highest_severity_wins() -> None:
    result = run(seed_inputs())

    assert [r["id"] for r in result.risks] == ["secrets_in_repo", "no_tests"]
    no_tests = result.risks[1]
    assert no_tests["severity"] == "high"
    assert no_tests["title"] == "Worker untested"
    assert no_tests["x"] == 1
    assert no_tests["reported_by"] == ["analysis.architecture", "analysis.code"]
    secrets = result.risks[0]
    assert secrets["severity"] == "critical"
    assert secrets["reported_by"] == ["analysis.infrastructure"]

    assessment = result.synthesis["synthesis"]["risk_assessment"]
    assert assessment["by_severity"] == {"critical": 1, "high": 1, "medium": 0, "low": 0}
    assert assessment["highest"] == "critical"
    decisions = result.synthesis["decisions"]
    assert decisions["priority_order"] == ["secrets_in_repo", "no_tests"]
    assert decisions["implementation_strategy"] == (
        "address 1 critical and 1 high risks first: secrets_in_repo, no_tests"
    )


def test_risk_ties_keep_first_reporter_details_and_sort_by_id() -> None:
    inputs = {
        "s.a": {"risks": [{"id": "b", "severity": "LOW", "title": "first"}, {"id": "a"}]},
        "s.b": {"risks": [{"id": "b", "severity": "low", "title": "second"}]},
    }

    result = consolidate("s2", inputs, timestamp=TS)

    assert [(r["id"], r["severity"]) for r in result.risks] == [("a", "medium"), ("b", "low")]
    assert result.risks[1]["title"] == "first"
    assert result.risks[1]["reported_by"] == ["s.a", "s.b"]
    assert result.synthesis["decisions"]["implementation_strategy"].startswith(
        "no critical or high risks"
    )


def test_dependencies_deduplicated_in_first_seen_order() -> None:
    assert run(seed_inputs()).dependencies == [
        "postgres",
        {"name": "redis", "version": "7"},
        "docker",
    ]


def test_sections_mapping_by_agent_id_or_full_key() -> None:
    sections = {
        "architecture_map": "architecture",
        "code_patterns": "analysis.code",
        "nowhere": "ghost",
        "findings": "code",
    }

    result = run(seed_inputs(), sections=sections)

    body = result.synthesis["synthesis"]
    assert body["architecture_map"]["services"] == ["api", "worker", "gateway"]
    assert body["code_patterns"]["patterns"] == ["repository"]
    assert body["nowhere"] == {}
    assert body["findings"] == result.merged_findings
    assert "architecture" not in body
    warnings = result.synthesis["warnings"]
    assert any("'ghost'" in w for w in warnings)
    assert any("reserved" in w for w in warnings)


def test_default_sections_disambiguate_repeated_agent_ids() -> None:
    inputs = {
        "implementation.unit": {"findings": {"a": 1}},
        "testing.unit": {"findings": {"b": 2}},
        "testing.findings": {"findings": {"c": 3}},
    }

    body = consolidate("final", inputs, timestamp=TS).synthesis["synthesis"]

    assert body["implementation_unit"] == {"a": 1}
    assert body["testing_unit"] == {"b": 2}
    assert body["testing_findings"] == {"c": 3}
    assert body["findings"] == {"a": 1, "b": 2, "c": 3}


def test_apply_resolution_sets_value_without_mutating_original() -> None:
    original = run(seed_inputs())
    snapshot = original.model_dump()
    cid = original.conflicts[0].id

    resolved = apply_resolution(original, cid, "3.12")

    assert original.model_dump() == snapshot
    assert resolved.merged_findings["runtime"]["python"] == "3.12"
    assert resolved.synthesis["synthesis"]["findings"]["runtime"]["python"] == "3.12"
    assert resolved.conflict(cid).resolved is True
    assert resolved.conflict(cid).resolution == {"value": "3.12"}
    assert resolved.open_conflicts == []
    entry = resolved.synthesis["synthesis"]["conflicts"][0]
    assert entry["resolved"] is True
    assert entry["resolution"] == {"value": "3.12"}
    assert entry["candidates"] == original.conflicts[0].candidates

    resolved.merged_findings["runtime"]["os"] = "changed"
    assert original.merged_findings["runtime"]["os"] == "linux"


def test_apply_resolution_of_dict_leaf_conflict_and_unknown_id() -> None:
    inputs = {"s.a": {"findings": {"db": {"engine": "pg"}}}, "s.b": {"findings": {"db": "pg"}}}
    result = consolidate("s2", inputs, timestamp=TS)

    resolved = apply_resolution(result, result.conflicts[0].id, {"engine": "pg", "v": 16})

    assert resolved.merged_findings == {"db": {"engine": "pg", "v": 16}}
    with pytest.raises(KeyError):
        apply_resolution(result, "c_00000000", 1)


def test_apply_decisions_merges_over_defaults() -> None:
    original = run(seed_inputs())
    original_decisions = copy.deepcopy(original.synthesis["decisions"])

    updated = apply_decisions(
        original,
        {
            "implementation_strategy": "rotate secrets, then pin Python 3.12",
            "resource_allocation": {"security": 2},
            "extra": ["note"],
        },
    )

    decisions = updated.synthesis["decisions"]
    assert decisions["implementation_strategy"] == "rotate secrets, then pin Python 3.12"
    assert decisions["priority_order"] == ["secrets_in_repo", "no_tests"]
    assert decisions["resource_allocation"] == {"security": 2}
    assert decisions["extra"] == ["note"]
    assert original.synthesis["decisions"] == original_decisions
    with pytest.raises(TypeError):
        apply_decisions(original, ["not", "a", "mapping"])  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "keys",
    [["a"], ["a", "b"], ["v1.2", "x"], ["back\\slash", "dot.\\.mix"], ["", "trailing."], ["\\"]],
)
def test_path_join_split_round_trip(keys: list[str]) -> None:
    assert split_path(join_path(keys)) == keys


def test_get_set_path_with_dotted_keys() -> None:
    data = {"versions": {"v1.2": {"ok": True}}, "plain": 1}
    path = join_path(["versions", "v1.2", "ok"])
    assert path == "versions.v1\\.2.ok"

    assert get_path(data, path) is True
    updated = set_path(data, path, False)
    assert get_path(updated, path) is False
    assert data["versions"]["v1.2"]["ok"] is True

    created = set_path(data, join_path(["new", "a.b"]), [1])
    assert created["new"] == {"a.b": [1]}
    assert "new" not in data

    assert get_path(data, "versions.v1.2", None) is None
    assert get_path(data, "plain.deeper", "dflt") == "dflt"
    with pytest.raises(KeyError):
        get_path(data, "nope")
    with pytest.raises(KeyError):
        get_path(data, "nope", MISSING)
    with pytest.raises(TypeError):
        set_path(data, "plain.deeper", 1)


def test_conflicts_with_dotted_keys_resolve_at_the_right_place() -> None:
    inputs = {
        "s.a": {"findings": {"pkg": {"numpy.core": 1}}},
        "s.b": {"findings": {"pkg": {"numpy.core": 2}}},
    }
    result = consolidate("s2", inputs, timestamp=TS)

    assert result.conflicts[0].path == "pkg.numpy\\.core"
    resolved = apply_resolution(result, result.conflicts[0].id, 3)
    assert resolved.merged_findings == {"pkg": {"numpy.core": 3}}


def test_canonical_json_ignores_key_order_and_integral_floats() -> None:
    assert canonical_json({"b": 1.0, "a": [2.0, 2.5]}) == canonical_json({"a": [2, 2.5], "b": 1})
    assert canonical_json("3") != canonical_json(3)


def test_markdown_has_conflict_table_and_escapes_cells() -> None:
    inputs = seed_inputs()
    inputs["analysis.code"]["findings"]["runtime"]["shell"] = "bash | zsh\nfish"
    inputs["analysis.architecture"]["findings"]["runtime"]["shell"] = "sh"
    inputs["analysis.infrastructure"]["risks"][0]["title"] = "Secrets | in\nrepo"
    inputs["analysis.code"]["findings"]["big"] = list(range(50))
    inputs["analysis.code"]["summary"] = "# Not a heading\nsecond line"
    result = run(inputs)
    shell = next(c for c in result.conflicts if c.path == "runtime.shell")
    resolved = apply_resolution(result, shell.id, "bash")

    md = render_consolidation_markdown(
        resolved,
        title="Analysis synthesis",
        resolutions={shell.id: {"picked": "analysis.code", "by": "ann@host", "note": "a|b"}},
    )

    assert md.startswith("# Analysis synthesis\n")
    assert TS in md
    assert (
        "| ID | Path | Severity | Why | Candidates (and where each was found) | Resolution |" in md
    )
    python_row = next(line for line in md.splitlines() if "runtime.python" in line)
    assert "| critical |" in python_row
    assert 'analysis.architecture: "3.11"; analysis.code: "3.12"' in python_row
    assert python_row.rstrip().endswith("| open |")
    shell_row = next(line for line in md.splitlines() if line.startswith(f"| {shell.id} "))
    assert '"bash \\| zsh\\nfish"' in shell_row
    assert '= "bash"' in shell_row
    assert "picked analysis.code" in shell_row and "by ann@host" in shell_row
    assert "a\\|b" in shell_row
    assert re.search(r"\| secrets_in_repo \| critical \| Secrets \\\| in repo \|", md)
    for line in md.splitlines():
        if line.startswith("| "):
            assert len(re.findall(r"(?<!\\)\|", line)) in (5, 6, 7)
    assert "> # Not a heading" in md
    assert "(30 more)" in md
    assert "- Implementation strategy: address 1 critical and 1 high risks first" in md
    assert "- postgres" in md
    assert '- {"name": "redis", "version": "7"}' in md
    assert "\n\n\n" not in md
    assert md == render_consolidation_markdown(
        resolved,
        title="Analysis synthesis",
        resolutions={shell.id: {"picked": "analysis.code", "by": "ann@host", "note": "a|b"}},
    )


def test_markdown_lists_missing_agents_and_empty_parts() -> None:
    md = render_consolidation_markdown(
        consolidate("s2", {"s.a": None, "s.b": {"findings": {"k": "v" * 500}}}, timestamp=TS)
    )

    assert "# Consolidation: s2" in md
    assert "- s.a — **missing**" in md
    assert "_No conflicts._" in md
    assert "_No risks reported._" in md
    assert "more chars)" in md


def test_conflict_model_is_frozen() -> None:
    conflict = run(seed_inputs()).conflicts[0]
    with pytest.raises(ValueError):
        conflict.path = "x"  # type: ignore[misc]
    assert isinstance(conflict, Conflict)
