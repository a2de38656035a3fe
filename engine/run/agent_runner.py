"""One agent of one stage: attempts, retries with backoff, reduced scope, limits raised after
an exhaustion (:mod:`engine.run.exhaustion`), failover to a backup.

The runner speaks to the executor interface only; everything it learns becomes
events. Categories and recovery are those of docs/agents.md.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.execution.executor import AttemptSpec, Executor
from engine.run import attempt_env, result_cache
from engine.run.attempt_outcome import (
    AttemptOutcome,
    batch_messages,
    capped,
    classify,
)
from engine.run.exhaustion import Limits, after_exhaustion, with_reduced_scope
from engine.run.results import MessageParser
from engine.run.secrets import OutputMasker
from engine.state.events import (
    AgentFinished,
    AgentMessage,
    AttemptFinished,
    AttemptStarted,
    Exhausted,
)
from engine.workflow.models import AgentSpec

if TYPE_CHECKING:
    from engine.run.context import RunContext

__all__ = ["AgentRunner", "AttemptOutcome"]


class AgentRunner:
    """Runs one agent to a final status, honouring an abort from the stage (collect_timeout)."""

    def __init__(
        self, ctx: RunContext, stage_id: str, agent: AgentSpec, *, inputs_file: Path
    ) -> None:
        self.ctx = ctx
        self.stage_id = stage_id
        self.agent = agent
        self.inputs_file = inputs_file
        self._running: Any = None
        self._starting: asyncio.Future[Any] | None = None
        """The executor's start, while it waits (for a Dask worker with room)."""
        self._abort: str | None = None

    async def abort(self, reason: str) -> None:
        """Stop the current attempt and run no more ('missing' or 'interrupted')."""
        self._abort = reason
        if self._starting is not None:
            self._starting.cancel()
        if self._running is not None:
            await self._running.stop("stopped")

    async def run(self, mode: str = "same") -> bool:
        stage = self.ctx.workflow.stage(self.stage_id)
        if mode == "backup" and self.agent.backup:
            backup = _find_agent(stage, self.agent.backup)
            await self._finish(self.agent, "failed", None, reason=f"failed over to {backup.id}")
            return await self._run_one(backup, backup_of=self.agent.id, mode="same")
        own = self.ctx.state.stages[self.stage_id].agents[self.agent.id]
        limits = None
        if own.retry_memory_mb is not None:  # the operator's retry --more-memory
            limits = replace(
                self._limits(self.agent),
                memory_mb=own.retry_memory_mb,
                reason=own.retry_limits_reason,
            )
        ok = await self._run_one(self.agent, backup_of=None, mode=mode, limits=limits)
        if ok or self._abort or not self.agent.backup:
            return ok
        backup = _find_agent(stage, self.agent.backup)
        return await self._run_one(backup, backup_of=self.agent.id, mode="same")

    def _limits(self, agent: AgentSpec) -> Limits:
        return Limits.of(self.ctx.workflow.effective(agent))

    async def _run_one(
        self, agent: AgentSpec, *, backup_of: str | None, mode: str, limits: Limits | None = None
    ) -> bool:
        eff = self.ctx.workflow.effective(agent)
        limits = limits or Limits.of(eff)
        tries = 1 + (eff.retries or 0)
        feedback: str | None = None
        last = await result_cache.reuse(
            self.ctx, self.stage_id, agent, self.inputs_file, backup_of=backup_of, mode=mode
        )
        if last is not None:
            await self._finish(agent, "succeeded", last.result, backup_of=backup_of, attempt=last)
            return True
        split = False  # task splitting: a limit that cannot be raised asks for the reduced scope
        for i in range(tries):
            reduced = agent.reduced_scope is not None and (
                mode == "reduced" or split or (i > 0 and i == tries - 1)
            )
            last = await self._attempt(
                agent, backup_of=backup_of, reduced=reduced, feedback=feedback, limits=limits,
                session=attempt_env.session_to_continue(last, reduced),
            )  # fmt: skip
            if last.ok:
                await self._finish(
                    agent, "succeeded", last.result, backup_of=backup_of, attempt=last
                )
                return True
            if self._abort or last.interrupted:
                break
            if last.category == "integration_failure" and not last.lost:
                break  # a lost worker's attempt is retried: it runs on another
            if closing := last.take_finished():
                await self.ctx.emit(*closing)  # alone: a retry follows
            feedback = last.feedback
            if last.category == "resource_exhausted":
                step = after_exhaustion(limits, eff.on_exhausted, last.exhausted, last.n)
                limits = step.limits
                if not step.raised and eff.on_exhausted and agent.reduced_scope is not None:
                    split = True
                    limits = replace(limits, reason=with_reduced_scope(limits.reason))
            else:
                limits = replace(limits, reason="")  # a raised limit stays raised
            if i < tries - 1:
                delay = (eff.retry_backoff or 0) * (2**i)
                if delay > 0 and not await self.ctx.wait_or_stop(delay):
                    break
        if self._abort == "missing":
            await self._finish(
                agent, "missing", None, backup_of=backup_of, reason="collect_timeout", attempt=last
            )
        elif self._abort or (last is not None and last.interrupted):
            await self._finish(
                agent, "pending", None, backup_of=backup_of, reason="interrupted", attempt=last
            )
        else:
            reason = last.error if last and last.error else "failed"
            await self._finish(
                agent, "failed", None, backup_of=backup_of, reason=reason, attempt=last
            )
        return False

    async def _finish(
        self,
        agent: AgentSpec,
        status: str,
        result: Any,
        *,
        backup_of: str | None = None,
        reason: str = "",
        attempt: AttemptOutcome | None = None,
    ) -> None:
        """Record the agent's final status, in the same commit as its last attempt's end:
        one commit less on each agent's way out, and the two are never seen apart."""
        closing = attempt.take_finished() if attempt is not None else []
        await self.ctx.emit(
            *closing,
            AgentFinished(
                stage=self.stage_id,
                agent=agent.id,
                status=status,  # type: ignore[arg-type]
                result=result,
                backup_of=backup_of,
                reason=reason[:500],
            ),
        )
        if status == "succeeded":
            self.ctx.reports.queue_agent_result(self.stage_id, agent.id, result)

    # -- one attempt -----------------------------------------------------------------------

    async def _attempt(
        self,
        agent: AgentSpec,
        *,
        backup_of: str | None,
        reduced: bool,
        feedback: str | None,
        limits: Limits,
        session: str | None = None,
    ) -> AttemptOutcome:
        engine = self.ctx
        state_agent = engine.state.stages[self.stage_id].agents[agent.id]
        n = len(state_agent.attempts) + 1
        eff = engine.workflow.effective(agent)
        setup = attempt_env.prepare(
            engine, self.stage_id, agent, n, self.inputs_file,
            reduced=reduced, feedback=feedback, previous_session=session,
        )  # fmt: skip
        argv, output_file, stdout_file = setup.argv, setup.output_file, setup.stdout_file
        cache = agent.cache and await result_cache.cache_key(engine, agent, setup, self.inputs_file)
        spec = AttemptSpec(
            argv=tuple(argv),
            cwd=str(engine.session.workspace),
            env=setup.env,
            shell=agent.shell,
            timeout_s=eff.timeout,
            idle_timeout_s=eff.idle_timeout,
            memory_mb=limits.memory_mb,
            cpu_percent=eff.cpu_percent,
            grace_s=eff.grace if eff.grace is not None else 3.0,
            stdout_tee=str(stdout_file) if agent.output == "json" else None,
        )
        executor: Executor = engine.executor
        self._starting = asyncio.ensure_future(executor.start(spec))
        try:
            running = await self._starting
        except asyncio.CancelledError:
            if self._abort is None:
                raise
            return AttemptOutcome(False, error="stopped before it started", interrupted=True)
        finally:
            self._starting = None
        self._running = running
        info = running.info
        await engine.emit(
            AttemptStarted(
                stage=self.stage_id,
                agent=agent.id,
                attempt=n,
                scope="reduced" if reduced else "full",
                backup_of=backup_of,
                argv=[engine.session.masker.text(a) for a in argv],
                pid=info.pid if info else None,
                pgid=info.pgid if info else None,
                create_time=info.create_time if info else None,
                host=info.host if info else "",
                memory_mb=limits.memory_mb,
                budget_tokens=limits.tokens,
                budget_cost_usd=limits.cost_usd,
                limits_reason=limits.reason,
            )
        )
        parser = MessageParser()
        budget_error: tuple[Exhausted, str] | None = None
        try:
            masker = OutputMasker(engine.session.masker) if engine.session.masker else None
            parse = agent.output == "messages"
            key = (self.stage_id, agent.id, n)
            async for batch in running.lines():
                if masker is not None:
                    batch = masker.blocks(batch)
                if parse:
                    for message in batch_messages(batch, parser):
                        await engine.emit(
                            AgentMessage(
                                stage=self.stage_id,
                                agent=agent.id,
                                attempt=n,
                                message_type=message.message_type,
                                priority=message.priority,
                                content=capped(message.content),
                            )
                        )
                await engine.sink.add(key, batch)
                if budget_error is None:
                    budget_error = limits.over_budget(parser.tokens, parser.cost_usd)
                    if budget_error is not None:
                        await running.stop("stopped")
            exit_ = await running.wait()
        finally:
            self._running = None
        await engine.sink.flush()
        outcome = classify(agent, exit_, parser, budget_error, stdout_file, output_file)
        outcome.n, outcome.session_id, outcome.reduced = n, parser.session_id, reduced
        continued = attempt_env.continued(state_agent.attempts, parser.resumed_session)
        for raw in (stdout_file, output_file):  # read now; kept in the store, masked
            raw.unlink(missing_ok=True)
        if outcome.ok:
            outcome.result = engine.session.masker.value(outcome.result)
        outcome.finished = AttemptFinished(
            stage=self.stage_id,
            agent=agent.id,
            attempt=n,
            status="succeeded" if outcome.ok else "failed",
            category=outcome.category,  # type: ignore[arg-type]
            exit_code=exit_.exit_code,
            duration_s=round(exit_.duration_s, 3),
            peak_rss_mb=round(exit_.peak_rss_mb, 1),
            cpu_s=round(exit_.cpu_s, 3),
            throttled_s=round(exit_.throttled_s, 3),
            cpu_limit=exit_.cpu_limit,
            error=outcome.error,
            tokens=parser.tokens,
            cost_usd=round(parser.cost_usd, 6),
            partial=outcome.partial,
            exhausted=outcome.exhausted,
            session_id=parser.session_id,
            resumed_session=parser.resumed_session,
            saved_tokens=continued.tokens if continued else 0,
            saved_cost_usd=continued.cost_usd if continued else 0.0,
            cache_key=cache or None,
            cost_estimated=parser.cost_estimated,
        )
        return outcome


def _find_agent(stage: Any, agent_id: str) -> AgentSpec:
    """An agent of the stage, extended agents included."""
    return stage.agent(agent_id)
