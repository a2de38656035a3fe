"""The workflow file: a complete valid file loads, and each kind of mistake is reported as
``FILE:LINE:COL: message`` at the right place, all of them at once, never as a traceback."""

from __future__ import annotations

import random
from pathlib import Path

import jsonschema
import pytest
import yaml
from pydantic import ValidationError

from engine.workflow import loader as yaml_positions
from engine.workflow.loader import (
    Problem,
    WorkflowError,
    load_workflow,
    parse_workflow,
    resolve_workflow_path,
)
from engine.workflow.models import (
    AgentsStage,
    CheckpointStage,
    ConsolidationStage,
    Synthesizer,
    Workflow,
    bundled_data_dir,
    find_issues,
    workflow_json_schema,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "workflows"
FULL = FIXTURES / "full.yaml"

# Line numbers below refer to this text.
BASE = """\
version: 1
name: demo
params: {scope: "."}
stages:
  - id: analysis
    kind: agents
    agents:
      - id: arch
        run: ["{python}", "-c", "pass"]
        backup: arch_lite
      - id: arch_lite
        standby: true
        run: [echo, lite]
  - id: review
    kind: checkpoint
    criteria:
      - id: done
        expr: "stages.analysis.succeeded == stages.analysis.total"
"""


def problems_of(text: str) -> list[str]:
    with pytest.raises(WorkflowError) as caught:
        parse_workflow(text, "w.yaml")
    assert str(caught.value) == "\n".join(str(p) for p in caught.value.problems)
    return [str(problem) for problem in caught.value.problems]


def edit(old: str, new: str) -> str:
    assert old in BASE, old
    return BASE.replace(old, new, 1)


def arch_key(line: str) -> str:
    """BASE with ``line`` added to agent ``arch`` (as line 11)."""
    return edit("backup: arch_lite\n", f"backup: arch_lite\n        {line}\n")


def test_base_is_valid() -> None:
    workflow = parse_workflow(BASE, "w.yaml")
    assert [stage.id for stage in workflow.stages] == ["analysis", "review"]


def test_full_workflow_loads() -> None:
    workflow = load_workflow(FULL)
    assert workflow.name == "standard"
    assert workflow.params == {"scope": ".", "depth": 2, "strict_tests": True}
    assert workflow.secrets == ["ANTHROPIC_API_KEY"]
    assert [s.kind for s in workflow.stages] == [
        "agents", "consolidation", "checkpoint", "agents", "agents", "consolidation", "checkpoint",
    ]  # fmt: skip
    analysis = workflow.stage("analysis")
    assert isinstance(analysis, AgentsStage)
    assert analysis.collect_timeout == 300
    arch = analysis.agent("architecture")
    assert arch.display_title == "System Architecture Analysis"
    assert arch.backup == "architecture_lite"
    assert arch.result_schema == {"type": "object", "required": ["findings"]}
    assert arch.reduced_scope == {"depth": 1}
    assert arch.rollback == ["git", "checkout", "--", "."]
    lite = analysis.agent("architecture_lite")
    assert lite.standby and lite.display_title == "architecture_lite"
    assert lite.argv() == ["{python}", "{data}/agents/architecture.py", "{workspace}", "--lite"]
    infra = analysis.agent("infrastructure")
    assert infra.shell and len(infra.argv()) == 1 and infra.argv()[0].startswith("printf '{{")
    assert infra.budget is not None and infra.budget.tokens == 100000

    effective = workflow.effective(arch)
    assert (effective.timeout, effective.retries, effective.retry_backoff) == (120, 2, 2.0)
    assert (effective.memory_mb, effective.cpu_percent, effective.grace) == (1024, 25, 3.0)
    assert arch.retry_backoff is None  # the original is untouched
    assert workflow.effective(arch) is effective  # made once per agent and defaults
    other_defaults = workflow.defaults.model_copy(update={"memory_mb": 64})
    changed = workflow.model_copy(update={"defaults": other_defaults})
    assert changed.effective(arch).memory_mb == 64
    assert changed == workflow.model_copy(update={"defaults": other_defaults})  # no cache inside

    synthesis = workflow.stage("analysis_synthesis")
    assert isinstance(synthesis, ConsolidationStage)
    assert synthesis.sections["code_patterns"] == "code"
    assert synthesis.conflict_severity[0].severity == "critical"
    assert isinstance(synthesis.synthesizer, Synthesizer)
    assert workflow.agent("analysis_synthesis", "synthesizer") is synthesis.synthesizer

    review = workflow.stage("analysis_review")
    assert isinstance(review, CheckpointStage)
    assert review.on_failure == ["retry_failed", "manual_resolution", "escalate"]
    assert "||" in review.criteria[2].expr
    testing = workflow.stage("testing")
    assert isinstance(testing, AgentsStage) and testing.extended is not None
    assert [a.id for a in testing.all_agents] == ["unit", "integration", "performance"]
    final = workflow.stage("production_readiness")
    assert isinstance(final, CheckpointStage) and final.decision is not None
    assert (final.decision.proceed_below, final.decision.conditional_below) == (3, 5)
    assert workflow.stage_index("testing") == 4


NULL_LIMITS = """\
version: 1
name: limits
defaults: {timeout: 60, idle_timeout: 30, memory_mb: 512, cpu_percent: 25,
           retries: 2, retry_backoff: 4, grace: 1}
stages:
  - id: s
    kind: agents
    agents:
      - id: unlimited
        run: [x]
        timeout: null
        idle_timeout: null
        memory_mb: null
        cpu_percent: null
        retries: null
        retry_backoff: null
        grace: null
      - {id: inherits, run: [x]}
      - {id: own, run: [x], cpu_percent: 50}
  - id: c
    kind: consolidation
    inputs: [s]
    synthesizer: {run: [y], cpu_percent: null}
"""


def test_an_explicit_null_turns_a_limit_off_and_a_missing_one_inherits() -> None:
    workflow = parse_workflow(NULL_LIMITS, "w.yaml")
    limits = ("timeout", "idle_timeout", "memory_mb", "cpu_percent")
    others = ("retries", "retry_backoff", "grace")

    def effective(agent_id: str, stage: str = "s") -> tuple[object, ...]:
        agent = workflow.effective(workflow.agent(stage, agent_id))
        return tuple(getattr(agent, name) for name in (*limits, *others))

    assert effective("unlimited") == (None, None, None, None, 2, 4.0, 1.0)  # null: no limit
    assert effective("inherits") == (60, 30, 512, 25, 2, 4.0, 1.0)
    assert effective("own")[3] == 50
    assert effective("synthesizer", "c")[:4] == (60, 30, 512, None)
    # the distinction survives the copies made of a workflow, and each agent is cached apart
    copied = workflow.with_params({})
    agent = copied.agent("s", "unlimited")
    assert copied.effective(agent).cpu_percent is None
    assert copied.effective(agent) is copied.effective(agent)
    assert copied.effective(copied.agent("s", "inherits")).cpu_percent == 25


ON_EXHAUSTED = """\
version: 1
name: exhausted
defaults:
  memory_mb: 512
  on_exhausted: {memory_factor: 1.5, max_memory_mb: 4096, budget_factor: 2}
stages:
  - id: s
    kind: agents
    agents:
      - {id: inherits, run: [x]}
      - {id: own, run: [x], on_exhausted: {memory_factor: 2, max_budget_tokens: 9000}}
      - {id: uncapped, run: [x], on_exhausted: {max_memory_mb: null}}
      - {id: without, run: [x], on_exhausted: null}
"""


def test_on_exhausted_comes_from_defaults_key_by_key() -> None:
    workflow = parse_workflow(ON_EXHAUSTED, "w.yaml")

    def rule(agent_id: str) -> tuple[object, ...] | None:
        found = workflow.effective(workflow.agent("s", agent_id)).on_exhausted
        if found is None:
            return None
        return (
            found.memory_factor,
            found.max_memory_mb,
            found.budget_factor,
            found.max_budget_tokens,
        )

    assert rule("inherits") == (1.5, 4096, 2.0, None)
    assert rule("own") == (2.0, 4096, 2.0, 9000)  # the agent's keys win, the others inherit
    assert rule("uncapped") == (1.5, None, 2.0, None)  # an explicit null drops the cap
    assert rule("without") is None  # null: no rule, whatever defaults say
    assert workflow.agent("s", "own").on_exhausted.max_memory_mb is None  # the original


def test_the_bundled_unit_tests_agent_runs_without_a_cpu_limit() -> None:
    workflow = load_workflow(resolve_workflow_path("standard"))
    assert workflow.defaults.cpu_percent is not None
    assert workflow.effective(workflow.agent("testing", "unit_tests")).cpu_percent is None


def test_unknown_ids_raise_key_error() -> None:
    workflow = parse_workflow(BASE, "w.yaml")
    with pytest.raises(KeyError):
        workflow.stage("nope")
    with pytest.raises(KeyError):
        workflow.agent("analysis", "nope")
    with pytest.raises(KeyError):
        workflow.agent("review", "arch")


def test_models_are_frozen() -> None:
    workflow = parse_workflow(BASE, "w.yaml")
    with pytest.raises(ValidationError):
        workflow.name = "other"  # type: ignore[misc]


MISTAKES = [
    # (name, text, "LINE:COL", fragment of the message)
    ("yaml syntax", edit("name: demo", "name: demo: x"), "2:11",
     "YAML syntax error: mapping values are not allowed here"),
    ("tab indentation", edit("      - id: arch_lite", "\t- id: arch_lite"), "11:1",
     "tab character"),
    ("duplicate key", edit("[echo, lite]\n", "[echo, lite]\n        run: [echo]\n"), "14:9",
     "duplicate key 'run' (first defined at line 13)"),
    ("unknown key", arch_key("timout: 5"), "11:9",
     "unknown key 'timout' in agent 'arch' (did you mean 'timeout'?)"),
    ("unknown stage key", edit("    agents:\n", "    agent:\n"), "7:5",
     "unknown key 'agent' in agents stage 'analysis' (did you mean 'agents'?)"),
    ("unknown top-level key", edit("params:", "parms:"), "3:1",
     "unknown key 'parms' in the workflow (did you mean 'params'?)"),
    ("wrong type", arch_key("retries: many"),
     "11:18", "retries: expected a whole number (got 'many')"),
    ("number for a string", edit("name: demo", "name: 12"), "2:7",
     "name: expected a string (got 12; write '12' to make it a string)"),
    ("missing required field", edit("        run: [echo, lite]\n", ""), "11:9",
     "missing required key 'run' in agent 'arch_lite'"),
    ("duplicate stage id", edit("  - id: review", "  - id: analysis"), "14:9",
     "duplicate stage id 'analysis' (first defined at line 5)"),
    ("duplicate agent id", edit("- id: arch_lite", "- id: arch"), "11:13",
     "duplicate agent id 'arch' in stage 'analysis' (first defined at line 8)"),
    ("bad id", edit("- id: arch\n", "- id: Arch\n"), "8:13",
     "id: 'Arch' is not a valid id: use snake_case"),
    ("dangling inputs",
     BASE + "  - id: synthesis\n    kind: consolidation\n    inputs: [analysis, analysys]\n",
     "21:24", "input 'analysys' is not a stage (did you mean 'analysis'?)"),
    ("input that is not an agents stage",
     BASE + "  - id: synthesis\n    kind: consolidation\n    inputs: [review]\n",
     "21:14", "input 'review' is a checkpoint stage; inputs must be agents stages"),
    ("dangling section agent",
     BASE + "  - id: synthesis\n    kind: consolidation\n    inputs: [analysis]\n"
     "    sections: {map: archi}\n",
     "22:21", "section 'map': agent 'archi' is not in the input stages (did you mean 'arch'?)"),
    ("dangling backup", edit("backup: arch_lite", "backup: arch_light"), "10:17",
     "backup 'arch_light' is not an agent of stage 'analysis' (did you mean 'arch_lite'?)"),
    ("backup not standby", edit("standby: true", "standby: false"), "10:17",
     "backup 'arch_lite' must be a standby agent"),
    ("standby never used", edit("        backup: arch_lite\n", ""), "11:18",
     "standby agent 'arch_lite' never runs"),
    ("expression does not parse", edit("succeeded == stages", "succeeded == ) stages"), "18:45",
     "expression does not parse: Syntax error: extraneous input ')'"),
    ("unknown name in expression", edit('expr: "stages.analysis.', 'expr: "stage.analysis.'),
     "18:16", "unknown name 'stage' in expression (did you mean 'stages'?)"),
    ("unknown stage in expression",
     edit("succeeded == stages.analysis", "succeeded == stages.analyss"),
     "18:52", "unknown stage 'analyss' in expression (did you mean 'analysis'?)"),
    ("unknown agent in expression",
     edit("stages.analysis.succeeded ==", "stages.analysis.agents.archi.status =="),
     "18:39", "stage 'analysis' has no agent 'archi' (did you mean 'arch'?)"),
    ("unknown param in expression", edit("stages.analysis.succeeded ==", "params.scop =="), "18:23",
     "unknown parameter 'scop' in expression (params: scope)"),
    ("wrong version", edit("version: 1", "version: 2"), "1:10",
     "unsupported version 2; this phaseboard reads version 1"),
    ("boolean version", edit("version: 1", "version: true"), "1:10",
     "version: expected 1 (got true)"),
    ("missing version", edit("version: 1\n", ""), "1:1",
     "missing required key 'version' in the workflow (this phaseboard reads version 1)"),
    ("unknown placeholder", edit('"{python}"', '"{pyhton}"'), "9:16",
     "unknown placeholder '{pyhton}'"),
    ("unknown param placeholder", edit("[echo, lite]", '[echo, "{params.scop}"]'), "13:22",
     "unknown parameter 'scop' in placeholder '{params.scop}' (params: scope)"),
    ("stray brace", edit("[echo, lite]", '[echo, "x}"]'), "13:23",
     "unbalanced '}': write }} for a literal brace"),
    ("command that does not split", edit("[echo, lite]", "echo 'lite"), "13:14",
     "command does not split into arguments: No closing quotation"),
    ("shell with an argv list", edit("standby: true\n", "standby: true\n        shell: true\n"),
     "14:14", "with shell: true, the command must be one string"),
    ("bad kind", edit("kind: agents", "kind: agent"), "6:11",
     "unknown stage kind 'agent' (expected one of: agents, consolidation, checkpoint)"),
    ("missing kind", edit("    kind: agents\n", ""), "5:5", "missing required key 'kind'"),
    ("bad literal", edit("kind: agents\n", "kind: agents\n    mode: random\n"), "7:11",
     "mode: expected one of 'parallel' or 'sequential' (got 'random')"),
    ("below minimum", edit("kind: agents\n", "kind: agents\n    max_parallel: 0\n"), "7:19",
     "max_parallel: must be at least 1"),
    ("conditional below proceed",
     BASE + "    decision: {proceed_below: 4, conditional_below: 2}\n", "19:53",
     "conditional_below (2) must be at least proceed_below (4)"),
    ("invalid json schema", arch_key("schema: {type: objekt}"),
     "11:24", "invalid JSON Schema: 'objekt' is not valid under any of the given schemas"),
    ("not JSON data", arch_key("reduced_scope: {since: 2024-01-01}"),
     "11:32", "must be JSON data (a date is not); quote it"),
    ("bad env value", arch_key("env: {DEBUG: 1}"),
     "11:22", "DEBUG: expected a string (got 1; write '1' to make it a string)"),
    ("bad param name", edit('{scope: "."}', '{scope: ".", 2x: 1}'), "3:22",
     "'2x' is not a valid name"),
    ("empty stages", "version: 1\nname: x\nstages: []\n", "3:9", "stages: must not be empty"),
    ("stage not a mapping", "version: 1\nname: x\nstages: [analysis]\n", "3:10",
     "stages[0]: expected a mapping (got 'analysis')"),
    ("top-level list", "- version: 1\n", "1:1", "the top level must be a mapping"),
    ("top-level scalar", "just text\n", "1:1", "not a single value ('just text')"),
    ("empty file", "", "1:1", "the file is empty"),
    ("only a comment", "# nothing yet\n", "1:1", "the file is empty"),
    ("control character", "version: 1\nname: a\x07b\n", "2:8", "control character U+0007"),
    ("two documents", "version: 1\n---\nversion: 1\n", "2:1", "expected a single document"),
    ("python tag", "version: !!python/object:os.system x\n", "1:10",
     "could not determine a constructor"),
    ("unknown tag on a mapping", "version: !custom {a: 1}\n", "1:10",
     "unsupported YAML tag '!custom'"),
    ("recursive alias", "version: &a [*a]\n", "1:10", "nesting is too deep"),
    ("non-finite number", arch_key("timeout: .inf"),
     "11:18", "timeout: expected a finite number"),
    ("unknown on_exhausted key", arch_key("on_exhausted: {memory_factr: 2}"), "11:24",
     "unknown key 'memory_factr' in on_exhausted (did you mean 'memory_factor'?)"),
    ("negative factor", arch_key("on_exhausted: {budget_factor: -1.5}"), "11:39",
     "budget_factor: must be greater than 1"),
    ("factor that lowers", edit("params:", "defaults: {on_exhausted: {memory_factor: 0.5}}\nparams:"),
     "3:42", "memory_factor: must be greater than 1"),
    ("cap below one", arch_key("on_exhausted: {max_memory_mb: 0}"), "11:39",
     "max_memory_mb: must be at least 1"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [case[1:] for case in MISTAKES],
    ids=[case[0] for case in MISTAKES],
)
def test_mistake_is_reported_at_its_position(text: str, position: str, fragment: str) -> None:
    found = problems_of(text)
    prefix = f"w.yaml:{position}: "
    assert any(line.startswith(prefix) and fragment in line for line in found), found


def test_several_problems_are_all_reported_in_order() -> None:
    text = (
        BASE.replace("backup: arch_lite\n", "backup: arch_lite\n        timout: 5\n")
        .replace("  - id: review", "  - id: analysis")
        .replace("succeeded == stages", "succeeded == ) stages")
        .replace("kind: checkpoint\n", "kind: checkpoint\n    mode: loose\n")
    )
    assert problems_of(text) == [
        "w.yaml:11:9: unknown key 'timout' in agent 'arch' (did you mean 'timeout'?)",
        "w.yaml:15:9: duplicate stage id 'analysis' (first defined at line 5)",
        "w.yaml:17:11: mode: expected one of 'strict' or 'lenient' (got 'loose')",
        "w.yaml:20:45: expression does not parse: Syntax error: extraneous input ')'"
        " expecting an operand",
    ]


def test_a_wrong_version_is_reported_alone() -> None:
    text = BASE.replace("version: 1", "version: 3").replace("name: demo", "nom: demo")
    assert problems_of(text) == [
        "w.yaml:1:10: unsupported version 3; this phaseboard reads version 1"
    ]


def test_expression_in_a_literal_block_points_inside_it() -> None:
    text = BASE.replace(
        '        expr: "stages.analysis.succeeded == stages.analysis.total"\n',
        "        expr: |\n"
        "          stages.analysis.succeeded == 1 &&\n"
        "            stages.nope.total == 1\n",
    )
    assert problems_of(text) == ["w.yaml:20:20: unknown stage 'nope' in expression"]


def test_expression_errors_in_decision_and_extended() -> None:
    text = (
        BASE.replace(
            "        run: [echo, lite]\n",
            "        run: [echo, lite]\n"
            "    extended:\n"
            "      when: 'stages.analysis.failed == 0 &&'\n"
            "      agents: [{id: extra, run: [echo]}]\n",
        )
        + "    decision:\n      critical: ['1 +']\n      warnings: [runs.size()]\n"
    )
    assert problems_of(text) == [
        "w.yaml:15:44: expression does not parse: Syntax error: mismatched input '<EOF>'"
        " expecting an operand",
        "w.yaml:23:22: expression does not parse: Syntax error: mismatched input '<EOF>'"
        " expecting an operand",
        "w.yaml:24:18: unknown name 'runs' in expression (did you mean 'run'?); known names:"
        " conflicts, metrics, open_conflicts, params, run, stages",
    ]


def test_backup_chain_loop_is_reported() -> None:
    text = BASE.replace(
        "        run: [echo, lite]\n",
        "        run: [echo, lite]\n        backup: spare\n"
        "      - {id: spare, run: [echo], standby: true, backup: arch_lite}\n",
    )
    assert problems_of(text) == [
        "w.yaml:15:57: backup chain loops: arch_lite -> spare -> arch_lite"
    ]


def test_synthesizer_has_no_backup() -> None:
    text = BASE + (
        "  - id: synthesis\n    kind: consolidation\n    inputs: [analysis]\n"
        "    synthesizer: {run: [echo], standby: true}\n"
    )
    assert problems_of(text) == ["w.yaml:22:32: a synthesizer has no 'standby'"]


def test_merge_keys_and_anchors_work() -> None:
    text = BASE.replace(
        "      - id: arch\n", "      - &template\n        id: arch\n        timeout: 9\n"
    ).replace("  - id: review", "      - <<: *template\n        id: other\n  - id: review")
    workflow = parse_workflow(text, "w.yaml")
    other = workflow.agent("analysis", "other")
    assert other.timeout == 9 and other.run == ["{python}", "-c", "pass"]
    assert other.backup == "arch_lite"


def test_alias_bomb_is_refused_quickly() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    found = problems_of("\n".join(lines) + "\n")
    assert len(found) == 1 and "too many values" in found[0]


def test_load_reports_unreadable_files(tmp_path: Path) -> None:
    cases = {
        tmp_path / "missing.yaml": "cannot read the workflow file: No such file or directory",
        tmp_path: "cannot read the workflow file: Is a directory",
    }
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"version: 1\nname: \xff\xfe\n")
    cases[binary] = "not UTF-8 text (byte 0xff)"
    for path, message in cases.items():
        with pytest.raises(WorkflowError) as caught:
            load_workflow(path)
        line = 2 if path == binary else 1
        column = 7 if path == binary else 1
        assert caught.value.problems == [
            Problem(
                str(path),
                line,
                column,
                message + ("; a workflow is a UTF-8 YAML file" if path == binary else ""),
            )
        ]


def test_load_accepts_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + BASE.encode())
    assert load_workflow(path).name == "demo"


def test_problem_formatting() -> None:
    problem = Problem("a.yaml", 3, 7, "oops")
    assert str(problem) == "a.yaml:3:7: oops"
    error = WorkflowError([problem, Problem("a.yaml", 4, 1, "again")])
    assert str(error) == "a.yaml:3:7: oops\na.yaml:4:1: again"


def test_nothing_ends_in_a_traceback() -> None:
    """Mangled copies of a valid file either load or raise WorkflowError, never anything else."""
    text = FULL.read_text()
    rng = random.Random(7)
    junk = ["", ":", "- ", "\t", "{", "]", "'", '"', "&a ", "*a", "!!str ", "? ", "|", "#", "\x00"]
    for _ in range(300):
        chars = list(text)
        for _ in range(rng.randint(1, 4)):
            position = rng.randrange(len(chars))
            if rng.random() < 0.5:
                del chars[position : position + rng.randint(1, 20)]
            else:
                chars.insert(position, rng.choice(junk))
        try:
            parse_workflow("".join(chars), "f.yaml")
        except WorkflowError as error:
            assert error.problems
            assert all(p.line >= 1 and p.column >= 1 for p in error.problems)


def test_python_construction_runs_the_cross_checks() -> None:
    stage = {"id": "a", "kind": "agents", "agents": [{"id": "b", "run": ["x"], "backup": "c"}]}
    with pytest.raises(ValidationError, match=r"stages\[0\]\.agents\[0\]\.backup: backup 'c'"):
        Workflow(version=1, name="x", stages=[stage])
    stage["agents"][0].pop("backup")
    assert Workflow(version=1, name="x", stages=[stage]).stages[0].id == "a"


def test_find_issues_tolerates_any_shape() -> None:
    for data in (None, [], "x", {"stages": "x"}, {"stages": [1, None, {"kind": 3}]}):
        assert find_issues(data) == []


def test_with_params_parses_by_the_default_type() -> None:
    text = BASE.replace('{scope: "."}', '{scope: ".", depth: 2, ratio: 0.5, deep: false}')
    workflow = parse_workflow(text, "w.yaml")
    changed = workflow.with_params({"depth": "3", "ratio": "1", "deep": "yes", "scope": "src"})
    assert changed.params == {"scope": "src", "depth": 3, "ratio": 1.0, "deep": True}
    assert workflow.params["depth"] == 2
    with pytest.raises(ValueError, match="parameter 'deep' takes true or false, not 'maybe'"):
        workflow.with_params({"deep": "maybe"})
    with pytest.raises(ValueError, match="unknown parameter 'nope'"):
        workflow.with_params({"nope": "1"})
    with pytest.raises(ValueError, match="parameter 'depth' takes a whole number, not 'deep'"):
        workflow.with_params({"depth": "deep"})


def test_bundled_data_dir_is_the_repository_data_folder() -> None:
    assert bundled_data_dir() == Path(__file__).resolve().parents[2] / "data"


def test_resolve_workflow_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    (data / "workflows").mkdir(parents=True)
    (data / "workflows" / "standard.yaml").write_text(BASE)
    (data / "workflows" / "quick.yaml").write_text(BASE)
    monkeypatch.setattr(yaml_positions, "bundled_data_dir", lambda: data)
    local = tmp_path / "mine.yaml"
    local.write_text(BASE)
    assert resolve_workflow_path(str(local)) == local
    assert resolve_workflow_path("standard") == data / "workflows" / "standard.yaml"
    monkeypatch.chdir(tmp_path)
    Path("standard").write_text(BASE)
    assert resolve_workflow_path("standard") == Path("standard")  # an existing path wins
    with pytest.raises(WorkflowError) as caught:
        resolve_workflow_path("nope")
    assert (
        str(caught.value) == "nope:1:1: no such file or bundled workflow (bundled: quick, standard)"
    )


def test_json_schema_is_valid_and_accepts_the_full_workflow() -> None:
    schema = workflow_json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"].startswith("phaseboard workflow")
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    validator.validate(yaml.safe_load(FULL.read_text()))
    validator.validate(yaml.safe_load(BASE))
    agent = schema["$defs"]["AgentSpec"]["properties"]["cpu_percent"]
    assert "machine" in agent["description"] and {"type": "null"} in agent["anyOf"]
    assert "machine" in schema["$defs"]["AgentDefaults"]["properties"]["cpu_percent"]["description"]
    validator.validate(yaml.safe_load(NULL_LIMITS))
    wrong = yaml.safe_load(arch_key("timout: 5"))
    assert not validator.is_valid(wrong)
    assert not validator.is_valid(yaml.safe_load(edit("kind: agents", "kind: agent")))


def test_a_backup_with_a_backup_of_its_own_is_refused() -> None:
    text = BASE.replace(
        "        run: [echo, lite]\n",
        "        run: [echo, lite]\n        backup: spare\n"
        "      - {id: spare, run: [echo], standby: true}\n",
    )
    assert problems_of(text) == [
        "w.yaml:14:17: backup 'arch_lite' has a backup of its own: an agent fails over once,"
        " so 'spare' would never run; name it as the backup of 'arch' instead"
    ]


def test_the_schema_gives_no_default_to_an_agents_inherited_limits() -> None:
    """Left out, a limit comes from defaults; null turns it off. An editor filling in a schema
    default of null would switch the limits off, so the schema gives none."""
    agent = workflow_json_schema()["$defs"]["AgentSpec"]["properties"]
    for key in ("timeout", "idle_timeout", "memory_mb", "cpu_percent", "retries", "on_exhausted"):
        assert "default" not in agent[key], key
    assert (
        workflow_json_schema()["$defs"]["AgentDefaults"]["properties"]["timeout"]["default"] == 300
    )
