"""The workflow file: typed models, defaults, placeholders and the checks that span fields.

The models check shapes and types; :func:`find_issues` checks what no single field can (unique ids,
references between stages and agents, expressions, placeholders) on the raw data, so a file with
both kinds of mistake gets every problem reported at once. :mod:`engine.yaml_positions` turns both
into ``FILE:LINE:COL: message`` lines; ``load_workflow`` and friends live there and are re-exported
here.
"""

from __future__ import annotations

import difflib
import math
import re
import shlex
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, NamedTuple, TypeVar

import jsonschema
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

from engine.expressions import (
    ROOTS,
    ExpressionError,
    attribute_references,
    check_names,
    compile_expression,
    identifier_offset,
)

if TYPE_CHECKING:
    from engine.yaml_positions import (
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
    "ConsolidationStage",
    "Criterion",
    "DecisionMatrix",
    "Extended",
    "Id",
    "Issue",
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


class AgentDefaults(_Model):
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
    """CPU share per core (advisory, recorded)."""
    grace: Annotated[float, Field(ge=0)] = 3.0
    """Seconds between SIGTERM and SIGKILL when an attempt is stopped."""


_LIMITS = tuple(AgentDefaults.model_fields)


class AgentSpec(_Model):
    """One agent. Limits left unset (timeout ... grace) come from the workflow's ``defaults``:
    use :meth:`Workflow.effective`."""

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
    idle_timeout: Seconds | None = None
    retries: Annotated[int, Field(ge=0)] | None = None
    retry_backoff: Annotated[float, Field(ge=0)] | None = None
    memory_mb: Annotated[int, Field(ge=1)] | None = None
    cpu_percent: Annotated[int, Field(ge=1, le=100)] | None = None
    grace: Annotated[float, Field(ge=0)] | None = None
    backup: Id | None = None
    """Agent of the same stage (with `standby: true`) to fail over to."""
    standby: bool = False
    """Never started by itself: only as another agent's backup."""
    reduced_scope: dict[str, Any] | None = None
    """Given to the agent (PHASEBOARD_SCOPE) on its last, reduced-scope retry."""
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


class ConsolidationStage(_StageBase):
    kind: Literal["consolidation"]
    inputs: Annotated[list[Id], Field(min_length=1)]
    """Earlier agents stages whose results are merged."""
    sections: dict[str, Id] = {}
    """Section name of the synthesis -> agent whose findings fill it."""
    conflict_severity: list[SeverityRule] = []
    """First matching rule wins; conflicts matching none are warnings."""
    synthesizer: Synthesizer | None = None


class Criterion(_Model):
    id: Id
    expr: str
    """CEL expression; true means the criterion passes."""
    severity: Severity = "critical"
    description: str | None = None


class DecisionMatrix(_Model):
    critical: list[str] = []
    """Expressions that must all be true."""
    warnings: list[str] = []
    """Expressions giving an int (or bool = 0/1), summed."""
    proceed_below: Annotated[int, Field(ge=0)] = 3
    """PROCEED if every critical expression holds and the warnings sum below this."""
    conditional_below: Annotated[int, Field(ge=0)] = 5
    """Else CONDITIONAL_PROCEED below this, else BLOCK."""


class CheckpointStage(_StageBase):
    kind: Literal["checkpoint"]
    mode: Literal["strict", "lenient"] = "strict"
    """strict: any failed criterion fails the checkpoint; lenient: only critical ones."""
    criteria: list[Criterion] = []
    on_failure: list[Literal["retry_failed", "manual_resolution", "escalate"]] = [
        "manual_resolution"
    ]
    decision: DecisionMatrix | None = None


Stage = Annotated[AgentsStage | ConsolidationStage | CheckpointStage, Field(discriminator="kind")]
STAGE_KINDS = ("agents", "consolidation", "checkpoint")


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
        """A copy of ``agent`` with every limit it leaves unset taken from ``defaults``."""
        update = {
            name: getattr(self.defaults, name) for name in _LIMITS if getattr(agent, name) is None
        }
        return agent.model_copy(update=update)

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


MAX_SCHEMA_ERRORS = 5
PLACEHOLDERS = ("workspace", "run_dir", "data", "python")
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")


def bundled_data_dir() -> Path:
    """The ``data/`` folder shipped with the package (forced into the wheel beside ``engine``)."""
    return Path(__file__).resolve().parent.parent / "data"


def workflow_json_schema() -> dict[str, Any]:
    """JSON Schema of the workflow file, for editors (yaml-language-server) and ``phaseboard
    schema``."""
    schema = Workflow.model_json_schema(by_alias=True)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "phaseboard workflow, version 1",
        **{key: value for key, value in schema.items() if key != "title"},
    }


DataPath = tuple[str | int, ...]


class Issue(NamedTuple):
    """A problem found by :func:`find_issues`, located by its path in the raw data."""

    path: DataPath
    message: str
    offset: int | None = None
    """Character offset inside the string at ``path`` (an expression, a command)."""
    related: DataPath | None = None
    """Where the clashing original is (duplicates)."""
    at_key: bool = False
    """Point at the key of ``path`` rather than its value."""


def format_path(path: DataPath) -> str:
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text or "workflow"


def _suggest(word: str, choices: list[str] | set[str]) -> str:
    close = difflib.get_close_matches(word, sorted(choices), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _items(value: Any) -> Iterator[tuple[int, dict[str, Any]]]:
    if isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, dict):
                yield index, item


def find_issues(data: Any) -> list[Issue]:
    """Every cross-field problem of raw workflow data (parsed YAML), whatever its shape."""
    if not isinstance(data, dict):
        return []
    return _Checker(data).run()


class _Checker:
    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        params = data.get("params")
        self.params = set(params) if isinstance(params, dict) else set()
        self.issues: list[Issue] = []
        self.stage_index: dict[str, int] = {}
        self.stage_kind: dict[str, Any] = {}
        self.stage_agents: dict[str, set[str]] = {}

    def add(
        self,
        path: DataPath,
        message: str,
        offset: int | None = None,
        related: DataPath | None = None,
        at_key: bool = False,
    ) -> None:
        self.issues.append(Issue(path, message, offset, related, at_key))

    def run(self) -> list[Issue]:
        stages = list(_items(self.data.get("stages")))
        for index, stage in stages:
            sid = stage.get("id")
            if not isinstance(sid, str):
                continue
            if sid in self.stage_index:
                first = self.stage_index[sid]
                self.add(
                    ("stages", index, "id"),
                    f"duplicate stage id '{sid}'",
                    related=("stages", first, "id"),
                )
                continue
            self.stage_index[sid] = index
            self.stage_kind[sid] = stage.get("kind")
            self.stage_agents[sid] = {
                agent["id"]
                for _, _, agent in self._stage_agents(index, stage)
                if isinstance(agent.get("id"), str)
            }
        for index, stage in stages:
            kind = stage.get("kind")
            if kind == "agents":
                self._agents_stage(index, stage)
            elif kind == "consolidation":
                self._consolidation(index, stage)
            elif kind == "checkpoint":
                self._checkpoint(index, stage)
        return self.issues

    @staticmethod
    def _stage_agents(
        index: int, stage: dict[str, Any]
    ) -> Iterator[tuple[DataPath, bool, dict[str, Any]]]:
        for j, agent in _items(stage.get("agents")):
            yield ("stages", index, "agents", j), False, agent
        extended = stage.get("extended")
        if isinstance(extended, dict):
            for j, agent in _items(extended.get("agents")):
                yield ("stages", index, "extended", "agents", j), True, agent

    def _agents_stage(self, index: int, stage: dict[str, Any]) -> None:
        sid = str(stage.get("id"))
        agents: dict[str, tuple[DataPath, dict[str, Any]]] = {}
        for path, _, agent in self._stage_agents(index, stage):
            aid = agent.get("id")
            if isinstance(aid, str):
                if aid in agents:
                    self.add(
                        (*path, "id"),
                        f"duplicate agent id '{aid}' in stage '{sid}'",
                        related=(*agents[aid][0], "id"),
                    )
                else:
                    agents[aid] = (path, agent)
            self._agent(path, agent)
        self._backups(sid, agents)
        extended = stage.get("extended")
        if isinstance(extended, dict) and isinstance(extended.get("when"), str):
            self._expression(("stages", index, "extended", "when"), extended["when"])

    def _backups(self, sid: str, agents: dict[str, tuple[DataPath, dict[str, Any]]]) -> None:
        backed: set[str] = set()
        for aid, (path, agent) in agents.items():
            backup = agent.get("backup")
            if not isinstance(backup, str):
                continue
            backed.add(backup)
            where = (*path, "backup")
            if backup == aid:
                self.add(where, f"agent '{aid}' cannot be its own backup")
            elif backup not in agents:
                self.add(
                    where,
                    f"backup '{backup}' is not an agent of stage '{sid}'"
                    + _suggest(backup, set(agents)),
                )
            elif agents[backup][1].get("standby") is not True:
                self.add(
                    where,
                    f"backup '{backup}' must be a standby agent (add standby: true"
                    " to it, so it only runs as a backup)",
                )
        for aid, (path, agent) in agents.items():
            if agent.get("standby") is True and aid not in backed:
                self.add(
                    (*path, "standby"),
                    f"standby agent '{aid}' never runs: no agent of"
                    f" stage '{sid}' names it as its backup",
                )
        self._backup_loops(agents)

    def _backup_loops(self, agents: dict[str, tuple[DataPath, dict[str, Any]]]) -> None:
        reported: set[frozenset[str]] = set()
        for start in agents:
            chain = [start]
            while True:
                nxt = agents[chain[-1]][1].get("backup")
                if not isinstance(nxt, str) or nxt not in agents or nxt == chain[-1]:
                    break
                if nxt in chain:
                    loop = chain[chain.index(nxt) :]
                    if frozenset(loop) not in reported:
                        reported.add(frozenset(loop))
                        self.add(
                            (*agents[chain[-1]][0], "backup"),
                            "backup chain loops: " + " -> ".join([*loop, nxt]),
                        )
                    break
                chain.append(nxt)

    def _agent(self, path: DataPath, agent: dict[str, Any], synthesizer: bool = False) -> None:
        shell = agent.get("shell") is True
        for key in ("run", "rollback", "verify"):
            self._command((*path, key), agent.get(key), shell)
        if synthesizer:
            for key in ("backup", "standby"):
                if key in agent:
                    self.add((*path, key), f"a synthesizer has no '{key}'", at_key=True)
        schema = agent.get("schema")
        if isinstance(schema, dict):
            self._json_values((*path, "schema"), schema)
            self._json_schema((*path, "schema"), schema)
        if isinstance(agent.get("reduced_scope"), dict):
            self._json_values((*path, "reduced_scope"), agent["reduced_scope"])

    def _json_schema(self, path: DataPath, schema: dict[str, Any]) -> None:
        validator = jsonschema.validators.validator_for(schema)
        try:
            errors = list(validator(validator.META_SCHEMA).iter_errors(schema))
        except Exception as error:  # a hostile schema must not crash the check itself
            self.add(path, f"invalid JSON Schema: {error}")
            return
        for error in errors[:MAX_SCHEMA_ERRORS]:
            self.add((*path, *error.absolute_path), f"invalid JSON Schema: {error.message}")

    def _json_values(self, path: DataPath, value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(key, str):
                    self.add(path, f"key {key!r} must be a string")
                self._json_values((*path, key), item)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                self._json_values((*path, index), item)
        elif isinstance(value, float) and not math.isfinite(value):
            self.add(path, "must be a finite number")
        elif value is not None and not isinstance(value, str | int | float | bool):
            self.add(path, f"must be JSON data (a {type(value).__name__} is not); quote it")

    def _command(self, path: DataPath, command: Any, shell: bool) -> None:
        if isinstance(command, str):
            if not command.strip():
                self.add(path, "command is empty")
                return
            if not shell:
                try:
                    shlex.split(command)
                except ValueError as error:
                    self.add(path, f"command does not split into arguments: {error}")
            self._placeholders(path, command)
        elif isinstance(command, list):
            if not command:
                self.add(path, "command is empty")
            elif shell:
                self.add(path, "with shell: true, the command must be one string")
            for k, part in enumerate(command):
                if isinstance(part, str):
                    self._placeholders((*path, k), part)

    def _placeholders(self, path: DataPath, text: str) -> None:
        for found in _PLACEHOLDER.finditer(text):
            token, name = found.group(0), found.group(1)
            if token in ("{{", "}}"):
                continue
            if name is None:
                self.add(
                    path,
                    f"unbalanced '{token}': write {token}{token} for a literal brace",
                    found.start(),
                )
                continue
            name = name.strip()
            if name.startswith("params."):
                param = name.removeprefix("params.")
                if param not in self.params:
                    known = ", ".join(sorted(self.params)) or "none defined"
                    self.add(
                        path,
                        f"unknown parameter '{param}' in placeholder '{token}' (params: {known})",
                        found.start(),
                    )
            elif name not in PLACEHOLDERS:
                known = ", ".join(f"{{{p}}}" for p in PLACEHOLDERS)
                self.add(
                    path,
                    f"unknown placeholder '{token}' (known: {known},"
                    " {params.NAME}; write {{ and }} for literal braces)"
                    + _suggest(name, list(PLACEHOLDERS)),
                    found.start(),
                )

    def _consolidation(self, index: int, stage: dict[str, Any]) -> None:
        inputs = stage.get("inputs")
        available: set[str] = set()
        seen: set[str] = set()
        for k, name in enumerate(inputs if isinstance(inputs, list) else []):
            if not isinstance(name, str):
                continue
            path = ("stages", index, "inputs", k)
            if name in seen:
                self.add(path, f"input '{name}' is listed twice")
            elif name not in self.stage_index:
                self.add(
                    path, f"input '{name}' is not a stage" + _suggest(name, set(self.stage_index))
                )
            elif self.stage_kind[name] != "agents":
                self.add(
                    path,
                    f"input '{name}' is a {self.stage_kind[name]} stage;"
                    " inputs must be agents stages",
                )
            elif self.stage_index[name] >= index:
                self.add(
                    path,
                    f"input '{name}' comes after this stage; inputs must be earlier agents stages",
                )
            else:
                available |= self.stage_agents[name]
            seen.add(name)
        sections = stage.get("sections")
        if isinstance(sections, dict) and available:
            for section, agent in sections.items():
                if isinstance(agent, str) and agent not in available:
                    self.add(
                        ("stages", index, "sections", section),
                        f"section '{section}': agent '{agent}' is not in the input stages"
                        + _suggest(agent, available),
                    )
        synthesizer = stage.get("synthesizer")
        if isinstance(synthesizer, dict):
            self._agent(("stages", index, "synthesizer"), synthesizer, synthesizer=True)

    def _checkpoint(self, index: int, stage: dict[str, Any]) -> None:
        ids: dict[str, int] = {}
        for k, criterion in _items(stage.get("criteria")):
            path = ("stages", index, "criteria", k)
            cid = criterion.get("id")
            if isinstance(cid, str):
                if cid in ids:
                    self.add(
                        (*path, "id"),
                        f"duplicate criterion id '{cid}'",
                        related=("stages", index, "criteria", ids[cid], "id"),
                    )
                else:
                    ids[cid] = k
            if isinstance(criterion.get("expr"), str):
                self._expression((*path, "expr"), criterion["expr"])
        decision = stage.get("decision")
        if not isinstance(decision, dict):
            return
        for key in ("critical", "warnings"):
            exprs = decision.get(key)
            for k, expr in enumerate(exprs if isinstance(exprs, list) else []):
                if isinstance(expr, str):
                    self._expression(("stages", index, "decision", key, k), expr)
        proceed = decision.get("proceed_below", 3)
        conditional = decision.get("conditional_below", 5)
        if _is_int(proceed) and _is_int(conditional) and conditional < proceed:
            self.add(
                ("stages", index, "decision", "conditional_below"),
                f"conditional_below ({conditional}) must be at least proceed_below ({proceed})",
            )

    def _expression(self, path: DataPath, src: str) -> None:
        try:
            compile_expression(src)
            unknown = check_names(src, ROOTS)
        except ExpressionError as error:
            self.add(
                path,
                f"expression does not parse: {error.message}",
                _offset(src, error.line, error.column),
            )
            return
        for name in unknown:
            known = ", ".join(sorted(ROOTS))
            self.add(
                path,
                f"unknown name '{name}' in expression{_suggest(name, set(ROOTS))};"
                f" known names: {known}",
                identifier_offset(src, name),
            )
        for (stage,), offset in attribute_references(src, "stages"):
            if stage not in self.stage_index:
                self.add(
                    path,
                    f"unknown stage '{stage}' in expression"
                    + _suggest(stage, set(self.stage_index)),
                    offset,
                )
        for (stage, agent), offset in attribute_references(src, "stages", "*", "agents"):
            if self.stage_kind.get(stage) == "agents" and agent not in self.stage_agents[stage]:
                self.add(
                    path,
                    f"stage '{stage}' has no agent '{agent}'"
                    + _suggest(agent, self.stage_agents[stage]),
                    offset,
                )
        for (param,), offset in attribute_references(src, "params"):
            if param not in self.params:
                known = ", ".join(sorted(self.params)) or "none defined"
                self.add(
                    path, f"unknown parameter '{param}' in expression (params: {known})", offset
                )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _offset(src: str, line: int | None, column: int | None) -> int | None:
    if column is None:
        return None
    lines = src.split("\n")
    line = min(max(line or 1, 1), len(lines))
    return sum(len(text) + 1 for text in lines[: line - 1]) + column - 1


_LAZY = {"Problem", "WorkflowError", "load_workflow", "parse_workflow", "resolve_workflow_path"}


def __getattr__(name: str) -> Any:
    """Re-export the loader, which imports this module, without an import cycle."""
    if name in _LAZY:
        from engine import yaml_positions

        return getattr(yaml_positions, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
