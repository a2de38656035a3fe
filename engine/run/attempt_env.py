"""What one attempt starts with: its argv (placeholders substituted), its environment
(docs/agents.md, "Environment") and the files it may write in the run folder.

Kept apart from :mod:`engine.run.agent_runner` so the result cache
(:mod:`engine.run.result_cache`) builds the same command and environment as the attempt would.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from engine.run.attempt_outcome import AttemptOutcome
from engine.state.records import AttemptState
from engine.workflow.models import AgentSpec
from engine.workflow.placeholders import build_argv, run_placeholders

if TYPE_CHECKING:
    from engine.run.context import RunContext

PREVIOUS_SESSION = "PHASEBOARD_PREVIOUS_SESSION"
"""On a retry after a rejected answer: the LLM session of the attempt before, to continue."""


@dataclass(frozen=True)
class AttemptSetup:
    argv: list[str]
    env: dict[str, str]
    output_file: Path
    """``$PHASEBOARD_OUTPUT``: not there when the attempt starts."""
    stdout_file: Path


def prepare(
    ctx: RunContext,
    stage_id: str,
    agent: AgentSpec,
    n: int,
    inputs_file: Path,
    *,
    reduced: bool = False,
    feedback: str | None = None,
    previous_session: str | None = None,
) -> AttemptSetup:
    """Attempt ``n``'s command and environment (stale output files of an attempt ``n`` that
    ran before a crash are removed)."""
    attempt_dir = ctx.attempt_dir(stage_id)
    output_file = attempt_dir / f"{agent.id}.{n}.result.json"
    stdout_file = attempt_dir / f"{agent.id}.{n}.stdout"
    for stale in (output_file, stdout_file):
        stale.unlink(missing_ok=True)
    argv = build_argv(agent.run, run_placeholders(ctx.state), shell=agent.shell)
    env = dict(os.environ)
    env.update(agent.env)
    env.update(
        {
            "PHASEBOARD_RUN_ID": ctx.session.run_id,
            "PHASEBOARD_STAGE": stage_id,
            "PHASEBOARD_AGENT": agent.id,
            "PHASEBOARD_ATTEMPT": str(n),
            "PHASEBOARD_WORKSPACE": str(ctx.session.workspace),
            "PHASEBOARD_INPUTS": str(inputs_file),
            "PHASEBOARD_OUTPUT": str(output_file),
            "PHASEBOARD_RUN_DIR": str(ctx.run_dir),
        }
    )
    for optional in ("PHASEBOARD_SCOPE", "PHASEBOARD_FEEDBACK", PREVIOUS_SESSION):
        env.pop(optional, None)
    if reduced and agent.reduced_scope is not None:
        env["PHASEBOARD_SCOPE"] = json.dumps(agent.reduced_scope)
    if feedback:
        env["PHASEBOARD_FEEDBACK"] = feedback
        if previous_session:
            env[PREVIOUS_SESSION] = previous_session
    return AttemptSetup(argv, env, output_file, stdout_file)


def session_to_continue(before: AttemptOutcome | None, reduced: bool) -> str | None:
    """The session a retry continues (when its attempt before gave an answer that was rejected,
    :func:`prepare` passes it on): the session of the attempt before, unless the scope changed.
    A reduced-scope retry starts afresh, as does a backup (it has no attempt before)."""
    if before is None or not before.session_id or before.reduced != reduced:
        return None
    return before.session_id


def continued(attempts: list[AttemptState], resumed_session: str | None) -> AttemptState | None:
    """The attempt whose session the last of ``attempts`` says it continued: the one before it
    (what that one spent is what the resumed attempt did not spend again), or None."""
    before = attempts[-2] if len(attempts) > 1 else None
    if before is None or not resumed_session or before.session_id != resumed_session:
        return None
    return before
