"""Results not paid for twice: an agent marked ``cache: true`` reuses the result of an earlier
successful attempt, in the same database, that ran with the same key, instead of running.

The key is a SHA-256 of, each part hashed apart:

- the **command** as it would run (placeholders substituted) and its ``shell``;
- the agent's **settings**: its entry of the workflow file with the defaults applied, its
  ``title`` left out;
- the **scope**: ``full`` (a reduced-scope attempt neither reuses nor is reused as a full one);
- the **environment** the attempt would get, every value hashed (secrets are never kept), but for
  the ``PHASEBOARD_*`` variables (they name the run and the attempt) and those of a terminal
  session (:data:`SESSION_VARIABLES`);
- the **inputs document**, but for what names the run (its ``run_id``, a synthesis's
  ``timestamp``);
- the **workspace**: its path and the content digest of the rollback point saved before the agent
  (files git ignores are not part of it, as they are not part of the snapshot).

A cached attempt is recorded like any other (``AttemptStarted`` and ``AttemptFinished`` with
``cached_from``, the tokens and cost it did not spend again), its result checked against the
agent's schema. ``--no-cache`` (run, resume) and an operator's retry bypass the cache.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.execution.log_block import LogBlock
from engine.run import attempt_env
from engine.run.attempt_outcome import AttemptOutcome
from engine.run.results import ResultError, check_result
from engine.state.events import AgentMessage, AttemptFinished, AttemptStarted
from engine.workflow.models import AgentSpec

if TYPE_CHECKING:
    from engine.run.context import RunContext

NO_CACHE_ENV = "PHASEBOARD_NO_CACHE"
"""Set to ``1`` by a console opened with ``--no-cache``, for the engines it starts (which take it
out of their environment before starting agents)."""

SESSION_VARIABLES = frozenset(
    {
        "_", "PWD", "OLDPWD", "SHLVL", "TERM", "TERM_PROGRAM", "TERM_PROGRAM_VERSION",
        "TERM_SESSION_ID", "COLORTERM", "COLUMNS", "LINES", "SSH_CLIENT", "SSH_CONNECTION",
        "SSH_TTY", "SSH_AUTH_SOCK", "SSH_AGENT_PID", "TMUX", "TMUX_PANE", "STY", "WINDOW",
        "WINDOWID", "DISPLAY", "XAUTHORITY", "XDG_SESSION_ID", "XDG_SESSION_TYPE",
        "XDG_SESSION_CLASS", "XDG_VTNR", "XDG_SEAT", "INVOCATION_ID", "JOURNAL_STREAM",
        "MAIL", "LS_COLORS", "PS1", "PS2", "PROMPT_COMMAND", "DBUS_SESSION_BUS_ADDRESS",
        "GPG_TTY", "TEXTUAL", "PYTEST_CURRENT_TEST", "PYTEST_XDIST_WORKER",
    }
)  # fmt: skip
"""Variables that change from one terminal (or SSH) session to the next and say nothing about
what an agent answers: left out of the key, so a re-run from another shell still reuses."""


def _digest(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def environment_digest(env: Mapping[str, str]) -> str:
    """The environment's part of the key: each kept variable's name and the hash of its value."""
    kept = {
        name: hashlib.sha256(value.encode("utf-8", "surrogateescape")).hexdigest()
        for name, value in env.items()
        if not name.startswith("PHASEBOARD_") and name not in SESSION_VARIABLES
    }
    return _digest(kept)


def inputs_digest(path: Path) -> str:
    """The inputs document's part of the key, without what names the run."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return _digest(None)
    if isinstance(document, dict):
        document.pop("run_id", None)
        synthesis = document.get("synthesis")
        if isinstance(synthesis, dict):
            document["synthesis"] = {k: v for k, v in synthesis.items() if k != "timestamp"}
    return _digest(document)


async def cache_key(
    ctx: RunContext, agent: AgentSpec, setup: attempt_env.AttemptSetup, inputs_file: Path
) -> str | None:
    """The attempt's key, or None when there is no rollback point to tell the workspace by."""
    if not ctx.state.rollback_points:
        return None
    workspace = await ctx.session.store.manifest_digest(ctx.state.rollback_points[-1].manifest_id)
    if workspace is None:
        return None
    settings = ctx.workflow.effective(agent).model_dump(mode="json", by_alias=True)
    settings.pop("title", None)
    scope = "reduced" if "PHASEBOARD_SCOPE" in setup.env else "full"
    parts = {
        "command": _digest([setup.argv, agent.shell]),
        "settings": _digest(settings),
        "scope": scope,
        "environment": environment_digest(setup.env),
        "inputs": inputs_digest(inputs_file),
        "workspace": _digest([str(ctx.session.workspace), workspace]),
    }
    return _digest(parts)


async def reuse(
    ctx: RunContext,
    stage_id: str,
    agent: AgentSpec,
    inputs_file: Path,
    *,
    backup_of: str | None,
    mode: str,
) -> AttemptOutcome | None:
    """The next attempt, recorded as reusing an earlier one's result, when the agent may and
    one is found (its closing event is left for the runner to emit, as for any attempt)."""
    own = ctx.state.stages[stage_id].agents[agent.id]
    if not (agent.cache and ctx.use_cache) or own.no_cache or mode == "reduced":
        return None
    n = len(own.attempts) + 1
    setup = attempt_env.prepare(ctx, stage_id, agent, n, inputs_file)
    key = await cache_key(ctx, agent, setup, inputs_file)
    hit = None if key is None else await ctx.session.store.cached_attempt(key)
    if hit is None:
        return None
    try:
        result, partial = check_result(hit.result, agent.result_schema, agent.accept_partial)
    except ResultError as exc:
        await ctx.emit(
            AgentMessage(
                stage=stage_id,
                agent=agent.id,
                attempt=n,
                message_type="warning",
                content=f"the cached result of {hit.source} is not reused: {exc}",
            )
        )
        return None
    masker = ctx.session.masker
    await ctx.emit(
        AttemptStarted(
            stage=stage_id,
            agent=agent.id,
            attempt=n,
            backup_of=backup_of,
            argv=[masker.text(a) for a in setup.argv],
            cached_from=hit.source,
        )
    )
    line = (
        f"cached from {hit.source}: its result is reused; {hit.tokens} tokens and "
        f"${hit.cost_usd:.4f} not spent again"
    )
    await ctx.sink.add((stage_id, agent.id, n), [LogBlock(line, 1, time.time())])
    outcome = AttemptOutcome(True, result=result, partial=partial, n=n)
    outcome.finished = AttemptFinished(
        stage=stage_id,
        agent=agent.id,
        attempt=n,
        status="succeeded",
        exit_code=0,
        partial=partial,
        cached_from=hit.source,
        saved_tokens=hit.tokens,
        saved_cost_usd=round(hit.cost_usd, 6),
        cache_key=key,
    )
    return outcome
