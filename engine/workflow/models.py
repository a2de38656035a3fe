"""The workflow file: the :class:`Workflow` model, an agent's effective limits, parameters.

The models check shapes and types (the parts live in :mod:`engine.workflow.types`,
:mod:`engine.workflow.agents` and :mod:`engine.workflow.stages`, and are re-exported here);
the checks that span fields (unique ids, references, expressions, placeholders) live in
:mod:`engine.workflow.checks` and run on the raw data, so a file with both kinds of mistake gets
every problem reported at once. :mod:`engine.workflow.loader` reads a file and turns both into
``FILE:LINE:COL: message`` lines.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Annotated, Any, Literal, cast

from pydantic import Field, ValidationInfo, model_validator

from engine.workflow.agents import (
    LIMITS,
    NULL_IS_NO_LIMIT,
    AgentDefaults,
    AgentSpec,
    AgentT,
    Budget,
    OnExhausted,
    Synthesizer,
)
from engine.workflow.checks import find_issues
from engine.workflow.issues import DataPath, Issue, format_path
from engine.workflow.stages import (
    STAGE_KINDS,
    AgentsStage,
    CheckpointStage,
    CompareRule,
    ConsolidationStage,
    Criterion,
    DecisionCheck,
    DecisionMatrix,
    Extended,
    SeverityRule,
    Stage,
)
from engine.workflow.types import (
    ID_PATTERN,
    CriteriaMode,
    Id,
    Name,
    ParamValue,
    Severity,
    StrictModel,
    bundled_data_dir,
    split_command,
)

__all__ = [
    "ID_PATTERN",
    "STAGE_KINDS",
    "AgentDefaults",
    "AgentSpec",
    "AgentsStage",
    "Budget",
    "CheckpointStage",
    "CompareRule",
    "ConsolidationStage",
    "CriteriaMode",
    "Criterion",
    "DataPath",
    "DecisionCheck",
    "DecisionMatrix",
    "Extended",
    "Id",
    "Issue",
    "Name",
    "OnExhausted",
    "Severity",
    "SeverityRule",
    "Stage",
    "Synthesizer",
    "Workflow",
    "bundled_data_dir",
    "find_issues",
    "split_command",
    "workflow_json_schema",
]

_EFFECTIVE: dict[tuple[int, int], tuple[Any, AgentDefaults, Any]] = {}
"""``Workflow.effective`` results by the ids of the agent and defaults they were made from, kept
with both (so neither id can be reused while cached): asked for on every attempt, and a pydantic
copy is not free when a thousand agents start. Not a field: models compare private attributes."""
_EFFECTIVE_KEPT = 4096


class ExecutorSpec(StrictModel):
    """Where the agents' attempts run: on this machine, or as tasks on a Dask cluster."""

    kind: Literal["local", "dask"] = "local"
    scheduler: Annotated[str, Field(min_length=1)] | None = None
    """The Dask scheduler's address (``tcp://HOST:8786``); ``--scheduler`` and
    ``PHASEBOARD_DASK_SCHEDULER`` override it."""


class Workflow(StrictModel):
    version: Literal[1]
    name: Annotated[str, Field(min_length=1)]
    description: str = ""
    workspace: str | None = None
    params: dict[Name, ParamValue] = {}
    """Parameter defaults; `--set NAME=VALUE` overrides them."""
    secrets: list[Name] = []
    """Environment variables whose values are masked in logs, events and reports."""
    defaults: AgentDefaults = AgentDefaults()
    notify: str | None = None
    """A shell command the engine runs when the run needs the operator or ends
    (``engine.run.notify``); ``--notify`` and ``$PHASEBOARD_NOTIFY`` override it."""
    executor: ExecutorSpec | None = None
    """Where attempts run (docs/distributed.md); ``--executor`` overrides it. None: locally."""
    stages: Annotated[list[Stage], Field(min_length=1)]

    @model_validator(mode="after")
    def _cross_checks(self, info: ValidationInfo) -> Workflow:
        if info.context and info.context.get("defer_cross_checks"):
            return self
        issues = find_issues(self.model_dump(by_alias=True))
        if issues:
            raise ValueError("; ".join(f"{format_path(i.path)}: {i.message}" for i in issues))
        return self

    def stage(self, stage_id: str) -> Stage:
        return self.stages[self.stage_index(stage_id)]

    def stage_index(self, stage_id: str) -> int:
        for index, stage in enumerate(self.stages):
            if stage.id == stage_id:
                return index
        raise KeyError(stage_id)

    def agent(self, stage_id: str, agent_id: str) -> AgentSpec:
        """The agent ``agent_id`` of an agents stage, or a consolidation's synthesizer."""
        stage = self.stage(stage_id)
        if isinstance(stage, AgentsStage):
            return stage.agent(agent_id)
        synthesizer = stage.synthesizer if isinstance(stage, ConsolidationStage) else None
        if synthesizer is not None and synthesizer.id == agent_id:
            return synthesizer
        raise KeyError(agent_id)

    def effective(self, agent: AgentT) -> AgentT:
        """A copy of ``agent`` with every limit it leaves unset taken from ``defaults``; a
        ``timeout``, ``idle_timeout``, ``memory_mb``, ``cpu_percent`` or ``on_exhausted`` it
        sets to null stays None (no limit): told apart from one left out by pydantic's
        ``model_fields_set``. An ``on_exhausted`` set on both is merged key by key."""
        key = (id(agent), id(self.defaults))
        cached = _EFFECTIVE.get(key)
        if cached is not None and cached[0] is agent and cached[1] is self.defaults:
            return cast("AgentT", cached[2])
        explicit = agent.model_fields_set & NULL_IS_NO_LIMIT
        update = {
            name: getattr(self.defaults, name)
            for name in LIMITS
            if getattr(agent, name) is None and name not in explicit
        }
        if agent.on_exhausted is not None and self.defaults.on_exhausted is not None:
            update["on_exhausted"] = self.defaults.on_exhausted.merged(agent.on_exhausted)
        copy = agent.model_copy(update=update)
        if len(_EFFECTIVE) >= _EFFECTIVE_KEPT:
            del _EFFECTIVE[next(iter(_EFFECTIVE))]
        _EFFECTIVE[key] = (agent, self.defaults, copy)
        return copy

    def with_params(self, overrides: Mapping[str, str]) -> Workflow:
        """A copy with parameters set from ``--set NAME=VALUE`` strings, parsed as the type of
        the default. Raises ValueError for an unknown name or a value that does not parse."""
        params = dict(self.params)
        for name, text in overrides.items():
            if name not in params:
                known = ", ".join(sorted(params)) or "none"
                raise ValueError(f"unknown parameter '{name}' (params: {known})")
            params[name] = _parse_param(name, text, params[name])
        return self.model_copy(update={"params": params})


def _parse_param(
    name: str, text: str, default: str | int | float | bool
) -> str | int | float | bool:
    try:
        if isinstance(default, bool):
            lowered = text.strip().lower()
            if lowered in ("true", "yes", "on", "1"):
                return True
            if lowered in ("false", "no", "off", "0"):
                return False
            raise ValueError(text)
        if isinstance(default, int):
            return int(text)
        if isinstance(default, float):
            value = float(text)
            if not math.isfinite(value):
                raise ValueError(text)
            return value
    except ValueError:
        kind = {"bool": "true or false", "int": "a whole number", "float": "a number"}
        expected = kind[type(default).__name__]
        raise ValueError(f"parameter '{name}' takes {expected}, not '{text}'") from None
    return text


def workflow_json_schema() -> dict[str, Any]:
    """JSON Schema of the workflow file, for editors (yaml-language-server) and ``phaseboard
    schema``."""
    schema = Workflow.model_json_schema(by_alias=True)
    for name in ("AgentSpec", "Synthesizer"):
        # an agent's limit left out comes from defaults, while null turns it off: a schema default
        # of null would have an editor that fills defaults in switch every limit off
        for key in LIMITS:
            schema["$defs"][name]["properties"][key].pop("default", None)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "phaseboard workflow, version 1",
        **{key: value for key, value in schema.items() if key != "title"},
    }
