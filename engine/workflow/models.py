"""The workflow file: typed models and their defaults.

The models check shapes and types; the checks that span fields (unique ids, references,
expressions, placeholders) live in :mod:`engine.workflow.checks` and run on the raw data, so a
file with both kinds of mistake gets every problem reported at once. :mod:`engine.workflow.loader`
turns both into ``FILE:LINE:COL: message`` lines; ``load_workflow`` and friends live there and are
re-exported here.
"""

from __future__ import annotations

import functools
import math
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar, cast, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    StringConstraints,
    Tag,
    ValidationInfo,
    WithJsonSchema,
    model_validator,
)

from engine.workflow.checks import DataPath, Issue, find_issues, format_path

if TYPE_CHECKING:
    from engine.workflow.loader import (
        Problem,
        WorkflowError,
        load_workflow,
        parse_workflow,
        resolve_workflow_path,
    )

__all__ = [
    "AgentDefaults",
    "AgentSpec",
    "AgentsStage",
    "Budget",
    "CheckpointStage",
    "CompareRule",
    "ConsolidationStage",
    "Criterion",
    "DataPath",
    "DecisionCheck",
    "DecisionMatrix",
    "Extended",
    "Id",
    "Issue",
    "OnExhausted",
    "Problem",
    "SeverityRule",
    "Stage",
    "Synthesizer",
    "Workflow",
    "WorkflowError",
    "bundled_data_dir",
    "find_issues",
    "load_workflow",
    "parse_workflow",
    "resolve_workflow_path",
    "split_command",
    "workflow_json_schema",
]

ID_PATTERN = r"^[a-z][a-z0-9_]*$"
NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"
Id = Annotated[str, StringConstraints(pattern=ID_PATTERN)]
"""A snake_case id: stages, agents, criteria."""
Name = Annotated[str, StringConstraints(pattern=NAME_PATTERN)]
Severity = Literal["critical", "high", "medium", "low", "warning"]
CriteriaMode = Literal["strict", "lenient"]
Seconds = Annotated[float, Field(gt=0)]


def _command_kind(value: Any) -> str | None:
    if isinstance(value, list):
        return "list"
    return "str" if isinstance(value, str) else None


Command = Annotated[
    Annotated[list[str], Tag("list")] | Annotated[str, Tag("str")],
    Discriminator(
        _command_kind,
        custom_error_type="command_type",
        custom_error_message="expected a command: a list of arguments or one string",
    ),
]
"""An argv list, or a string split with shlex (or run by ``/bin/sh -c`` with ``shell: true``)."""


def _scalar_kind(value: Any) -> str | None:
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
        _scalar_kind,
        custom_error_type="param_type",
        custom_error_message="expected a string, number or boolean",
    ),
    WithJsonSchema({"type": ["string", "number", "boolean"]}),
]


class _Model(BaseModel):
    """Strict, so that a quoted ``"120"`` or a ``true`` is never silently taken for a number."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        strict=True,
        allow_inf_nan=False,
        use_attribute_docstrings=True,
    )


class Budget(_Model):
    tokens: Annotated[int, Field(ge=1)] | None = None
    """Stop the attempt (resource_exhausted) once its messages report more tokens than this."""
    cost_usd: Annotated[float, Field(gt=0)] | None = None
    """Stop the attempt once its messages report a higher cost than this."""


class OnExhausted(_Model):
    """How the retry of an attempt stopped at a resource limit (``resource_exhausted``) runs:
    with the limit that stopped it multiplied by a factor, up to a cap; each further exhaustion
    multiplies again. When that limit cannot be raised (no factor for it, or already at its cap)
    and the agent has a ``reduced_scope``, the retry and the ones after it run with that scope
    (task splitting). Set in ``defaults`` and on an agent: the agent's keys win, one by one."""

    memory_factor: Annotated[float, Field(gt=1)] | None = None
    """Multiply ``memory_mb`` by this for the retry after an attempt was stopped at it (1.5:
    half as much again); null: the memory limit stays."""
    max_memory_mb: Annotated[int, Field(ge=1)] | None = None
    """``memory_mb`` is never raised above this (null: no cap)."""
    budget_factor: Annotated[float, Field(gt=1)] | None = None
    """Multiply the budget's ``tokens`` (or ``cost_usd``) by this for the retry after an attempt
    went past it; null: the budget stays."""
    max_budget_tokens: Annotated[int, Field(ge=1)] | None = None
    """The token budget is never raised above this (null: no cap)."""
    max_budget_cost_usd: Annotated[float, Field(gt=0)] | None = None
    """The cost budget is never raised above this (null: no cap)."""

    def merged(self, over: OnExhausted) -> OnExhausted:
        """This rule with the keys ``over`` sets (an explicit null included) taken from it."""
        return self.model_copy(update={k: getattr(over, k) for k in over.model_fields_set})


class AgentDefaults(_Model):
    """Limits of every agent that does not set its own. An agent that sets ``timeout``,
    ``idle_timeout``, ``memory_mb``, ``cpu_percent`` or ``on_exhausted`` to null has no such
    limit, whatever these say; ``retries``, ``retry_backoff`` and ``grace`` set to null come from
    here."""

    timeout: Seconds | None = 300
    """Wall-clock limit of one attempt, in seconds (null: none)."""
    idle_timeout: Seconds | None = None
    """An attempt with no output for this long is stalled: stopped and retried."""
    retries: Annotated[int, Field(ge=0)] = 1
    """Attempts after the first one, before failing over to the backup."""
    retry_backoff: Annotated[float, Field(ge=0)] = 2.0
    """Seconds before the first retry, doubled for each further one."""
    memory_mb: Annotated[int, Field(ge=1)] | None = None
    """Resident memory limit of the attempt's whole process group."""
    cpu_percent: Annotated[int, Field(ge=1, le=100)] | None = None
    """At most this percent of the machine's CPUs for the attempt's whole process tree, over
    time (25 on a 2-CPU machine: half a CPU; 100 or null: no limit). Held by a cgroup's CPU quota
    where the engine can write one, else by pausing the group (SIGSTOP) while it is ahead of its
    share and resuming it (SIGCONT) after."""
    grace: Annotated[float, Field(ge=0)] = 3.0
    """Seconds between SIGTERM and SIGKILL when an attempt is stopped."""
    on_exhausted: OnExhausted | None = None
    """How a retry after ``resource_exhausted`` raises the limit that stopped the attempt (null:
    it runs with the same limits)."""


_LIMITS = tuple(AgentDefaults.model_fields)
_NULL_IS_NO_LIMIT = frozenset(
    name
    for name, field in AgentDefaults.model_fields.items()
    if type(None) in get_args(field.annotation)
)
"""The limits an agent turns off by setting them to null: those ``defaults`` may set to null."""


class AgentSpec(_Model):
    """One agent. Limits left out (timeout ... grace) come from the workflow's ``defaults``; a
    ``timeout``, ``idle_timeout``, ``memory_mb`` or ``cpu_percent`` set to null means no such
    limit for this agent: use :meth:`Workflow.effective`."""

    id: Id
    title: str | None = None
    run: Command
    """argv list, or a string (split with shlex unless `shell: true`). Placeholders: {workspace},
    {run_dir}, {data}, {python}, {params.NAME}; write {{ and }} for literal braces."""
    shell: bool = False
    """Run `run` (a single string) with /bin/sh -c; placeholder values are shell-quoted."""
    env: dict[Name, str] = {}
    """Extra environment variables for the agent."""
    timeout: Seconds | None = None
    """Wall-clock limit of one attempt, in seconds; left out: `defaults`; null: none."""
    idle_timeout: Seconds | None = None
    """Stalled after this long without output; left out: `defaults`; null: never."""
    retries: Annotated[int, Field(ge=0)] | None = None
    retry_backoff: Annotated[float, Field(ge=0)] | None = None
    memory_mb: Annotated[int, Field(ge=1)] | None = None
    """Resident memory limit of the process group; left out: `defaults`; null: none."""
    cpu_percent: Annotated[int, Field(ge=1, le=100)] | None = None
    """At most this percent of the machine's CPUs (25 on 2 CPUs: half a CPU), by a cgroup's
    CPU quota or by pausing the group; left out: `defaults`; 100 or null: no limit."""
    grace: Annotated[float, Field(ge=0)] | None = None
    backup: Id | None = None
    """Agent of the same stage (with `standby: true`) to fail over to."""
    standby: bool = False
    """Never started by itself: only as another agent's backup."""
    reduced_scope: dict[str, Any] | None = None
    """Given to the agent (PHASEBOARD_SCOPE) on its last, reduced-scope retry; with
    ``on_exhausted``, from the retry after an exhaustion whose limit could not be raised."""
    output: Literal["messages", "json", "file"] = "messages"
    """Where the result comes from: JSON message lines, the whole stdout, or $PHASEBOARD_OUTPUT."""
    result_schema: dict[str, Any] | None = Field(default=None, alias="schema")
    """JSON Schema the result must satisfy."""
    accept_partial: bool = False
    """Keep the valid part of a result that fails the schema."""
    rollback: Command | None = None
    """Run when rolling back past this agent."""
    verify: Command | None = None
    """Run after a rollback."""
    budget: Budget | None = None
    on_exhausted: OnExhausted | None = None
    """How a retry after ``resource_exhausted`` raises the limit that stopped the attempt; keys
    left out come from ``defaults``; null: none, whatever ``defaults`` says."""

    def argv(self) -> list[str]:
        """The command as an argv list (a single script string with ``shell: true``)."""
        return split_command(self.run, self.shell)

    @property
    def display_title(self) -> str:
        return self.title or self.id


class Synthesizer(AgentSpec):
    """An agent that reads a consolidation's synthesis and returns ``decisions``."""

    id: Id = "synthesizer"


AgentT = TypeVar("AgentT", bound=AgentSpec)


class Extended(_Model):
    when: str
    """Expression; when true after the stage's agents, these agents run too."""
    agents: Annotated[list[AgentSpec], Field(min_length=1)]


class _StageBase(_Model):
    id: Id
    title: str | None = None

    @property
    def display_title(self) -> str:
        return self.title or self.id


class AgentsStage(_StageBase):
    kind: Literal["agents"]
    mode: Literal["parallel", "sequential"] = "parallel"
    max_parallel: Annotated[int, Field(ge=1)] | None = None
    collect_timeout: Seconds | None = None
    """Agents still running after this many seconds are stopped and counted missing."""
    agents: Annotated[list[AgentSpec], Field(min_length=1)]
    extended: Extended | None = None

    @property
    def all_agents(self) -> list[AgentSpec]:
        """The stage's agents, then its extended agents."""
        return [*self.agents, *(self.extended.agents if self.extended else [])]

    def agent(self, agent_id: str) -> AgentSpec:
        for agent in self.all_agents:
            if agent.id == agent_id:
                return agent
        raise KeyError(agent_id)


class SeverityRule(_Model):
    path: str
    """Glob (fnmatch) on the dotted path of a conflicting finding."""
    severity: Severity


class CompareRule(_Model):
    path: str
    """Glob (fnmatch) on the dotted path of a finding reported by two or more agents."""
    rule: Literal["equal", "version_in_range", "tolerance", "overlap"]
    """How the values are compared: ``equal``; ``version_in_range`` (versions must fit the
    ranges other agents declare); ``tolerance`` (numbers at most ``tolerance`` apart agree);
    ``overlap`` (lists sharing an item agree)."""
    tolerance: Annotated[float, Field(ge=0)] | None = None
    """For ``rule: tolerance``: the largest difference that is still agreement."""


class ConsolidationStage(_StageBase):
    kind: Literal["consolidation"]
    inputs: Annotated[list[Id], Field(min_length=1)]
    """Earlier agents stages whose results are merged."""
    sections: dict[str, Id] = {}
    """Section name of the synthesis -> agent whose findings fill it."""
    conflict_severity: list[SeverityRule] = []
    """First matching rule wins; conflicts matching none are warnings."""
    compare: list[CompareRule] = []
    """How values at a path are compared (first matching rule wins; default ``equal``): a
    conflict is raised only where the values cannot all hold."""
    synthesizer: Synthesizer | None = None


class Criterion(_Model):
    id: Id
    expr: str
    """CEL expression; true means the criterion passes."""
    severity: Severity = "critical"
    description: str | None = None


class DecisionCheck(_Model):
    expr: str
    """CEL expression (see :class:`DecisionMatrix` for what its value means)."""
    description: str | None = None
    """What the check says in words, shown in the console, ``status`` and the reports."""


def _check_kind(value: Any) -> str | None:
    if isinstance(value, dict | DecisionCheck):
        return "check"
    return "str" if isinstance(value, str) else None


DecisionItem = Annotated[
    Annotated[str, Tag("str")] | Annotated[DecisionCheck, Tag("check")],
    Discriminator(
        _check_kind,
        custom_error_type="check_type",
        custom_error_message="expected an expression, or {expr, description}",
    ),
]
"""A go/no-go check: an expression, or ``{expr, description}``."""


class DecisionMatrix(_Model):
    critical: list[DecisionItem] = []
    """Checks that must all be true."""
    warnings: list[DecisionItem] = []
    """Warning checks, each counted once when it fails: true, or a number above 0 (``documentation
    incomplete = 4`` is one warning, as in the seed's matrix, not four); false or 0 passes."""
    proceed_below: Annotated[int, Field(ge=0)] = 3
    """PROCEED if every critical check holds and fewer warning checks than this fail."""
    conditional_below: Annotated[int, Field(ge=0)] = 5
    """Else CONDITIONAL_PROCEED below this, else BLOCK."""


class CheckpointStage(_StageBase):
    kind: Literal["checkpoint"]
    mode: CriteriaMode = "strict"
    """strict: any failed criterion fails the checkpoint; lenient: only critical ones."""
    criteria: list[Criterion] = []
    on_failure: list[Literal["retry_failed", "manual_resolution", "escalate"]] = [
        "manual_resolution"
    ]
    decision: DecisionMatrix | None = None


Stage = Annotated[AgentsStage | ConsolidationStage | CheckpointStage, Field(discriminator="kind")]
STAGE_KINDS = ("agents", "consolidation", "checkpoint")


_EFFECTIVE: dict[tuple[int, int], tuple[Any, AgentDefaults, Any]] = {}
"""``Workflow.effective`` results by the ids of the agent and defaults they were made from, kept
with both (so neither id can be reused while cached): asked for on every attempt, and a pydantic
copy is not free when a thousand agents start. Not a field: models compare private attributes."""
_EFFECTIVE_KEPT = 4096


class Workflow(_Model):
    version: Literal[1]
    name: Annotated[str, Field(min_length=1)]
    description: str = ""
    workspace: str | None = None
    params: dict[Name, ParamValue] = {}
    """Parameter defaults; `--set NAME=VALUE` overrides them."""
    secrets: list[Name] = []
    """Environment variables whose values are masked in logs, events and reports."""
    defaults: AgentDefaults = AgentDefaults()
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
        explicit = agent.model_fields_set & _NULL_IS_NO_LIMIT
        update = {
            name: getattr(self.defaults, name)
            for name in _LIMITS
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


def workflow_json_schema() -> dict[str, Any]:
    """JSON Schema of the workflow file, for editors (yaml-language-server) and ``phaseboard
    schema``."""
    schema = Workflow.model_json_schema(by_alias=True)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "phaseboard workflow, version 1",
        **{key: value for key, value in schema.items() if key != "title"},
    }


_LAZY = {"Problem", "WorkflowError", "load_workflow", "parse_workflow", "resolve_workflow_path"}


def __getattr__(name: str) -> Any:
    """Re-export the loader, which imports this module, without an import cycle."""
    if name in _LAZY:
        from engine.workflow import loader as yaml_positions

        return getattr(yaml_positions, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
