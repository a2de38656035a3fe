"""The stage runner: what the engine does for each kind of stage (agents, consolidation,
checkpoint). The engine hands it a :class:`~engine.run.context.RunContext` (the run's session,
the report writer, the stop flag, the agent runners at work) and asks it to run one stage."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from engine.checkpoints.evaluate import accepted_verdict, evaluate_checkpoint, expression_context
from engine.consolidation.merge import apply_decisions, apply_resolution, consolidate
from engine.execution.executor import Needs
from engine.reports.next_actions import failed_agents_before, next_actions
from engine.run import rollback as rollback_points
from engine.run.agent_runner import AgentRunner
from engine.run.context import RunContext
from engine.run.inputs import inputs_document
from engine.state.events import (
    AgentFinished,
    AgentMessage,
    AgentReset,
    Consolidated,
    StageFinished,
    StageStarted,
)
from engine.support.atomic import write_json_atomic
from engine.workflow.expressions import ExpressionError, evaluate
from engine.workflow.models import AgentsStage, CheckpointStage, ConsolidationStage


class StageRunner:
    """Runs one stage of each kind; returns ``(kind, reason, awaiting)`` when the loop must act."""

    def __init__(self, ctx: RunContext) -> None:
        self.ctx = ctx

    async def _write_inputs(self, stage_id: str, extra: dict[str, Any] | None = None) -> Path:
        path = self.ctx.run_dir / "inputs" / f"{stage_id}.json"
        document = inputs_document(self.ctx.state, extra)
        await asyncio.to_thread(write_json_atomic, path, document)
        return path

    async def _executor_problem(self, agents: list[Any]) -> str | None:
        """Why the executor cannot run these agents now (a Dask cluster unreachable, without a
        worker big enough for one of them, or not sharing the workspace), or None."""
        needs = []
        for agent in agents:
            eff = self.ctx.workflow.effective(agent)
            needs.append(Needs(agent.id, eff.memory_mb, eff.cpu_percent))
        return await self.ctx.executor.prepare(needs)

    async def run_agents(self, spec: AgentsStage) -> tuple[str, str, list[str]] | None:
        st = self.ctx.state.stages[spec.id]
        extra = list(spec.extended.agents) if spec.extended is not None else []
        if problem := await self._executor_problem([*spec.agents, *extra]):
            return "pause", problem, []
        await rollback_points.save_point(self.ctx.session, spec.id)
        await self.ctx.emit(StageStarted(stage=spec.id))
        inputs_file = await self._write_inputs(spec.id)
        agents = [a for a in spec.agents if not a.standby]
        if spec.extended is not None:
            try:
                extend = evaluate(spec.extended.when, expression_context(self.ctx.state)) is True
            except ExpressionError as exc:
                extend = False
                await self.ctx.emit(
                    AgentMessage(
                        stage=spec.id,
                        agent=agents[0].id,
                        attempt=0,
                        message_type="warning",
                        content=f"extended.when could not be evaluated: {exc.message}",
                    )
                )
            if extend:
                agents += list(spec.extended.agents)
        backed = st.backed_up()
        todo = [a for a in agents if st.agents[a.id].status != "succeeded" and a.id not in backed]
        start_point = self.ctx.state.rollback_points[-1]
        if spec.mode == "parallel":
            await self._run_parallel(spec, todo, inputs_file)
        else:
            for index, agent in enumerate(todo):
                if index > 0:
                    await rollback_points.save_point(self.ctx.session, spec.id, agent.id)
                ok = await self._run_agent(spec.id, agent, inputs_file)
                if not ok or self.ctx.stop.is_set():
                    break
        if self.ctx.stop.is_set() or any(
            st.agents[a.id].status in ("pending", "running")
            and st.agents[a.id].reason == "interrupted"
            for a in agents
        ):
            return None
        if self.ctx.vanished():
            return None  # the loop fails the run with the reason
        diff = await rollback_points.workspace_changes(self.ctx.session, start_point)
        ok = all(st.covered(st.agents[a.id]) for a in agents)
        changes = {"added": diff.added, "modified": diff.modified, "deleted": diff.deleted}
        await self.ctx.emit(
            StageFinished(
                stage=spec.id,
                status="succeeded" if ok else "failed",
                reason="" if ok else f"{st.failed} of {st.total} agents did not succeed",
                changes={k: v for k, v in changes.items() if v},
            )
        )
        await self.ctx.reports.write_stage(spec.id)
        return None

    async def _run_agent(self, stage_id: str, agent: Any, inputs_file: Path) -> bool:
        runner = AgentRunner(self.ctx, stage_id, agent, inputs_file=inputs_file)
        key = (stage_id, agent.id)
        self.ctx.runners[key] = runner
        try:
            mode = self.ctx.state.stages[stage_id].agents[agent.id].retry_mode
            return await runner.run(mode)
        finally:
            self.ctx.runners.pop(key, None)

    async def _run_parallel(self, spec: AgentsStage, todo: list[Any], inputs_file: Path) -> None:
        limit = asyncio.Semaphore(spec.max_parallel or max(1, len(todo)))
        collected = asyncio.Event()
        """Set at the collect_timeout: an agent still waiting for a slot then never starts."""

        async def one(agent: Any) -> bool:
            async with limit:
                if self.ctx.stop.is_set() or collected.is_set():
                    return False
                return await self._run_agent(spec.id, agent, inputs_file)

        tasks = [asyncio.create_task(one(a), name=f"{spec.id}.{a.id}") for a in todo]
        if not tasks:
            return
        done, pending = await asyncio.wait(tasks, timeout=spec.collect_timeout)
        if pending:
            collected.set()
            for agent in todo:
                runner = self.ctx.runners.get((spec.id, agent.id))
                if runner is not None:
                    await runner.abort("missing")
            await asyncio.wait(pending)
            for agent in todo:
                if self.ctx.state.stages[spec.id].agents[agent.id].status == "pending":
                    await self.ctx.emit(
                        AgentFinished(
                            stage=spec.id,
                            agent=agent.id,
                            status="missing",
                            reason="collect_timeout",
                        )
                    )
        for task in done | pending:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]

    async def run_consolidation(
        self, spec: ConsolidationStage
    ) -> tuple[str, str, list[str]] | None:
        synthesizer = [spec.synthesizer] if spec.synthesizer is not None else []
        if synthesizer and (problem := await self._executor_problem(synthesizer)):
            return "pause", problem, []
        await rollback_points.save_point(self.ctx.session, spec.id)
        await self.ctx.emit(StageStarted(stage=spec.id))
        inputs: dict[str, Any] = {}
        order: list[str] = []
        alias: dict[str, str] = {}
        for sid in spec.inputs:
            st = self.ctx.state.stages[sid]
            for agent in st.primaries():
                key = f"{sid}.{agent.id}"
                order.append(key)
                if agent.status == "succeeded":
                    inputs[key] = agent.result
                    continue
                backup = next(
                    (
                        b
                        for b in st.agents.values()
                        if b.backup_of == agent.id and b.status == "succeeded"
                    ),
                    None,
                )
                if backup is not None:
                    bkey = f"{sid}.{backup.id}"
                    order[-1] = bkey
                    inputs[bkey] = backup.result
                    alias[agent.id] = backup.id
                else:
                    inputs[key] = None
        sections = {name: alias.get(agent, agent) for name, agent in spec.sections.items()}
        from engine.run.session import now_iso

        result = consolidate(
            spec.id,
            inputs,
            input_order=order,
            sections=sections or None,
            severity_rules=[(r.path, r.severity) for r in spec.conflict_severity],
            compare_rules=[(r.path, r.rule, r.tolerance) for r in spec.compare],
            timestamp=now_iso(),
        )
        for conflict in result.conflicts:
            old = self.ctx.state.conflicts.get(conflict.id)
            if old is not None and old.resolved and not old.rolled_back and old.resolution:
                result = apply_resolution(result, conflict.id, old.resolution.get("value"))
        ok = True
        if spec.synthesizer is not None:
            inputs_file = await self._write_inputs(spec.id, {"synthesis": result.synthesis})
            ok = await self._run_agent(spec.id, spec.synthesizer, inputs_file)
            if self.ctx.stop.is_set():
                return None
            synth = self.ctx.state.stages[spec.id].agents[spec.synthesizer.id]
            if ok and isinstance(synth.result, dict):
                decisions = synth.result.get("decisions", synth.result)
                if isinstance(decisions, dict):
                    result = apply_decisions(result, decisions)
        conflicts = []
        for conflict in result.conflicts:
            conflicts.append(
                conflict.model_dump(
                    mode="json",
                    include={
                        "id",
                        "stage",
                        "path",
                        "severity",
                        "candidates",
                        "rule",
                        "reason",
                        "evidence",
                    },
                )
            )
        await self.ctx.emit(
            Consolidated(stage=spec.id, document=result.synthesis, conflicts=conflicts)
        )
        # resolutions recorded earlier stay resolved: reapply their merged value to the new document
        await self.ctx.emit(
            StageFinished(
                stage=spec.id,
                status="succeeded" if ok else "failed",
                reason="" if ok else "the synthesizer failed",
            )
        )
        await self.ctx.reports.write_stage(spec.id)
        return None

    async def run_checkpoint(self, spec: CheckpointStage) -> tuple[str, str, list[str]] | None:
        st = self.ctx.state.stages[spec.id]
        if st.status != "failed":
            await rollback_points.save_point(self.ctx.session, spec.id)
            await self.ctx.emit(StageStarted(stage=spec.id))
        evaluation = evaluate_checkpoint(spec, self.ctx.state, self.ctx.state.criteria_override)
        await self.ctx.emit(evaluation)
        accepted = st.accepted is not None
        if evaluation.passed or accepted:
            await self.ctx.emit(StageFinished(stage=spec.id, status="succeeded"))
            await self.ctx.reports.write_stage(spec.id)
            verdict = accepted_verdict(evaluation.decision, accepted and not evaluation.passed)
            if verdict == "BLOCK":
                return ("block", "decision BLOCK", [])
            return None
        failed = [c for c in evaluation.criteria if not c["passed"]]
        reason = f"checkpoint {spec.id} failed: " + ", ".join(c["id"] for c in failed)
        for action in spec.on_failure:
            if action == "retry_failed" and not st.retry_used:
                resets = failed_agents_before(self.ctx.state, spec.id)
                if resets:
                    await self.ctx.emit(
                        *[
                            AgentReset(stage=sid, agent=aid, checkpoint=spec.id)
                            for sid, aid in resets
                        ]
                    )
                    return None
            elif action in ("manual_resolution", "escalate"):
                await self.ctx.emit(StageFinished(stage=spec.id, status="failed", reason=reason))
                await self.ctx.reports.write_stage(spec.id)
                prefix = "escalated: " if action == "escalate" else ""
                return ("pause", prefix + reason, next_actions(self.ctx.state, pausing=True))
        await self.ctx.emit(StageFinished(stage=spec.id, status="failed", reason=reason))
        await self.ctx.reports.write_stage(spec.id)
        return ("fail", reason, [])
