"""docs/workflow-file.md documents every key of the workflow file's JSON Schema.

The convention the page follows, and this test checks:

- Each object of the schema (the top level and every ``$defs`` entry) has a section: a line
  starting ``Schema:`` that names it in backticks (``#/properties`` for the top level,
  ``#/$defs/NAME`` for the others), up to the next Markdown heading.
- In that section, a table with the header ``| key | type | default | meaning |`` has one row per
  property: the first cell is the key in backticks, the third its default. Where the schema gives
  a default, the cell holds it in backticks, written as YAML would (``null``, ``300``, ``[]``,
  ``[manual_resolution]``, ``messages``); a required key says ``*required*`` there.
- A row documents no key that the object does not have.

An object in ``SAME_AS`` (the synthesizer) documents only the keys whose schema differs from the
object it copies; the others are documented, and checked, in that object's section.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "workflow-file.md"
TOP = "#/properties"
KEY_TABLE_HEADER = ["key", "type", "default", "meaning"]
REQUIRED = "*required*"
SAME_AS = {"Synthesizer": "AgentSpec"}
"""A synthesizer is an agent: the keys it shares with one, unchanged, are documented there."""

_HEADING = re.compile(r"^#{1,6} ")
_SCHEMA_LINE = re.compile(r"^Schema: `([^`]+)`")
_CELL_SPLIT = re.compile(r"(?<!\\)\|")
_KEY = re.compile(r"`([^`]+)`")


def workflow_schema() -> dict[str, Any]:
    """``phaseboard schema``, run as ``python -m tui.cli schema`` from the repository."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-m", "tui.cli", "schema"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"phaseboard schema failed:\n{done.stderr}"
    return json.loads(done.stdout)


def objects(schema: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every object of the schema with properties, by its pointer in the doc's convention."""
    found = {TOP: schema}
    for name, definition in schema.get("$defs", {}).items():
        if isinstance(definition, dict) and "properties" in definition:
            found[f"#/$defs/{name}"] = definition
    return found


def yaml_text(value: Any) -> str:
    """A default as the doc writes it: YAML flow style, whole numbers without ``.0``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return value if value else '""'
    if isinstance(value, list):
        return "[" + ", ".join(yaml_text(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {yaml_text(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no YAML text for {value!r}")


def cells(line: str) -> list[str]:
    parts = [part.strip() for part in _CELL_SPLIT.split(line.strip())]
    return parts[1:-1] if len(parts) >= 2 else parts


def doc_sections(text: str) -> dict[str, list[dict[str, str]]]:
    """Pointer -> the rows of the key tables of its section (``key`` cell and ``default`` cell)."""
    sections: dict[str, list[dict[str, str]]] = {}
    current: str | None = None
    in_key_table = False
    for line in text.splitlines():
        if _HEADING.match(line):
            current, in_key_table = None, False
            continue
        found = _SCHEMA_LINE.match(line)
        if found:
            current, in_key_table = found.group(1), False
            if current in sections:
                raise AssertionError(f"two sections say 'Schema: `{current}`'")
            sections[current] = []
            continue
        if current is None:
            continue
        if not line.startswith("|"):
            in_key_table = False
            continue
        row = cells(line)
        if row == KEY_TABLE_HEADER:
            in_key_table = True
            continue
        if not in_key_table or all(set(cell) <= set("-: ") for cell in row):
            continue
        assert len(row) == len(KEY_TABLE_HEADER), f"a key table row has {len(row)} cells: {line}"
        sections[current].append({"key": row[0], "default": row[2], "line": line})
    return sections


def problems(schema: dict[str, Any], text: str) -> list[str]:
    """What the doc fails to say about the schema, one line each (empty: all documented)."""
    found: list[str] = []
    sections = doc_sections(text)
    all_objects = objects(schema)
    for pointer, definition in all_objects.items():
        rows = sections.get(pointer)
        if rows is None:
            found.append(f"{pointer}: no section (a line 'Schema: `{pointer}`' and a key table)")
            continue
        documented: dict[str, dict[str, str]] = {}
        for row in rows:
            keys = _KEY.findall(row["key"])
            if len(keys) != 1 or row["key"] != f"`{keys[0]}`":
                found.append(f"{pointer}: a row's key cell is not one `key`: {row['line']}")
                continue
            documented[keys[0]] = row
        properties: dict[str, Any] = definition["properties"]
        copied = SAME_AS.get(pointer.rpartition("/")[2])
        shared = all_objects[f"#/$defs/{copied}"]["properties"] if copied is not None else {}
        for key, prop in properties.items():
            if key not in documented and shared.get(key) == prop:
                continue  # the same key, unchanged, is documented with the object copied
            entry = documented.get(key)
            if entry is None:
                found.append(f"{pointer}: key '{key}' is not documented")
                continue
            if "default" in prop:
                expected = f"`{yaml_text(prop['default'])}`"
            elif key in definition.get("required", []):
                expected = REQUIRED
            else:
                continue
            if expected not in entry["default"]:
                found.append(
                    f"{pointer}: key '{key}': the default cell should hold {expected},"
                    f" not {entry['default']!r}"
                )
        for key in documented:
            if key not in properties:
                found.append(f"{pointer}: documents key '{key}', which the schema does not have")
    for pointer in sections:
        if pointer not in all_objects:
            found.append(f"{pointer}: a section for an object the schema does not have")
    return found


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return workflow_schema()


def test_every_key_of_the_schema_is_documented(schema: dict[str, Any]) -> None:
    missing = problems(schema, DOC.read_text(encoding="utf-8"))
    assert not missing, "docs/workflow-file.md and `phaseboard schema` disagree:\n" + "\n".join(
        missing
    )


def test_the_schema_has_the_objects_the_doc_names(schema: dict[str, Any]) -> None:
    """The walk above sees every part of the file, nested models included."""
    names = {pointer.rpartition("/")[2] for pointer in objects(schema)}
    assert {
        "AgentDefaults",
        "AgentSpec",
        "AgentsStage",
        "ConsolidationStage",
        "CheckpointStage",
        "Budget",
        "OnExhausted",
        "Extended",
        "Synthesizer",
        "SeverityRule",
        "CompareRule",
        "Criterion",
        "DecisionMatrix",
        "DecisionCheck",
    } <= names


@pytest.mark.parametrize(
    "where",
    [
        "properties",
        "$defs/AgentSpec",
        "$defs/OnExhausted",
        "$defs/DecisionCheck",
        "$defs/Synthesizer",
    ],
)
def test_a_key_added_to_the_schema_and_not_documented_is_reported(
    schema: dict[str, Any], where: str
) -> None:
    changed = copy.deepcopy(schema)
    target = changed if where == "properties" else changed["$defs"][where.partition("/")[2]]
    target["properties"]["brand_new_key"] = {"type": "integer", "default": 7}
    reported = problems(changed, DOC.read_text(encoding="utf-8"))
    assert any("key 'brand_new_key' is not documented" in line for line in reported), reported


def test_a_new_required_key_is_reported_as_required(schema: dict[str, Any]) -> None:
    changed = copy.deepcopy(schema)
    changed["$defs"]["Budget"]["properties"]["tokens"].pop("default")
    changed["$defs"]["Budget"]["required"] = ["tokens"]
    reported = problems(changed, DOC.read_text(encoding="utf-8"))
    assert any("'tokens'" in line and REQUIRED in line for line in reported), reported


def test_a_changed_default_is_reported(schema: dict[str, Any]) -> None:
    changed = copy.deepcopy(schema)
    changed["$defs"]["AgentDefaults"]["properties"]["timeout"]["default"] = 301
    reported = problems(changed, DOC.read_text(encoding="utf-8"))
    assert any("'timeout'" in line and "`301`" in line for line in reported), reported


def test_yaml_text() -> None:
    assert yaml_text(None) == "null"
    assert yaml_text(2.0) == "2"
    assert yaml_text(0.5) == "0.5"
    assert yaml_text(["manual_resolution"]) == "[manual_resolution]"
    assert yaml_text({"a": 1.0, "b": None}) == "{a: 1, b: null}"
    assert yaml_text("") == '""'
