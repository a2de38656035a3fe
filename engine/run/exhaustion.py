"""Retrying an attempt stopped at a resource limit: resource limit adjustment, task splitting,
scheduled retry.

Each attempt runs with :class:`Limits` (its ``memory_mb`` and budget). After a
``resource_exhausted`` attempt, :func:`after_exhaustion` multiplies the limit that stopped it by
the agent's ``on_exhausted`` factor, up to its cap; a limit that cannot be raised any more asks
for the reduced scope instead. The backoff before the retry is the runner's, as for any failure.
:func:`more_memory` is the operator's ``retry --more-memory``. No I/O here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

from engine.state.events import Exhausted
from engine.state.records import AgentState, AttemptState
from engine.workflow.models import AgentSpec, OnExhausted

OPERATOR_MEMORY_FACTOR = 1.5
"""``retry --more-memory`` on an agent whose ``on_exhausted`` has no ``memory_factor``."""


@dataclass(frozen=True)
class Limits:
    """The limits one attempt runs with, and why they are not the ones before."""

    memory_mb: int | None = None
    tokens: int | None = None
    cost_usd: float | None = None
    reason: str = ""

    @classmethod
    def of(cls, agent: AgentSpec) -> Limits:
        """The limits the workflow gives an agent (``agent`` has its defaults applied)."""
        budget = agent.budget
        return cls(
            memory_mb=agent.memory_mb,
            tokens=budget.tokens if budget else None,
            cost_usd=budget.cost_usd if budget else None,
        )

    def over_budget(self, tokens: int, cost_usd: float) -> tuple[Exhausted, str] | None:
        """Which budget the attempt's messages went past, and the error saying so."""
        if self.tokens is not None and tokens > self.tokens:
            return "tokens", f"token budget exceeded: {tokens} > {self.tokens}"
        if self.cost_usd is not None and cost_usd > self.cost_usd:
            return "cost_usd", f"cost budget exceeded: ${cost_usd:.4f} > ${self.cost_usd:.4f}"
        return None


@dataclass(frozen=True)
class Adjustment:
    """The next attempt's limits after an exhaustion; ``raised`` is False when the limit that
    stopped the attempt stays as it was (no factor for it, or at its cap)."""

    limits: Limits
    raised: bool


def after_exhaustion(
    limits: Limits, rule: OnExhausted | None, stopped_by: Exhausted | None, attempt: int
) -> Adjustment:
    """The limits of the retry of ``attempt``, which ``stopped_by`` stopped. Without a rule, or
    for a limit it cannot tell, nothing changes and no reason is given."""
    if rule is None or stopped_by is None:
        return Adjustment(replace(limits, reason=""), False)
    if stopped_by == "agent":
        why = f"attempt {attempt} reached a limit of the agent's own, which phaseboard cannot raise"
        return Adjustment(replace(limits, reason=why), False)
    factor = rule.memory_factor if stopped_by == "memory" else rule.budget_factor
    cap = getattr(rule, _CAPS[stopped_by])
    key = "memory_mb" if stopped_by == "memory" else stopped_by
    current = getattr(limits, key)
    if current is None:
        return Adjustment(replace(limits, reason=""), False)
    new = _scaled(current, factor, cap, whole=stopped_by != "cost_usd")
    what = _NAMES[stopped_by]
    stopped = f"attempt {attempt} was stopped at {_amount(stopped_by, current)}"
    if new > current:
        at_cap = ", its cap," if cap is not None and new >= cap else ""
        old = _value(stopped_by, current)
        text = f"{what} {old} → {_amount(stopped_by, new)}{at_cap} after {stopped}"
        if stopped_by == "memory":
            limits = replace(limits, memory_mb=int(new))
        elif stopped_by == "tokens":
            limits = replace(limits, tokens=int(new))
        else:
            limits = replace(limits, cost_usd=new)
        return Adjustment(replace(limits, reason=text), True)
    if factor is None:
        why = f"on_exhausted has no {_FACTORS[stopped_by]}"
    elif cap is not None:
        why = f"at its cap ({_CAPS[stopped_by]} {_value(stopped_by, cap)})"
    else:
        why = f"{_FACTORS[stopped_by]} changes nothing at this size"
    return Adjustment(replace(limits, reason=f"{what} not adjusted, {why}: {stopped}"), False)


def _scaled(current: float, factor: float | None, cap: float | None, *, whole: bool) -> float:
    if factor is None:
        return current
    new: float = math.ceil(current * factor) if whole else round(current * factor, 6)
    if cap is not None:
        new = min(new, cap)
    return max(new, current)


_NAMES = {"memory": "memory", "tokens": "token budget", "cost_usd": "cost budget"}
_FACTORS = {"memory": "memory_factor", "tokens": "budget_factor", "cost_usd": "budget_factor"}
_CAPS = {
    "memory": "max_memory_mb",
    "tokens": "max_budget_tokens",
    "cost_usd": "max_budget_cost_usd",
}


def _value(kind: Exhausted, value: float) -> str:
    return f"${value:.4f}" if kind == "cost_usd" else str(int(value))


def _amount(kind: Exhausted, value: float) -> str:
    unit = {"memory": " MB", "tokens": " tokens", "cost_usd": ""}[kind]
    return _value(kind, value) + unit


def with_reduced_scope(reason: str) -> str:
    """The reason of a retry that also runs with the agent's reduced scope (task splitting)."""
    return f"{reason}; runs with its reduced scope" if reason else "runs with its reduced scope"


# -- the operator's retry --more-memory --------------------------------------------------------


@dataclass(frozen=True)
class MemoryPlan:
    """What ``retry --more-memory`` does: ``memory_mb`` for the next attempt, and why; or
    ``refused`` saying why it cannot."""

    factor: float
    current: int | None = None
    memory_mb: int | None = None
    reason: str = ""
    refused: str = ""


def more_memory(agent: AgentSpec, state: AgentState, by: str = "") -> MemoryPlan:
    """The memory of an operator's retry: the last attempt's limit (or the workflow's) times the
    agent's ``memory_factor`` (1.5 without one), capped by its ``max_memory_mb``. ``agent``
    has its defaults applied."""
    rule = agent.on_exhausted
    factor = rule.memory_factor if rule and rule.memory_factor else OPERATOR_MEMORY_FACTOR
    last = last_attempt(state)
    current = (last.memory_mb if last else None) or agent.memory_mb
    if current is None:
        return MemoryPlan(factor, refused="it has no memory limit (memory_mb)")
    cap = rule.max_memory_mb if rule else None
    new = int(_scaled(current, factor, cap, whole=True))
    if new <= current:
        return MemoryPlan(
            factor,
            current,
            refused=f"its memory, {current} MB, is at its cap (max_memory_mb {cap})",
        )
    who = f" by {by}" if by else ""
    reason = f"memory {current} → {new} MB: retry with {factor:g}x memory{who}"
    return MemoryPlan(factor, current, new, reason)


def last_attempt(state: AgentState) -> AttemptState | None:
    live = [a for a in state.attempts if not a.rolled_back]
    return live[-1] if live else None


def stopped_for_memory(attempt: AttemptState | None) -> bool:
    """The attempt ended ``resource_exhausted`` at its memory limit (told from its error in runs
    recorded before the limit was kept)."""
    if attempt is None or attempt.category != "resource_exhausted":
        return False
    if attempt.exhausted is not None:
        return attempt.exhausted == "memory"
    return "budget" not in (attempt.error or "")


def limits_change(before: AttemptState | None, after: AttemptState) -> str:
    """A few words on how ``after``'s limits differ from ``before``'s (``mem 80→160MB``), for
    the console's one-line views; "limits not raised" when its reason says they stayed."""
    if not after.limits_reason:
        return ""
    changes = []
    was = before or AttemptState(n=0)
    if after.memory_mb != was.memory_mb and after.memory_mb is not None:
        changes.append(f"mem {was.memory_mb or '-'}→{after.memory_mb}MB")
    if after.budget_tokens != was.budget_tokens and after.budget_tokens is not None:
        changes.append(f"tokens {was.budget_tokens or '-'}→{after.budget_tokens}")
    if after.budget_cost_usd != was.budget_cost_usd and after.budget_cost_usd is not None:
        cost = f"${was.budget_cost_usd:.2f}" if was.budget_cost_usd is not None else "-"
        changes.append(f"cost {cost}→${after.budget_cost_usd:.2f}")
    return ", ".join(changes) or "limits not raised"
