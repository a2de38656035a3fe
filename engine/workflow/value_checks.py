"""The checks of single values of a workflow file: commands and their placeholders, JSON data
and JSON Schemas, CEL expressions and the names they read. Each adds its problems to a
:class:`Report`, which knows the file's parameters, stages and agents."""

from __future__ import annotations

import math
import re
import shlex
from typing import Any, Protocol

from engine.workflow.expressions import (
    ROOTS,
    ExpressionError,
    attribute_references,
    check_names,
    compile_expression,
    identifier_offset,
)
from engine.workflow.issues import DataPath, suggest

MAX_SCHEMA_ERRORS = 5
PLACEHOLDERS = ("workspace", "run_dir", "data", "python")
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


class Report(Protocol):
    """What the value checks read and write (the checker of :mod:`engine.workflow.checks`)."""

    params: set[str]
    stage_index: dict[str, int]
    stage_kind: dict[str, Any]
    stage_agents: dict[str, set[str]]

    def add(
        self,
        path: DataPath,
        message: str,
        offset: int | None = None,
        related: DataPath | None = None,
        at_key: bool = False,
    ) -> None: ...


def json_schema(report: Report, path: DataPath, schema: dict[str, Any]) -> None:
    import jsonschema  # here: a run's stored workflow is not checked again (30 ms saved)

    validator = jsonschema.validators.validator_for(schema)
    try:
        errors = list(validator(validator.META_SCHEMA).iter_errors(schema))
    except Exception as exc:  # a hostile schema must not crash the check itself
        report.add(path, f"invalid JSON Schema: {exc}")
        return
    for error in errors[:MAX_SCHEMA_ERRORS]:
        report.add((*path, *error.absolute_path), f"invalid JSON Schema: {error.message}")


def json_values(report: Report, path: DataPath, value: Any) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                report.add(path, f"key {key!r} must be a string")
            json_values(report, (*path, key), item)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            json_values(report, (*path, index), item)
    elif isinstance(value, float) and not math.isfinite(value):
        report.add(path, "must be a finite number")
    elif value is not None and not isinstance(value, str | int | float | bool):
        report.add(path, f"must be JSON data (a {type(value).__name__} is not); quote it")


def command(report: Report, path: DataPath, command: Any, shell: bool) -> None:
    if isinstance(command, str):
        if not command.strip():
            report.add(path, "command is empty")
            return
        if not shell:
            try:
                shlex.split(command)
            except ValueError as error:
                report.add(path, f"command does not split into arguments: {error}")
        placeholders(report, path, command)
    elif isinstance(command, list):
        if not command:
            report.add(path, "command is empty")
        elif shell:
            report.add(path, "with shell: true, the command must be one string")
        for k, part in enumerate(command):
            if isinstance(part, str):
                placeholders(report, (*path, k), part)


def placeholders(report: Report, path: DataPath, text: str) -> None:
    for found in _PLACEHOLDER.finditer(text):
        token, name = found.group(0), found.group(1)
        if token in ("{{", "}}"):
            continue
        if name is None:
            report.add(
                path,
                f"unbalanced '{token}': write {token}{token} for a literal brace",
                found.start(),
            )
            continue
        name = name.strip()
        if name.startswith("params."):
            param = name.removeprefix("params.")
            if param not in report.params:
                known = ", ".join(sorted(report.params)) or "none defined"
                report.add(
                    path,
                    f"unknown parameter '{param}' in placeholder '{token}' (params: {known})",
                    found.start(),
                )
        elif name not in PLACEHOLDERS:
            known = ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
            report.add(
                path,
                f"unknown placeholder '{token}' (known: {known},"
                " {params.NAME}; write {{ and }} for literal braces)"
                + suggest(name, list(PLACEHOLDERS)),
                found.start(),
            )


def expression(report: Report, path: DataPath, src: str) -> None:
    try:
        compile_expression(src)
        unknown = check_names(src, ROOTS)
    except ExpressionError as error:
        report.add(
            path,
            f"expression does not parse: {error.message}",
            _offset(src, error.line, error.column),
        )
        return
    for name in unknown:
        known = ", ".join(sorted(ROOTS))
        report.add(
            path,
            f"unknown name '{name}' in expression{suggest(name, set(ROOTS))}; known names: {known}",
            identifier_offset(src, name),
        )
    for (stage,), offset in attribute_references(src, "stages"):
        if stage not in report.stage_index:
            report.add(
                path,
                f"unknown stage '{stage}' in expression" + suggest(stage, set(report.stage_index)),
                offset,
            )
    for (stage, agent), offset in attribute_references(src, "stages", "*", "agents"):
        if report.stage_kind.get(stage) == "agents" and agent not in report.stage_agents[stage]:
            report.add(
                path,
                f"stage '{stage}' has no agent '{agent}'"
                + suggest(agent, report.stage_agents[stage]),
                offset,
            )
    for (param,), offset in attribute_references(src, "params"):
        if param not in report.params:
            known = ", ".join(sorted(report.params)) or "none defined"
            report.add(path, f"unknown parameter '{param}' in expression (params: {known})", offset)


def _offset(src: str, line: int | None, column: int | None) -> int | None:
    if column is None:
        return None
    lines = src.split("\n")
    line = min(max(line or 1, 1), len(lines))
    return sum(len(text) + 1 for text in lines[: line - 1]) + column - 1
