"""Loading a workflow file with every problem reported as ``FILE:LINE:COL: message``.

:func:`engine.workflow.yaml_compose.compose_yaml` gives the plain data and the position of every mapping
key, value and sequence item. Pydantic's errors and the cross-field issues of
:func:`engine.workflow.checks.find_issues` are then mapped back onto those positions. Nothing a
file contains ends in a traceback: every failure is a :class:`WorkflowError`.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from engine.workflow.checks import find_issues
from engine.workflow.issues import DataPath, Issue
from engine.workflow.models import (
    ID_PATTERN,
    STAGE_KINDS,
    AgentDefaults,
    AgentSpec,
    AgentsStage,
    Budget,
    CheckpointStage,
    CompareRule,
    ConsolidationStage,
    Criterion,
    DecisionCheck,
    DecisionMatrix,
    Extended,
    OnExhausted,
    SeverityRule,
    Synthesizer,
    Workflow,
    bundled_data_dir,
    workflow_json_schema,
)
from engine.workflow.yaml_compose import Positions, Problem, WorkflowError, compose_yaml

__all__ = [
    "Problem",
    "WorkflowError",
    "bundled_data_dir",
    "load_workflow",
    "parse_workflow",
    "resolve_workflow_path",
    "workflow_json_schema",
]

_STAGE_MODELS: dict[str, type[BaseModel]] = {
    "agents": AgentsStage,
    "consolidation": ConsolidationStage,
    "checkpoint": CheckpointStage,
}
_BY_KEY: dict[str, type[BaseModel]] = {
    "defaults": AgentDefaults,
    "extended": Extended,
    "synthesizer": Synthesizer,
    "budget": Budget,
    "on_exhausted": OnExhausted,
    "decision": DecisionMatrix,
}
_BY_LIST: dict[str, tuple[str, type[BaseModel]]] = {
    "agents": ("agent", AgentSpec),
    "criteria": ("criterion", Criterion),
    "conflict_severity": ("severity rule", SeverityRule),
    "compare": ("comparison rule", CompareRule),
    "critical": ("critical check", DecisionCheck),
    "warnings": ("warning check", DecisionCheck),
}


def _get(data: Any, path: DataPath) -> Any:
    for part in path:
        data = data[part]
    return data


def _container(data: Any, path: DataPath) -> tuple[str, type[BaseModel] | None]:
    """What the mapping at ``path`` is, for messages, and its model (for valid keys)."""
    value = _get(data, path)
    ident = value.get("id") if isinstance(value, dict) else None
    named = f" '{ident}'" if isinstance(ident, str) else ""
    if not path:
        return "the workflow", Workflow
    last, parent = path[-1], path[-2] if len(path) > 1 else None
    if len(path) == 2 and parent == "stages":
        kind = value.get("kind") if isinstance(value, dict) else None
        if isinstance(kind, str) and kind in _STAGE_MODELS:
            return f"{kind} stage{named}", _STAGE_MODELS[kind]
        return f"stage{named}", None
    if isinstance(last, int) and isinstance(parent, str) and parent in _BY_LIST:
        what, model = _BY_LIST[parent]
        return f"{what}{named}", model
    if isinstance(last, str) and last in _BY_KEY:
        return last, _BY_KEY[last]
    return str(last), None


def _keys(model: type[BaseModel]) -> list[str]:
    return [field.alias or name for name, field in model.model_fields.items()]


_MAPPING_TAGS = frozenset({"check"})
"""Tags of union members that are mappings (a go/no-go check written as ``{expr, ...}``)."""


def _walk(data: Any, loc: tuple[Any, ...]) -> tuple[DataPath, list[Any]]:
    """Follow a pydantic ``loc`` through the data; union tags are skipped. Returns the path
    reached and what could not be followed (a missing key, ``[key]``)."""
    path: list[Any] = []
    current = data
    rest: list[Any] = []
    tag_skipped = False
    for part in loc:
        if rest:
            rest.append(part)
            continue
        just_entered_stage = len(path) == 2 and path[0] == "stages" and not tag_skipped
        if just_entered_stage and isinstance(current, dict):
            tag_skipped = True
            if part in STAGE_KINDS and part == current.get("kind"):
                continue
        in_list = isinstance(current, list) and isinstance(part, int) and 0 <= part < len(current)
        if part in _MAPPING_TAGS and isinstance(current, dict) and part not in current:
            continue
        if in_list or (isinstance(current, dict) and part in current):
            path.append(part)
            current = current[part]
        elif part == "[key]" or isinstance(current, dict):
            rest.append(part)
        # anything else is a union member's tag
    return tuple(path), rest


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:37] + "...")
    return str(value)


_EXPECTED = {
    "string_type": "a string",
    "int_type": "a whole number",
    "int_from_float": "a whole number",
    "int_parsing": "a whole number",
    "float_type": "a number",
    "float_parsing": "a number",
    "finite_number": "a finite number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "literal_error": "",
}
_BOUNDS = {
    "greater_than": "greater than {gt}",
    "greater_than_equal": "at least {ge}",
    "less_than": "less than {lt}",
    "less_than_equal": "at most {le}",
}


def _label(path: DataPath) -> str:
    label = ""
    for part in reversed(path):
        label = f"[{part}]{label}" if isinstance(part, int) else f"{part}{label}"
        if not isinstance(part, int):
            break
    return label or "workflow"


def _describe(kind: str, error: Mapping[str, Any], value: Any) -> str:
    ctx = error.get("ctx") or {}
    if kind in _EXPECTED:
        literals = str(ctx.get("expected", "?"))
        one = " or " not in literals and "," not in literals
        expected = _EXPECTED[kind] or (literals if one else f"one of {literals}")
        hint = ""
        if kind == "string_type" and isinstance(value, int | float | bool):
            hint = f"; write '{_show(value)}' to make it a string"
        return f"expected {expected} (got {_show(value)}{hint})"
    if kind in _BOUNDS:
        bounds = {
            k: int(v) if isinstance(v, float) and v.is_integer() else v for k, v in ctx.items()
        }
        return "must be " + _BOUNDS[kind].format(**bounds)
    if kind in ("too_short", "string_too_short"):
        return "must not be empty"
    if kind == "string_pattern_mismatch":
        if ctx.get("pattern") == ID_PATTERN:
            return (
                f"{_show(value)} is not a valid id: use snake_case (lowercase letters,"
                " digits and _, starting with a letter)"
            )
        return (
            f"{_show(value)} is not a valid name: use letters, digits and _, not starting"
            " with a digit"
        )
    return str(error.get("msg", kind)).removeprefix("Value error, ")


def _validation_problems(error: ValidationError, data: Any, positions: Positions) -> list[Problem]:
    problems = []
    for item in error.errors(include_url=False):
        kind = item["type"]
        path, rest = _walk(data, item["loc"])
        value = _get(data, path)
        if kind == "missing" and rest:
            what, _ = _container(data, path)
            message = f"missing required key '{rest[0]}' in {what}"
            if not path and rest[0] == "version":
                message += " (this phaseboard reads version 1)"
            problems.append(positions.at(path, message))
        elif kind == "extra_forbidden" and path:
            what, model = _container(data, path[:-1])
            key = path[-1]
            hint = ""
            if model is not None and isinstance(key, str):
                close = difflib.get_close_matches(key, _keys(model), n=1)
                hint = f" (did you mean '{close[0]}'?)" if close else ""
            problems.append(positions.at(path, f"unknown key '{key}' in {what}{hint}", key=True))
        elif kind == "invalid_key" and path:
            problems.append(positions.at(path, f"key {_show(path[-1])} must be a string", key=True))
        elif rest and rest[0] == "[key]":
            problems.append(positions.at(path, _describe(kind, item, path[-1]), key=True))
        elif kind == "union_tag_invalid":
            kinds = ", ".join(STAGE_KINDS)
            tag = value.get("kind")
            message = (
                f"unknown stage kind '{tag}' (expected one of: {kinds})"
                if isinstance(tag, str)
                else f"kind: expected one of {kinds} (got {_show(tag)})"
            )
            problems.append(positions.at((*path, "kind"), message))
        elif kind == "union_tag_not_found":
            kinds = ", ".join(STAGE_KINDS)
            problems.append(positions.at(path, f"missing required key 'kind' (one of: {kinds})"))
        else:
            problems.append(positions.at(path, f"{_label(path)}: {_describe(kind, item, value)}"))
    return problems


def _issue_problem(issue: Issue, positions: Positions) -> Problem:
    message = issue.message
    if issue.related is not None:
        line = positions.line_of(issue.related)
        if line is not None:
            message += f" (first defined at line {line})"
    return positions.at(issue.path, message, key=issue.at_key, offset=issue.offset)


def _top_level(data: Any, positions: Positions) -> list[Problem]:
    if data is None:
        return [
            Problem(
                positions.filename, 1, 1, "the file is empty; a workflow starts with 'version: 1'"
            )
        ]
    if not isinstance(data, dict):
        what = "a list" if isinstance(data, list) else f"a single value ({_show(data)})"
        return [
            positions.at(
                (), f"the top level must be a mapping (version, name, stages, ...), not {what}"
            )
        ]
    version = data.get("version")
    if isinstance(version, bool):
        return [positions.at(("version",), f"version: expected 1 (got {_show(version)})")]
    if isinstance(version, int) and not isinstance(version, bool) and version != 1:
        return [
            positions.at(
                ("version",), f"unsupported version {version}; this phaseboard reads version 1"
            )
        ]
    return []


def parse_workflow(text: str, filename: str, *, recheck: bool = True) -> Workflow:
    """Validate workflow YAML ``text``; ``filename`` is used in the problems reported.

    ``recheck=False`` is for a run's own copy, checked when the run was created: the model is
    built as always, without the checks across values (commands, schemas, expressions), which
    only find problems and cost a command like ``status`` a third of its start.
    """
    data, positions = compose_yaml(text, filename)
    problems = _top_level(data, positions)
    if problems:
        raise WorkflowError(problems)
    workflow = None
    try:
        workflow = Workflow.model_validate(data, context={"defer_cross_checks": True})
    except ValidationError as error:
        problems.extend(_validation_problems(error, data, positions))
    if recheck:
        problems.extend(_issue_problem(issue, positions) for issue in find_issues(data))
    if problems or workflow is None:
        raise WorkflowError(sorted(set(problems), key=lambda p: (p.line, p.column, p.message)))
    return workflow


def load_workflow(path: str | Path) -> Workflow:
    """Read and validate a workflow file; every problem found is in the WorkflowError."""
    filename = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as error:
        reason = error.strerror or str(error)
        raise WorkflowError(
            [Problem(filename, 1, 1, f"cannot read the workflow file: {reason}")]
        ) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        column = error.start - (raw.rfind(b"\n", 0, error.start) + 1) + 1
        message = f"not UTF-8 text (byte 0x{raw[error.start]:02x}); a workflow is a UTF-8 YAML file"
        raise WorkflowError([Problem(filename, line, column, message)]) from None
    return parse_workflow(text, filename)


def resolve_workflow_path(name_or_path: str) -> Path:
    """An existing file wins; else the bundled workflow of that name (``standard``)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    bundled_dir = bundled_data_dir() / "workflows"
    if "/" not in name_or_path and name_or_path not in ("", ".", ".."):
        bundled = bundled_dir / f"{name_or_path}.yaml"
        if bundled.is_file():
            return bundled
    if path.exists():
        return path
    names = sorted(p.stem for p in bundled_dir.glob("*.yaml")) if bundled_dir.is_dir() else []
    listed = ", ".join(names) or "none"
    raise WorkflowError(
        [Problem(name_or_path, 1, 1, f"no such file or bundled workflow (bundled: {listed})")]
    )
