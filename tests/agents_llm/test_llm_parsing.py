"""The adapter's pure parts: finding the JSON in an answer, reading CLI output, prompts."""

from __future__ import annotations

import json

import llm_agent
import llm_prompts
import pytest


def test_fenced_json_block_is_taken_from_prose() -> None:
    text = 'Here is what I found.\n\n```json\n{"summary": "ok", "findings": {"a": 1}}\n```\nBye.'
    assert llm_agent.extract_json_object(text) == {"summary": "ok", "findings": {"a": 1}}


def test_object_with_the_result_shape_wins_over_an_example() -> None:
    text = (
        'A config looks like ```json\n{"debug": true}\n```, and my answer:\n'
        '```json\n{"findings": {"x": "}"}, "risks": []}\n```'
    )
    assert llm_agent.extract_json_object(text) == {"findings": {"x": "}"}, "risks": []}


def test_bare_balanced_object_with_braces_inside_strings() -> None:
    text = 'Result: {"summary": "uses {braces} and \\"quotes\\"", "findings": {}} -- done {'
    assert llm_agent.extract_json_object(text) == {
        "summary": 'uses {braces} and "quotes"',
        "findings": {},
    }


def test_unlabelled_fence_and_first_parsable_object_are_accepted() -> None:
    assert llm_agent.extract_json_object('```\n{"findings": {}}\n```') == {"findings": {}}
    assert llm_agent.extract_json_object('{not json} then {"a": 1}') == {"a": 1}


@pytest.mark.parametrize("text", ["", "no json here", "```json\n[1, 2]\n```", "{broken: 1}"])
def test_no_object_gives_none(text: str) -> None:
    assert llm_agent.extract_json_object(text) is None


def test_json_output_forms() -> None:
    final = {"type": "result", "subtype": "success", "result": "x"}
    assert llm_agent.parse_json_output(json.dumps(final)) == final
    events = [{"type": "system", "subtype": "init"}, final]
    assert llm_agent.parse_json_output(json.dumps(events)) == final
    assert llm_agent.parse_json_output("\n".join(json.dumps(e) for e in events)) == final
    assert llm_agent.parse_json_output('{"type": "assistant"}') is None
    assert llm_agent.parse_json_output("Segmentation fault") is None


def test_usage_totals_count_input_and_output_tokens() -> None:
    final = {
        "total_cost_usd": 0.25,
        "usage": {"input_tokens": 10, "output_tokens": 5, "cache_read_input_tokens": 1000},
    }
    assert llm_agent.usage_totals(final) == (15, 0.25)
    assert llm_agent.usage_totals({"cost_usd": "0.5", "usage": None}) == (0, 0.5)


def test_describe_event_gives_one_trimmed_line_per_block() -> None:
    event = {
        "type": "assistant",
        "message": {
            "content": [
                {"type": "text", "text": "line one\nline two " + "x" * 500},
                {"type": "tool_use", "name": "Bash", "input": {"command": "pytest -q"}},
            ]
        },
    }
    text, tool = llm_agent.describe_event(event)
    assert text.startswith("assistant: line one line two") and len(text) <= 200
    assert tool == "tool: Bash pytest -q"
    assert llm_agent.describe_event({"type": "weird"}) == ["event: weird"]
    deep = {"type": "tool_use", "name": "Read", "input": {"file_path": "/a" * 60 + "/setup.cfg"}}
    (line,) = llm_agent.describe_event({"type": "assistant", "message": {"content": [deep]}})
    assert line.startswith("tool: Read ...") and line.endswith("/a/setup.cfg")


def test_prepend_entry_keeps_title_and_older_entries() -> None:
    old = "# Changelog\n\nIntro.\n\n## 1.0\n\n- one\n"
    new = llm_agent.prepend_entry(old, "## 2.0\n\n- two")
    assert new == "# Changelog\n\nIntro.\n\n## 2.0\n\n- two\n\n## 1.0\n\n- one\n"
    assert llm_agent.prepend_entry("", "## 2.0\n").startswith("# Changelog\n\n## 2.0")
    headed = llm_agent.prepend_entry("# Changelog\n", "- loose bullet")
    assert "- phaseboard review\n\n- loose bullet\n" in headed


def test_dump_trimmed_shrinks_structure_before_cutting() -> None:
    value = {"keep": "small", "big": ["y" * 1000] * 100}
    text = llm_prompts.dump_trimmed(value, 3000)
    assert len(text) <= 3000
    assert json.loads(text)["keep"] == "small"
    accented = llm_prompts.dump_trimmed({"a": "é" * 50}, 1000)
    assert accented.isascii() and json.loads(accented) == {"a": "é" * 50}
    cut = llm_prompts.dump_trimmed("z" * 10_000, 100)
    assert len(cut) <= 100


def test_select_inputs_finds_stages_at_the_top_or_one_level_down() -> None:
    flat = {"analysis_synthesis": {"s": 1}, "analysis": {"a": 2}, "other": 3}
    assert llm_prompts.select_inputs(flat, ("analysis_synthesis",)) == {
        "analysis_synthesis": {"s": 1}
    }
    nested = {"stages": {"implementation": {"i": 1}}}
    assert llm_prompts.select_inputs(nested, ("implementation",)) == {"implementation": {"i": 1}}
    assert llm_prompts.select_inputs(flat, ("missing",)) == flat


@pytest.mark.parametrize("name", sorted(llm_prompts.ROLES))
def test_every_prompt_names_its_role_and_the_answer_shape(name: str) -> None:
    spec = llm_prompts.role(name)
    prompt = llm_prompts.build_prompt(spec, workspace="/w", inputs={"analysis_synthesis": {}})
    assert f"ROLE: {name}\n" in prompt
    assert '"risks": [{"id"' in prompt and "```json" in prompt
    assert "FEEDBACK" not in prompt and "REDUCED SCOPE" not in prompt
    if spec.target is not None:
        assert spec.target.path in prompt and '"content"' in prompt


def test_analysis_prompts_ask_for_the_same_runtime_path_with_evidence() -> None:
    architecture, infrastructure = (llm_prompts.role(n) for n in ("architecture", "infrastructure"))
    assert '"runtime": {"python": ">=3.11"}' in architecture.findings  # the range as written
    assert '"runtime": {"python": ["3.10", "3.12"]}' in infrastructure.findings  # every version
    for spec in (architecture, infrastructure):
        assert '"evidence": {"runtime.python": [{"file":' in spec.extra_answer
    assert "DECLARES" in architecture.task and "CONFIGURED" in infrastructure.task


def test_unit_tests_prompt_asks_for_the_standard_agents_shape() -> None:
    findings = llm_prompts.role("unit_tests").findings
    for key in ('"status": "passed|failed|incomplete|not_run"', '"failing"', '"reported_warnings"'):
        assert key in findings


def test_followup_prompt_carries_the_role_and_the_feedback_only() -> None:
    text = llm_prompts.build_followup(llm_prompts.role("changelog"), feedback="no JSON")
    assert "ROLE: changelog\n" in text
    assert "Your previous answer was rejected because: no JSON" in text
    assert '"content" with the text for CHANGELOG.md' in text
    assert "INPUTS" not in text and "TASK" not in text


def test_unknown_role_lists_the_known_ones() -> None:
    with pytest.raises(KeyError, match="known roles: architecture"):
        llm_prompts.role("nope")
