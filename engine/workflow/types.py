"""The building blocks of the workflow file's models: the strict base model, ids and names,
commands, parameter values; and where the bundled workflows and agents live."""

from __future__ import annotations

import functools
import shlex
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    WithJsonSchema,
)

ID_PATTERN = r"^[a-z][a-z0-9_]*$"
NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
Id = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
"""A snake_case id: stages, agents, criteria."""
Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
Severity = Literal["critical", "high", "medium", "low", "warning"]
CriteriaMode = Literal["strict", "lenient"]
Seconds = Annotated[float, Field(gt=0)]


def command_kind(value: Any) -> str | None:
    if isinstance(value, list):
        return "list"
    return "str" if isinstance(value, str) else None


Command = Annotated[
    Annotated[list[str], Tag("list")] | Annotated[str, Tag("str")],
    Discriminator(
        command_kind,
        custom_error_type="command_type",
        custom_error_message="expected a command: a list of arguments or one string",
    ),
]
"""An argv list, or a string split with shlex (or run by ``/bin/sh -c`` with ``shell: true``)."""


def scalar_kind(value: Any) -> str | None:
    for kind in (bool, int, float, str):
        if isinstance(value, kind):
            return kind.__name__
    return None


ParamValue = Annotated[
    Annotated[bool, Tag("bool")]
    | Annotated[int, Tag("int")]
    | Annotated[float, Tag("float")]
    | Annotated[str, Tag("str")],
    Discriminator(
        scalar_kind,
        custom_error_type="param_type",
        custom_error_message="expected a string, number or boolean",
    ),
    WithJsonSchema({"type": ["string", "number", "boolean"]}),
]


class StrictModel(BaseModel):
    """Strict, so that a quoted ``"120"`` or a ``true`` is never silently taken for a number."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        strict=True,
        allow_inf_nan=False,
        use_attribute_docstrings=True,
    )


def split_command(command: list[str] | str, shell: bool = False) -> list[str]:
    """argv for a ``run``/``rollback``/``verify`` value; with ``shell`` a single script string."""
    if shell:
        return [command if isinstance(command, str) else " ".join(command)]
    return shlex.split(command) if isinstance(command, str) else list(command)


@functools.cache
def bundled_data_dir() -> Path:
    """The ``data/`` folder shipped with the package (forced into the wheel beside ``engine``);
    resolved once, since every agent's placeholders name it."""
    return Path(__file__).resolve().parents[2] / "data"
