"""After a crash: attempts that were running when an engine died are stopped, if their process
group is still ours and alive (on a Dask cluster: found by their task key), and marked
interrupted so the loop runs them again."""

from __future__ import annotations

import asyncio

from engine.execution.executor import Executor, ProcessInfo, attempt_key
from engine.run.session import RunSession
from engine.state.events import AgentFinished, AttemptFinished, Payload


async def recover_interrupted(session: RunSession, executor: Executor) -> None:
    """Attempts that were running when an engine died are stopped (if still alive) and re-run."""
    payloads: list[Payload] = []
    for st in session.state.stages.values():
        for agent in st.agents.values():
            attempt = agent.current
            if agent.status != "running" or attempt is None or attempt.status != "running":
                continue
            if attempt.pid and attempt.pgid and attempt.create_time:
                key = attempt_key(session.run_id, st.id, agent.id, attempt.n)
                info = ProcessInfo(
                    attempt.pid, attempt.pgid, attempt.create_time, attempt.host, key
                )
                await asyncio.to_thread(executor.kill_orphan, info)
            payloads.append(
                AttemptFinished(
                    stage=st.id,
                    agent=agent.id,
                    attempt=attempt.n,
                    status="failed",
                    error="interrupted: the engine stopped while it ran",
                )
            )
            payloads.append(
                AgentFinished(stage=st.id, agent=agent.id, status="pending", reason="interrupted")
            )
    if payloads:
        await session.emit(*payloads)
