"""The stages of the workflow file: agents stages, consolidations with their comparison and
severity rules, checkpoints with their criteria and go/no-go matrix."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Discriminator, Field, Tag

from engine.workflow.agents import AgentSpec, Synthesizer
from engine.workflow.types import CriteriaMode, Id, Seconds, Severity, StrictModel


class Extended(StrictModel):
    when: str
    """Expression evaluated when the stage starts (so ``metrics`` of earlier stages are known);
    when true, these agents run with the stage's own."""
    agents: Annotated[list[AgentSpec], Field(min_length=1)]


class StageBase(StrictModel):
    id: Id
    title: str | None = None

    @property
    def display_title(self) -> str:
        return self.title or self.id


class AgentsStage(StageBase):
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


class SeverityRule(StrictModel):
    path: str
    """Glob (fnmatch) on the dotted path of a conflicting finding."""
    severity: Severity


class CompareRule(StrictModel):
    path: str
    """Glob (fnmatch) on the dotted path of a finding reported by two or more agents."""
    rule: Literal["equal", "version_in_range", "tolerance", "overlap"]
    """How the values are compared: ``equal``; ``version_in_range`` (versions must fit the
    ranges other agents declare); ``tolerance`` (numbers at most ``tolerance`` apart agree);
    ``overlap`` (lists sharing an item agree)."""
    tolerance: Annotated[float, Field(ge=0)] | None = None
    """For ``rule: tolerance``: the largest difference that is still agreement."""


class ConsolidationStage(StageBase):
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


class Criterion(StrictModel):
    id: Id
    expr: str
    """CEL expression; true means the criterion passes."""
    severity: Severity = "critical"
    description: str | None = None


class DecisionCheck(StrictModel):
    expr: str
    """CEL expression (see :class:`DecisionMatrix` for what its value means)."""
    description: str | None = None
    """What the check says in words, shown in the console, ``status`` and the reports."""


def check_kind(value: Any) -> str | None:
    if isinstance(value, dict | DecisionCheck):
        return "check"
    return "str" if isinstance(value, str) else None


DecisionItem = Annotated[
    Annotated[str, Tag("str")] | Annotated[DecisionCheck, Tag("check")],
    Discriminator(
        check_kind,
        custom_error_type="check_type",
        custom_error_message="expected an expression, or {expr, description}",
    ),
]
"""A go/no-go check: an expression, or ``{expr, description}``."""


class DecisionMatrix(StrictModel):
    critical: list[DecisionItem] = []
    """Checks that must all be true."""
    warnings: list[DecisionItem] = []
    """Warning checks, each counted once when it fails: true, or a number above 0 (``documentation
    incomplete = 4`` is one warning, not four); false or 0 passes."""
    proceed_below: Annotated[int, Field(ge=0)] = 3
    """PROCEED if every critical check holds and fewer warning checks than this fail."""
    conditional_below: Annotated[int, Field(ge=0)] = 5
    """Else CONDITIONAL_PROCEED below this, else BLOCK."""


class CheckpointStage(StageBase):
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
