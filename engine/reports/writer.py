"""The files of a run folder (docs/cli.md), written from the store and the state.

The engine calls the ``write_*`` methods as the run goes; ``write_all`` rebuilds every file from
the database alone, for ``phaseboard report`` and after a crash. Documents are built on the event
loop, where the live state is folded, and only serialising and writing happen in a worker thread.
Every file is replaced atomically.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

from engine.consolidation.merge import Conflict, Consolidation
from engine.reports.final_report import final_report, render_continuity, render_final_markdown
from engine.reports.synthesis_markdown import render_consolidation_markdown
from engine.state.records import StageState
from engine.state.run_state import RunState
from engine.store.database import Store
from engine.support.atomic import AtomicFile, to_json, write_text_atomic

CONTINUITY = "SESSION_CONTINUITY.md"
FINAL_MD = "final_report.md"
FINAL_JSON = "final_report.json"


def agent_result_path(root: Path, stage_id: str, agent_id: str) -> Path:
    return root / stage_id / f"{agent_id}.json"


def agent_log_path(root: Path, stage_id: str, agent_id: str) -> Path:
    return root / stage_id / f"{agent_id}.log"


class ReportWriter:
    """Writes a run's files into its run folder (or another folder, for ``report --out``)."""

    def __init__(self, store: Store, state: RunState, run_dir: Path) -> None:
        self.store = store
        self.state = state
        """Live: the engine keeps folding events into it; it is read at each write."""
        self.run_dir = Path(run_dir)
        self._written: dict[Path, bytes] = {}
        """Digest of each agent result file this writer wrote: the stage's end rewrites only
        those that changed or vanished (a stage of hundreds of agents would create as many
        files again)."""
        self._queued: list[tuple[Path, str]] = []
        self._result_writer: asyncio.Task[None] | None = None

    # -- as the run goes ------------------------------------------------------------------

    def queue_agent_result(self, stage_id: str, agent_id: str, result: Any) -> Path | None:
        """Write an agent's result file soon, in a worker thread, without waiting for it.

        Creating a file is not free (up to 0.5 ms of system time on a filesystem without a
        journal, docs/performance.md): on the agent's way out it held up the next agent of its
        slot. The store already
        has the result; the stage's files (``write_stage``), the continuity file and the final
        report wait for every queued result first, and ``flush_results`` at the end of a drive.
        """
        if not self._run_dir_present():
            return None
        path = agent_result_path(self.run_dir, stage_id, agent_id)
        text = to_json(result)
        self._written[path] = _digest(text)
        self._queued.append((path, text))
        if self._result_writer is None or self._result_writer.done():
            self._result_writer = asyncio.create_task(self._write_queued(), name="result-files")
        return path

    async def flush_results(self) -> None:
        """Wait until every queued result file is written (an error is raised here)."""
        while self._result_writer is not None:
            writer = self._result_writer
            await writer
            if writer is self._result_writer:
                self._result_writer = None

    async def _write_queued(self) -> None:
        while self._queued:
            batch, self._queued = self._queued, []
            await asyncio.to_thread(_write_texts, batch)

    async def write_stage(self, stage_id: str) -> list[Path]:
        await self.flush_results()
        if not self._run_dir_present():
            return []
        return await self._write_stage(stage_id, self.run_dir)

    async def write_continuity(self) -> Path | None:
        await self.flush_results()
        if not self._run_dir_present():
            return None
        return await self._write_continuity(self.run_dir)

    async def write_final(self) -> list[Path]:
        await self.flush_results()
        if not self._run_dir_present():
            return []
        return await self._write_final(self.run_dir)

    def _run_dir_present(self) -> bool:
        """Files written as the run goes never recreate a run folder (or workspace) that
        vanished: the store holds everything, and `phaseboard report` rebuilds them."""
        return self.run_dir.is_dir() or self.run_dir.parent.is_dir()

    # -- rebuilding -----------------------------------------------------------------------

    async def write_all(
        self, out_dir: Path | None = None, *, include_logs: bool = True
    ) -> list[Path]:
        """Every file of the run folder, from the database and the state alone."""
        root = Path(out_dir) if out_dir is not None else self.run_dir
        written: list[Path] = []
        for stage_id in list(self.state.stages):
            written += await self._write_stage(stage_id, root)
        if include_logs:
            written += await self.write_logs(root)
        written.append(await self._write_continuity(root))
        written += await self._write_final(root)
        return written

    async def write_logs(self, root: Path | None = None) -> list[Path]:
        """Each agent's full log, streamed from the store a page at a time."""
        root = Path(root) if root is not None else self.run_dir
        written = []
        for st in list(self.state.stages.values()):
            for agent in list(st.agents.values()):
                if agent.attempts:
                    written.append(await self.write_agent_log(st.id, agent.id, root))
        return written

    async def write_agent_log(self, stage_id: str, agent_id: str, root: Path | None = None) -> Path:
        """``STAGE/AGENT.log``: attempts under a ``--- attempt N ---`` line each; the pieces of
        a line too long to store in one row are joined back without a newline."""
        root = Path(root) if root is not None else self.run_dir
        path = agent_log_path(root, stage_id, agent_id)
        agent = self.state.stages[stage_id].agents[agent_id]
        attempts = sorted({a.n for a in agent.attempts})
        out = await asyncio.to_thread(AtomicFile, path)
        try:
            for n in attempts:
                out.write(f"--- attempt {n} ---\n")
                await self._copy_attempt_log(out, stage_id, agent_id, n)
            await asyncio.to_thread(out.commit)
        except BaseException:
            out.abort()
            raise
        return path

    async def _copy_attempt_log(self, out: AtomicFile, stage: str, agent: str, n: int) -> None:
        """One attempt's lines, a chunk at a time."""
        open_line = False
        async for text, _ in self.store.printed_log(
            self.state.run_id, stage, agent, n, clean=False
        ):
            await asyncio.to_thread(out.write, text)
            open_line = not text.endswith("\n")
        if open_line:
            out.write("\n")

    # -- the pieces -----------------------------------------------------------------------

    async def _write_stage(self, stage_id: str, root: Path) -> list[Path]:
        st = self.state.stages[stage_id]
        jobs: list[tuple[Path, Callable[[], str]]] = []
        unchanged: dict[Path, bytes] = {}
        for agent in st.agents.values():
            if agent.status == "succeeded" and agent.result is not None:
                path = agent_result_path(root, st.id, agent.id)
                jobs.append((path, partial(to_json, agent.result)))
                if path in self._written:
                    unchanged[path] = self._written[path]
        if st.kind == "consolidation" and st.document is not None:
            render = partial(render_consolidation_markdown, self._consolidation(st), title=st.title)
            jobs.append((root / f"{st.id}_synthesis.json", partial(to_json, st.document)))
            jobs.append((root / f"{st.id}_consolidated.md", render))
        elif st.kind == "checkpoint" and st.passed is not None:
            jobs.append((root / f"{st.id}_validation.json", partial(to_json, self._validation(st))))
        await asyncio.to_thread(_write_many, jobs, unchanged)
        return [path for path, _ in jobs]

    def _consolidation(self, st: StageState) -> Consolidation:
        doc = st.document or {}
        body = doc.get("synthesis") or {}
        states = {c.id: c for c in self.state.live_conflicts() if c.stage == st.id}
        order: list[str] = [
            c["id"] for c in body.get("conflicts") or [] if isinstance(c, dict) and "id" in c
        ]
        order += [cid for cid in states if cid not in order]
        conflicts = [
            Conflict(
                id=c.id,
                stage=c.stage,
                path=c.path,
                severity=c.severity,  # type: ignore[arg-type]
                candidates=c.candidates,
                reason=c.reason,
                evidence=c.evidence,
                resolved=c.resolved,
                resolution=c.resolution,
            )
            for cid in order
            if (c := states.get(cid)) is not None
        ]
        findings = body.get("findings")
        risks = (body.get("risk_assessment") or {}).get("risks")
        dependencies = body.get("dependencies")
        return Consolidation(
            synthesis=doc,
            merged_findings=findings if isinstance(findings, dict) else {},
            conflicts=conflicts,
            risks=risks if isinstance(risks, list) else [],
            dependencies=dependencies if isinstance(dependencies, list) else [],
        )

    def _validation(self, st: StageState) -> dict[str, Any]:
        spec = self.state.workflow.stage(st.id) if self.state.workflow else None
        mode = self.state.criteria_override or getattr(spec, "mode", "strict")
        return {
            "stage": st.id,
            "mode": mode,
            "passed": st.passed,
            "criteria": st.criteria,
            "decision": st.decision,
            "accepted": st.accepted,
            "status": st.status,
        }

    async def _write_continuity(self, root: Path) -> Path:
        """Written after every stage and operator action; a call with nothing new since the
        last one (the end of a drive, right after the run's last event) skips the write."""
        path = root / CONTINUITY
        job = (path, partial(render_continuity, self.state))
        unchanged = {path: self._written[path]} if path in self._written else None
        digests = await asyncio.to_thread(_write_many, [job], unchanged)
        self._written[path] = digests[path]
        return path

    async def _write_final(self, root: Path) -> list[Path]:
        report = final_report(self.state)
        jobs: list[tuple[Path, Callable[[], str]]] = [
            (root / FINAL_JSON, partial(to_json, report)),
            (root / FINAL_MD, partial(render_final_markdown, report)),
        ]
        await asyncio.to_thread(_write_many, jobs)
        return [path for path, _ in jobs]


def _write_texts(files: list[tuple[Path, str]]) -> None:
    for path, text in files:
        write_text_atomic(path, text)


def _write_many(
    jobs: list[tuple[Path, Callable[[], str]]], unchanged: Mapping[Path, bytes] | None = None
) -> dict[Path, bytes]:
    """Write each file, except one of ``unchanged`` (path -> digest of the text this writer
    last wrote there) that still exists and would get the same text. Returns each file's
    digest."""
    digests: dict[Path, bytes] = {}
    for path, produce in jobs:
        text = produce()
        digests[path] = digest = _digest(text)
        if unchanged and unchanged.get(path) == digest and path.exists():
            continue
        write_text_atomic(path, text)
    return digests


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
