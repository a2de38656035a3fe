"""One agent of one stage: attempts, retries with backoff, reduced scope, failover to a backup.

The runner speaks to the executor interface only; everything it learns becomes
events. Categories and recovery follow INTERFACE.md section 3.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.events import AgentFinished, AgentMessage, AttemptFinished, AttemptStarted
from engine.executor import AttemptExit, AttemptSpec, Executor, LogLine
from engine.placeholders import build_argv, run_placeholders
from engine.results import Message, MessageParser, ResultError, check_result, extract_result
from engine.secrets import PieceMasker
from engine.workflow import AgentSpec

if TYPE_CHECKING:
    from engine.engine import Engine

MESSAGE_CONTENT_CAP = 4000
EX_DATAERR = 65
"""An agent that exits 65 says its answer was unusable: data_corruption, retried with feedback."""
EX_NOTFOUND = 127
"""As a shell says: something the agent needs is not installed (integration_failure)."""


@dataclass
class AttemptOutcome:
    ok: bool
    result: Any = None
    partial: bool = False
    category: str | None = None
    error: str | None = None
    feedback: str | None = None
    interrupted: bool = False
    finished: AttemptFinished | None = None
    """The attempt's closing event, not yet emitted: it goes in one commit with what follows."""

    def take_finished(self) -> list[AttemptFinished]:
        """The closing event for whoever emits it, once."""
        finished, self.finished = self.finished, None
        return [] if finished is None else [finished]


class AgentRunner:
    """Runs one agent to a final status, honouring an abort from the stage (collect_timeout)."""

    def __init__(
        self, engine: Engine, stage_id: str, agent: AgentSpec, *, inputs_file: Path
    ) -> None:
        self.engine = engine
        self.stage_id = stage_id
        self.agent = agent
        self.inputs_file = inputs_file
        self._running: Any = None
        self._abort: str | None = None

    async def abort(self, reason: str) -> None:
        """Stop the current attempt and run no more ('missing' or 'interrupted')."""
        self._abort = reason
        if self._running is not None:
            await self._running.stop("stopped")

    async def run(self, mode: str = "same") -> bool:
        stage = self.engine.workflow.stage(self.stage_id)
        if mode == "backup" and self.agent.backup:
            backup = _find_agent(stage, self.agent.backup)
            await self._finish(self.agent, "failed", None, reason=f"failed over to {backup.id}")
            return await self._run_one(backup, backup_of=self.agent.id, mode="same")
        ok = await self._run_one(self.agent, backup_of=None, mode=mode)
        if ok or self._abort or not self.agent.backup:
            return ok
        backup = _find_agent(stage, self.agent.backup)
        return await self._run_one(backup, backup_of=self.agent.id, mode="same")

    async def _run_one(self, agent: AgentSpec, *, backup_of: str | None, mode: str) -> bool:
        eff = self.engine.workflow.effective(agent)
        tries = 1 + (eff.retries or 0)
        feedback: str | None = None
        last: AttemptOutcome | None = None
        for i in range(tries):
            reduced = agent.reduced_scope is not None and (
                mode == "reduced" or (i > 0 and i == tries - 1)
            )
            last = await self._attempt(
                agent, backup_of=backup_of, reduced=reduced, feedback=feedback
            )
            if last.ok:
                await self._finish(
                    agent, "succeeded", last.result, backup_of=backup_of, attempt=last
                )
                return True
            if self._abort or last.interrupted:
                break
            if last.category == "integration_failure":
                break
            if closing := last.take_finished():
                await self.engine.emit(*closing)  # alone: a retry follows
            feedback = last.feedback
            if i < tries - 1:
                delay = (eff.retry_backoff or 0) * (2**i)
                if delay > 0 and not await self.engine.wait_or_stop(delay):
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
        await self.engine.emit(
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
            self.engine.reports.queue_agent_result(self.stage_id, agent.id, result)

    # -- one attempt -----------------------------------------------------------------------

    async def _attempt(
        self, agent: AgentSpec, *, backup_of: str | None, reduced: bool, feedback: str | None
    ) -> AttemptOutcome:
        engine = self.engine
        state_agent = engine.state.stages[self.stage_id].agents[agent.id]
        n = len(state_agent.attempts) + 1
        eff = engine.workflow.effective(agent)
        attempt_dir = engine.attempt_dir(self.stage_id)
        output_file = attempt_dir / f"{agent.id}.{n}.result.json"
        stdout_file = attempt_dir / f"{agent.id}.{n}.stdout"
        for stale in (output_file, stdout_file):
            stale.unlink(missing_ok=True)
        values = run_placeholders(engine.state)
        argv = build_argv(agent.run, values, shell=agent.shell)
        env = dict(os.environ)
        env.update(agent.env)
        env.update(
            {
                "PHASEBOARD_RUN_ID": engine.run_id,
                "PHASEBOARD_STAGE": self.stage_id,
                "PHASEBOARD_AGENT": agent.id,
                "PHASEBOARD_ATTEMPT": str(n),
                "PHASEBOARD_WORKSPACE": str(engine.workspace),
                "PHASEBOARD_INPUTS": str(self.inputs_file),
                "PHASEBOARD_OUTPUT": str(output_file),
                "PHASEBOARD_RUN_DIR": str(engine.run_dir),
            }
        )
        env.pop("PHASEBOARD_SCOPE", None)
        env.pop("PHASEBOARD_FEEDBACK", None)
        if reduced and agent.reduced_scope is not None:
            env["PHASEBOARD_SCOPE"] = json.dumps(agent.reduced_scope)
        if feedback:
            env["PHASEBOARD_FEEDBACK"] = feedback
        spec = AttemptSpec(
            argv=tuple(argv),
            cwd=str(engine.workspace),
            env=env,
            shell=agent.shell,
            timeout_s=eff.timeout,
            idle_timeout_s=eff.idle_timeout,
            memory_mb=eff.memory_mb,
            cpu_percent=eff.cpu_percent,
            grace_s=eff.grace if eff.grace is not None else 3.0,
            stdout_tee=str(stdout_file) if agent.output == "json" else None,
        )
        executor: Executor = engine.executor
        running = await executor.start(spec)
        self._running = running
        info = running.info
        await engine.emit(
            AttemptStarted(
                stage=self.stage_id,
                agent=agent.id,
                attempt=n,
                scope="reduced" if reduced else "full",
                backup_of=backup_of,
                argv=[engine.masker.text(a) for a in argv],
                pid=info.pid if info else None,
                pgid=info.pgid if info else None,
                create_time=info.create_time if info else None,
                host=info.host if info else "",
            )
        )
        parser = MessageParser()
        budget_error: str | None = None
        try:
            maskers = (
                {s: PieceMasker(engine.masker) for s in ("stdout", "stderr")}
                if engine.masker
                else None
            )
            parse = agent.output == "messages"
            key = (self.stage_id, agent.id, n)
            async for batch in running.lines():
                if maskers is not None:
                    batch = _masked(batch, maskers)
                if parse:
                    for message in _messages(batch, parser):
                        await engine.emit(
                            AgentMessage(
                                stage=self.stage_id,
                                agent=agent.id,
                                attempt=n,
                                message_type=message.message_type,
                                priority=message.priority,
                                content=_cap(message.content),
                            )
                        )
                await engine.sink.add(key, batch)
                if budget_error is None:
                    budget_error = _over_budget(agent, parser)
                    if budget_error is not None:
                        await running.stop("stopped")
            exit_ = await running.wait()
        finally:
            self._running = None
        await engine.sink.flush()
        outcome = self._classify(agent, exit_, parser, budget_error, stdout_file, output_file)
        for raw in (stdout_file, output_file):  # read now; kept in the store, masked
            raw.unlink(missing_ok=True)
        if outcome.ok:
            outcome.result = engine.masker.value(outcome.result)
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
        )
        return outcome

    def _classify(
        self,
        agent: AgentSpec,
        exit_: AttemptExit,
        parser: MessageParser,
        budget_error: str | None,
        stdout_file: Path,
        output_file: Path,
    ) -> AttemptOutcome:
        if budget_error is not None:
            return AttemptOutcome(False, category="resource_exhausted", error=budget_error)
        if exit_.reason == "spawn_failed":
            return AttemptOutcome(False, category="integration_failure", error=exit_.error)
        if exit_.reason in ("timeout", "idle_timeout"):
            return AttemptOutcome(False, category="timeout", error=exit_.error or exit_.reason)
        if exit_.reason == "memory":
            return AttemptOutcome(False, category="resource_exhausted", error=exit_.error)
        if exit_.reason == "stopped":
            return AttemptOutcome(False, error="stopped", interrupted=True)
        if exit_.exit_code == EX_DATAERR:
            why = parser.last_error or "the agent reported that its result is unusable (exit 65)"
            return AttemptOutcome(False, category="data_corruption", error=why, feedback=why)
        if exit_.exit_code == EX_NOTFOUND:
            return AttemptOutcome(
                False,
                category="integration_failure",
                error=parser.last_error or "a command the agent needs was not found (exit 127)",
            )
        if exit_.exit_code != 0:
            code = exit_.exit_code
            what = (
                f"killed by signal {-code}"
                if code is not None and code < 0
                else f"exit code {code}"
            )
            return AttemptOutcome(False, category="agent_failure", error=what)
        try:
            result = extract_result(agent.output, parser, stdout_file, output_file, exit_.stdout)
            result, partial = check_result(result, agent.result_schema, agent.accept_partial)
        except ResultError as exc:
            return AttemptOutcome(
                False, category="data_corruption", error=str(exc), feedback=str(exc)
            )
        return AttemptOutcome(True, result=result, partial=partial)


def _find_agent(stage: Any, agent_id: str) -> AgentSpec:
    """An agent of the stage, extended agents included."""
    return stage.agent(agent_id)


def _masked(batch: list[LogLine], maskers: dict[str, PieceMasker]) -> list[LogLine]:
    """The lines with secrets masked; a piece held back whole (to be joined to the next one,
    so a secret cut in two is still seen) is left out."""
    out: list[LogLine] = []
    for stream, text, ts, partial in batch:
        text = maskers[stream].piece(text, partial)
        if text or not partial:
            out.append((stream, text, ts, partial))
    return out


def _messages(batch: list[LogLine], parser: MessageParser) -> list[Message]:
    """Messages (other than the result) in the stdout lines of a batch.

    Only a line that may be JSON goes to the parser: one that starts with ``{`` or a blank, a
    piece of a long line, or the rest of one being assembled.
    """
    found: list[Message] = []
    pending = parser.pending
    for stream, text, _, partial in batch:
        if not (partial or pending or text[:1] in "{ \t") or stream != "stdout":
            continue
        message = parser.feed(_unshared(text) if partial else text, partial)
        pending = parser.pending
        if message is not None and message.message_type != "result":
            found.append(message)
    return found


def _unshared(text: str) -> str:
    """A copy of a piece the parser may keep while it assembles a long line.

    Binding a string in SQLite caches its UTF-8 form inside the string object for as long as
    it lives: the piece stored by the log sink would keep that second copy while the parser
    holds it (up to its cap of characters, 1 to 3 bytes each, on top of the text).
    """
    return "".join((text, ""))


def _over_budget(agent: AgentSpec, parser: MessageParser) -> str | None:
    budget = agent.budget
    if budget is None:
        return None
    if budget.tokens is not None and parser.tokens > budget.tokens:
        return f"token budget exceeded: {parser.tokens} > {budget.tokens}"
    if budget.cost_usd is not None and parser.cost_usd > budget.cost_usd:
        return f"cost budget exceeded: ${parser.cost_usd:.4f} > ${budget.cost_usd:.4f}"
    return None


def _cap(content: Any) -> Any:
    text = content if isinstance(content, str) else json.dumps(content, default=str)
    if len(text) <= MESSAGE_CONTENT_CAP:
        return content
    return text[:MESSAGE_CONTENT_CAP] + f"… ({len(text) - MESSAGE_CONTENT_CAP} more chars)"
