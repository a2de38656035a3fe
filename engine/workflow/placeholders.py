"""Placeholders in agent commands, substituted inside each argv element, never through a shell."""

from __future__ import annotations

import re
import shlex
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from engine.state.run_state import RunState

_TOKEN = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_.]*)\}")


def substitute(text: str, values: Mapping[str, str], *, quote: bool = False) -> str:
    """Replace ``{name}`` by its value; ``{{`` and ``}}`` stand for literal braces.

    With ``quote`` (``shell: true`` agents) every value is shell-quoted, so a value can
    never add words or shell syntax to the command.
    """

    def repl(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "{{":
            return "{"
        if token == "}}":
            return "}"
        name = match.group(1)
        if name not in values:
            raise KeyError(name)
        value = values[name]
        return shlex.quote(value) if quote else value

    return _TOKEN.sub(repl, text)


def build_argv(run: list[str] | str, values: Mapping[str, str], *, shell: bool) -> list[str]:
    """The argv of an agent: a list is used as is, a string is split like a shell would
    (without running one); with ``shell`` the whole command is one string for ``/bin/sh -c``."""
    if shell:
        text = run if isinstance(run, str) else " ".join(run)
        return [substitute(text, values, quote=True)]
    words = shlex.split(run) if isinstance(run, str) else list(run)
    return [substitute(word, values) for word in words]


def run_placeholders(state: RunState) -> dict[str, str]:
    """The placeholder values of a run: its workspace, folder and params, the bundled data
    folder and the running interpreter."""
    from engine.workflow.models import bundled_data_dir

    return placeholder_values(
        workspace=state.workspace,
        run_dir=state.run_dir,
        data=str(bundled_data_dir()),
        python=sys.executable,
        params=state.params,
    )


def placeholder_values(
    *, workspace: str, run_dir: str, data: str, python: str, params: Mapping[str, object]
) -> dict[str, str]:
    values = {"workspace": workspace, "run_dir": run_dir, "data": data, "python": python}
    for name, value in params.items():
        values[f"params.{name}"] = _param_text(value)
    return values


def _param_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
