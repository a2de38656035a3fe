"""An agent of the workflow file: its command, limits and recovery (``defaults`` and each
agent's own keys), budget and the rule for a retry after resource exhaustion."""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypeVar, get_args

from pydantic import Field

from engine.workflow.types import Command, Id, Name, Seconds, StrictModel, split_command


class Budget(StrictModel):
    tokens: Annotated[int, Field(ge=1)] | None = None
    """Stop the attempt (resource_exhausted) once its messages report more tokens than this."""
    cost_usd: Annotated[float, Field(gt=0)] | None = None
    """Stop the attempt once its messages report a higher cost than this."""


class OnExhausted(StrictModel):
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


class AgentDefaults(StrictModel):
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


LIMITS = tuple(AgentDefaults.model_fields)
NULL_IS_NO_LIMIT = frozenset(
    name
    for name, field in AgentDefaults.model_fields.items()
    if type(None) in get_args(field.annotation)
)
"""The limits an agent turns off by setting them to null: those ``defaults`` may set to null."""


class AgentSpec(StrictModel):
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
    cache: bool = False
    """Reuse the result of an earlier successful attempt with the same command, settings,
    environment, inputs and workspace content instead of running (agents that only read)."""

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
