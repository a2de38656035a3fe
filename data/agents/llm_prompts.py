"""What each role of the LLM workflow asks an LLM coding CLI, and in which words.

Kept apart from the adapter (``llm_agent.py`` and its dialects) so a prompt can be read and changed without
touching the process handling. Standard library only, like every bundled agent.

Every prompt starts with a ``ROLE: <name>`` line and keeps its optional blocks under fixed
headings (``INPUTS``, ``REDUCED SCOPE:``, ``FEEDBACK``): the test stand-in for the CLI reads
them back, and so can a person reading an agent's log.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DEFAULT_MAX_INPUT_CHARS = 30_000

_RESULT_SHAPE = """{
  "summary": "two or three sentences a busy reader can act on",
  "findings": { ...the keys listed below... },
  "risks": [{"id": "snake_case_id", "severity": "critical|high|medium|low", "title": "one line"}],
  "dependencies": ["things this work depends on, one string each"],
  "metrics": { "...": "numbers you measured, by name" }
}"""


@dataclass(frozen=True)
class Target:
    """A file an implementation role writes, from the ``content`` of its answer."""

    path: str
    """Relative to the workspace."""
    mode: str
    """``replace`` (the whole file) or ``prepend_entry`` (a new entry above the older ones)."""


@dataclass(frozen=True)
class RoleSpec:
    name: str
    stage: str
    """The stage this role belongs to in ``claude-code.yaml``; used in the prompt's wording."""
    task: str
    findings: str
    """The keys wanted under ``findings``, described for the model."""
    inputs: tuple[str, ...] = ()
    """Ids of earlier stages whose results and syntheses the prompt carries."""
    target: Target | None = None
    extra_answer: str = ""
    """Anything the answer carries besides the common shape."""
    read_only: bool = True
    notes: tuple[str, ...] = field(default=())


_EVIDENCE = (
    'and, at the top level next to "findings": "evidence": {{"runtime.python": [{{"file": '
    '"{where}", "line": {line}, "text": "the line as written", "value": {example}}}]}} -- for each '
    "runtime you report, every place you read it (file relative to the repository, line number, "
    "the line's text, the value it gives)"
)

_ANALYSIS_NOTE = (
    "Read the repository in the current directory yourself (list, read and search files); "
    "skip .git/, .phaseboard/, virtualenvs, node_modules/ and build output."
)

ROLES: dict[str, RoleSpec] = {
    spec.name: spec
    for spec in (
        RoleSpec(
            name="architecture",
            stage="analysis",
            task=(
                "System architecture analysis. Identify the packages and modules, the entry "
                "points (console scripts, __main__ modules, main functions, servers), the declared "
                "dependencies (pyproject.toml, requirements*.txt, package.json, go.mod, Cargo.toml "
                "where present), the import edges between the project's own modules, the services "
                "and configuration files (docker-compose, .env.example, CI files), and the runtime "
                "versions the project DECLARES (requires-python, engines, go directive)."
            ),
            findings=(
                '"components": [{"name", "path", "kind": "package|module|service|script"}], '
                '"entry_points": ["..."], '
                '"dependencies": {"<ecosystem>": [{"name", "spec", "dev": false}]}, '
                '"imports": {"edges": [["from_module", "to_module"], ...], "cycles": [[...]]}, '
                '"services": ["..."], "config_files": ["..."], '
                '"runtime": {"python": ">=3.11"} -- the DECLARED range of each runtime exactly as '
                "written (requires-python, package.json engines.node, the go directive); omit a "
                "runtime you cannot find rather than guessing."
            ),
            extra_answer=_EVIDENCE.format(example='">=3.11"', where="pyproject.toml", line=4),
            notes=(_ANALYSIS_NOTE,),
        ),
        RoleSpec(
            name="code",
            stage="analysis",
            task=(
                "Code and pattern analysis. Measure the size of the code (files and lines per "
                "language), the longest functions, functions over a cyclomatic complexity of 10, "
                "TODO/FIXME/XXX markers, names that break the language's convention, and "
                "duplicated blocks; judge the technical debt they add up to."
            ),
            findings=(
                '"size": {"files": N, "lines": N, "by_language": {"python": N}}, '
                '"longest_functions": [{"name", "path", "lines"}] (up to 10), '
                '"complex_functions": [{"name", "path", "complexity"}], '
                '"markers": {"count": N, "items": [{"path", "line", "kind", "text"}]} '
                "(up to 20 items), "
                '"naming": {"violations": N, "items": [{"path", "name", "expected"}]}, '
                '"duplicates": {"blocks": N, "items": [{"paths": ["a:LINE", "b:LINE"], '
                '"lines": N}]}, "technical_debt": "low|medium|high"'
            ),
            notes=(_ANALYSIS_NOTE,),
        ),
        RoleSpec(
            name="infrastructure",
            stage="analysis",
            task=(
                "Infrastructure and testing analysis. Find the test files and the test runner, the "
                "CI configuration, the interpreter and runtime versions actually CONFIGURED (CI "
                "matrix, .python-version, Dockerfile base image, tox/nox), and how the tests are "
                "collected (you may run `pytest --collect-only -q` if pytest is configured)."
            ),
            findings=(
                '"tests": {"files": N, "runner": "pytest|unittest|...|none", "collected": N}, '
                '"ci": {"files": ["..."], "providers": ["github"], "python_matrix": ["3.12"]}, '
                '"runtime": {"python": ["3.10", "3.12"]} -- EVERY version CONFIGURED or tested, '
                "each once (the CI matrix, .python-version, tox or nox environments, the "
                "Dockerfile base image, a .venv, .nvmrc): python and go as MAJOR.MINOR, node as "
                'MAJOR; omit a runtime you cannot find rather than guessing, "containers": '
                '["Dockerfile", ...]'
            ),
            extra_answer=_EVIDENCE.format(example='"3.10"', where=".python-version", line=1),
            notes=(_ANALYSIS_NOTE,),
        ),
        RoleSpec(
            name="synthesizer",
            stage="analysis_synthesis",
            task=(
                "You receive the consolidated analysis of this repository (architecture map, code "
                "patterns, infrastructure state, conflicts and merged risks). Decide the "
                "implementation strategy, the priority order of the risks (most dangerous first, "
                "by id), and how to allocate effort between the implementation steps."
            ),
            findings='"rationale": "why this order, in a few sentences"',
            extra_answer=(
                'and, at the top level next to "findings": "decisions": '
                '{"implementation_strategy": "one paragraph", "priority_order": ["risk_id", ...], '
                '"resource_allocation": {"step_name": "share or note"}}'
            ),
            inputs=("synthesis",),
        ),
        RoleSpec(
            name="architecture_doc",
            stage="implementation",
            task=(
                "Write docs/ARCHITECTURE.md for this repository from the analysis below: purpose "
                "in one paragraph, the components (a table: name, path, role), the dependency "
                "graph between them as a Mermaid `graph TD` block, entry points, external "
                "dependencies and the runtime versions. Keep what is still true from an existing "
                "docs/ARCHITECTURE.md (read it if present)."
            ),
            findings='"sections": ["the headings you wrote"], "components_documented": N',
            extra_answer=(
                'and, at the top level, "content": "the COMPLETE new text of docs/ARCHITECTURE.md"'
            ),
            inputs=("analysis_synthesis",),
            target=Target("docs/ARCHITECTURE.md", "replace"),
        ),
        RoleSpec(
            name="changelog",
            stage="implementation",
            task=(
                "Write one new CHANGELOG.md entry describing what this workflow run found and "
                "changed: a `## <date> - phaseboard review` heading, then short bullet lists "
                "(Findings, Documentation added, Risks to address) drawn from the analysis below."
            ),
            findings='"entry_heading": "the heading line", "bullets": N',
            extra_answer=(
                'and, at the top level, "content": "the new entry only, starting with its ## '
                'heading (it is inserted above the older entries)"'
            ),
            inputs=("analysis_synthesis",),
            target=Target("CHANGELOG.md", "prepend_entry"),
        ),
        RoleSpec(
            name="risk_register",
            stage="implementation",
            task=(
                "Write docs/RISKS.md: every merged risk of the analysis below, most severe first, "
                "each with its id, severity, what it affects, evidence (file paths) and a concrete "
                "mitigation; then the open conflicts between the analyses and how they were or "
                "should be resolved."
            ),
            findings='"risks_documented": N, "conflicts_documented": N',
            extra_answer=(
                'and, at the top level, "content": "the COMPLETE new text of docs/RISKS.md"'
            ),
            inputs=("analysis_synthesis",),
            target=Target("docs/RISKS.md", "replace"),
        ),
        RoleSpec(
            name="unit_tests",
            stage="testing",
            task=(
                "Unit and integration testing. Run the repository's own test suite with its "
                "runner (e.g. `python -m pytest -q`; with coverage if pytest-cov is installed) "
                "and report what happened. Do not change any file to make tests pass."
            ),
            findings=(
                '"tests": {"status": "passed|failed|incomplete|not_run", "reason": "why, unless '
                'passed", "runner": "pytest", "command": "what you ran", "passed": N, '
                '"failed": N, "errors": N, "skipped": N, "failing": ["the ids of the failed and '
                'errored tests"], "reported_warnings": N, "duration_s": N}, "coverage": '
                '{"percent": N or null} -- status "failed" when any test failed or errored, '
                '"incomplete" when the run stopped before the end, "not_run" (with the reason '
                "and null counts) when the tests could not be run or there are none: never report "
                '"0 failed" for tests that did not run'
            ),
            inputs=("implementation", "analysis_synthesis"),
        ),
        RoleSpec(
            name="security",
            stage="testing",
            task=(
                "Performance and security review. Look for committed secrets (keys, tokens, "
                "passwords), world-writable files, large binaries, unpinned or very old "
                "dependencies, dangerous calls (eval, shell=True, pickle on untrusted data, SQL "
                "built by string formatting), and obvious performance problems (quadratic loops "
                "over inputs, unbounded reads, blocking calls in async code)."
            ),
            findings=(
                '"security": {"high_risk": N, "issues": [{"id", "severity", "path", "detail"}], '
                '"secrets_found": N, "unpinned_dependencies": ["..."]}, '
                '"performance": {"degradations": N, "issues": [{"path", "detail"}]} -- high_risk '
                "counts the issues of severity critical or high"
            ),
            inputs=("implementation", "analysis_synthesis"),
        ),
        RoleSpec(
            name="documentation",
            stage="testing",
            task=(
                "Documentation review. Check the README (install, usage, configuration, "
                "contributing sections), docstring coverage of public functions and classes, "
                "broken relative links in Markdown files, and whether the docs written by the "
                "implementation stage (docs/ARCHITECTURE.md, docs/RISKS.md, CHANGELOG.md) match "
                "the code."
            ),
            findings=(
                '"documentation": {"incomplete": N, "readme_missing_sections": ["..."], '
                '"docstring_coverage_percent": N, "broken_links": [{"file", "link"}], '
                '"generated_docs_ok": true} -- incomplete counts the gaps you list'
            ),
            inputs=("implementation", "analysis_synthesis"),
        ),
        RoleSpec(
            name="e2e",
            stage="testing",
            task=(
                "End-to-end testing. Exercise the project the way its users do: run the entry "
                "points and the commands the README shows (with harmless arguments such as "
                "--help or the documented examples), and check that they start, answer and exit "
                "cleanly. Do not change any file; do not reach the network."
            ),
            findings=(
                '"e2e": {"checked": N, "passed": N, "failed": N, '
                '"results": [{"command", "exit_code", "ok", "note"}]}'
            ),
            inputs=("implementation", "analysis_synthesis"),
        ),
        RoleSpec(
            name="deployment",
            stage="testing",
            task=(
                "Deployment preparation. Validate the configuration files (syntax, required "
                "settings, secrets kept out of the repository), describe how to roll this change "
                "back, and list the metrics and alerts worth monitoring after release."
            ),
            findings=(
                '"deployment": {"configs": {"checked": N, "invalid": [{"path", "error"}]}, '
                '"rollback": {"present": true, "evidence": ["where the procedure is written"], '
                '"procedure": ["step", ...]}, "monitoring": {"present": true, "evidence": '
                '["files configuring it"]}}, "monitoring_setup": {"metrics_configured": [...], '
                '"alerts_defined": [...], "dashboards_created": [...]} -- what is really '
                "configured, not what you recommend (recommendations go in risks)"
            ),
            inputs=("implementation", "analysis_synthesis"),
        ),
    )
}


def build_followup(spec: RoleSpec, *, feedback: str, scope: Mapping[str, Any] | None = None) -> str:
    """The prompt that continues a session whose last answer was refused: the role, why, and
    what to answer (the task, the inputs and the answer format are already in the session)."""
    text = feedback.strip()
    if len(text) > 4000:
        text = text[:4000] + "...[trimmed]"
    content = f' and "content" with the text for {spec.target.path}' if spec.target else ""
    lines = [
        "phaseboard checked the answer you gave in this conversation and refused it.",
        f"ROLE: {spec.name}",
        "",
        "FEEDBACK",
        f"Your previous answer was rejected because: {text}",
        "Answer again in full: end your reply with exactly one JSON object in a ```json fenced "
        f"block, in the ANSWER FORMAT given earlier in this conversation{content}.",
    ]
    if scope:
        lines += ["", f"REDUCED SCOPE: {dump_trimmed(dict(scope), 2000)}"]
    return "\n".join(lines) + "\n"


def role(name: str) -> RoleSpec:
    try:
        return ROLES[name]
    except KeyError:
        known = ", ".join(sorted(ROLES))
        raise KeyError(f"unknown role {name!r}; known roles: {known}") from None


def select_inputs(inputs: Mapping[str, Any], wanted: tuple[str, ...]) -> Any:
    """The parts of ``$PHASEBOARD_INPUTS`` a role needs, or everything when none is found.

    Stage ids are looked up at the top level and one level down (``{"stages": {...}}``), so
    the selection does not depend on how the engine nests its inputs file.
    """
    if not inputs or not wanted:
        return dict(inputs)
    picked: dict[str, Any] = {}
    for stage in wanted:
        if stage in inputs:
            picked[stage] = inputs[stage]
            continue
        for value in inputs.values():
            if isinstance(value, Mapping) and stage in value:
                picked[stage] = value[stage]
                break
    return picked or dict(inputs)


def dump_trimmed(value: Any, max_chars: int) -> str:
    """Compact ASCII JSON of ``value`` in at most ``max_chars`` characters.

    Long strings and lists are shortened first, more and more, so the structure survives; only
    if that is not enough is the text cut, with a marker saying how much was dropped.
    """
    text = _dump(value)
    for max_str, max_items in ((2000, 200), (500, 50), (200, 20), (80, 8), (40, 3)):
        if len(text) <= max_chars:
            return text
        text = _dump(_shrink(value, max_str, max_items))
    if len(text) <= max_chars:
        return text
    marker = f"...[{len(text)} chars, trimmed]"
    return text[: max(0, max_chars - len(marker))] + marker


def _dump(value: Any) -> str:
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"), default=str)


def _shrink(value: Any, max_str: int, max_items: int) -> Any:
    if isinstance(value, str):
        return value if len(value) <= max_str else value[:max_str] + f"...[{len(value)} chars]"
    if isinstance(value, Mapping):
        items = list(value.items())
        shrunk = {str(k): _shrink(v, max_str, max_items) for k, v in items[:max_items]}
        if len(items) > max_items:
            shrunk["..."] = f"{len(items) - max_items} more keys"
        return shrunk
    if isinstance(value, list | tuple):
        shrunk_list = [_shrink(v, max_str, max_items) for v in value[:max_items]]
        if len(value) > max_items:
            shrunk_list.append(f"... {len(value) - max_items} more items")
        return shrunk_list
    return value


def build_prompt(
    spec: RoleSpec,
    *,
    workspace: str,
    inputs: Mapping[str, Any],
    feedback: str | None = None,
    scope: Mapping[str, Any] | None = None,
    max_input_chars: int = DEFAULT_MAX_INPUT_CHARS,
    wanted_inputs: tuple[str, ...] | None = None,
) -> str:
    lines = [
        "You are one agent of a phased multi-agent workflow run by phaseboard.",
        f"ROLE: {spec.name}",
        f"STAGE: {spec.stage}",
        f"WORKSPACE: the current directory ({workspace})",
        "",
        "TASK",
        spec.task,
        "",
        "RULES",
    ]
    if spec.target is not None:
        lines.append(
            f"- Do not create or modify files yourself: put the text for {spec.target.path} in "
            'the answer\'s "content"; phaseboard writes it and can roll it back.'
        )
    elif spec.read_only:
        lines.append("- Work read-only: do not create, modify or delete any file.")
    lines += [f"- {note}" for note in spec.notes]
    lines += [
        "- Base every finding on what you actually read or ran; never invent paths or numbers.",
        "- Use snake_case risk ids that name the problem (e.g. python_version_mismatch), so the "
        "same risk seen by two agents gets the same id.",
        "",
        "ANSWER FORMAT",
        "End your reply with exactly one JSON object in a ```json fenced block, nothing after "
        "it. Its shape:",
        _RESULT_SHAPE,
        f"where findings holds: {spec.findings}",
    ]
    if spec.extra_answer:
        lines.append(spec.extra_answer)
    selected = select_inputs(inputs, wanted_inputs if wanted_inputs is not None else spec.inputs)
    if selected and (spec.inputs or wanted_inputs):
        lines += [
            "",
            f"INPUTS (JSON results of earlier stages, trimmed to {max_input_chars} characters)",
            "```json",
            dump_trimmed(selected, max_input_chars),
            "```",
        ]
    if scope:
        lines += [
            "",
            f"REDUCED SCOPE: {dump_trimmed(dict(scope), 2000)}",
            "This is a retry with a reduced scope: limit your work to it and say so in summary.",
        ]
    if feedback:
        text = feedback.strip()
        if len(text) > 4000:
            text = text[:4000] + "...[trimmed]"
        lines += [
            "",
            "FEEDBACK",
            f"Your previous answer was rejected because: {text}",
            "Correct this in your new answer and follow the ANSWER FORMAT exactly.",
        ]
    return "\n".join(lines) + "\n"
