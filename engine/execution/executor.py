"""The seam between the runner and whatever executes agent attempts.

The runner knows nothing of processes: it hands an :class:`AttemptSpec` to an
:class:`Executor`, reads batches of output (each a list of
:class:`engine.execution.log_block.LogBlock`, lines joined in one text) from the returned
:class:`RunningAttempt`, and awaits its :class:`AttemptExit`. Local processes
implement it (``engine.execution.local_executor``), and so do tasks on a Dask cluster
(``engine.execution.dask_executor``, chosen per run; docs/distributed.md).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from engine.execution.log_block import LogBlock

ExitReason = Literal[
    "exited",  # the process ended by itself (any exit code or signal)
    "timeout",  # wall-clock `timeout_s` passed; the group was stopped
    "idle_timeout",  # no output for `idle_timeout_s`; the group was stopped
    "memory",  # resident memory of the process tree passed `memory_mb`
    "stopped",  # RunningAttempt.stop() was called (operator stop, budget, collect_timeout)
    "spawn_failed",  # could not start: not found, not executable, bad cwd
    "lost",  # the machine or worker process running it went away; how it ended is unknown
    "unreachable",  # the executor itself cannot be reached (a Dask scheduler that went away)
]

CpuLimit = Literal["cgroup v2", "cgroup v1", "signals"]
"""How an attempt was held to its ``cpu_percent``: by the kernel, with a CFS quota on a cgroup of
its own, or by pausing and resuming its process group (SIGSTOP/SIGCONT) where no cgroup CPU
controller is writable."""


@dataclass(frozen=True, slots=True)
class AttemptSpec:
    """Everything needed to start one attempt of one agent."""

    argv: tuple[str, ...]
    """The command, already substituted; with ``shell=True`` a single element run by ``/bin/sh -c``."""
    cwd: str
    env: Mapping[str, str]
    """The complete environment of the process (not merged with ours)."""
    shell: bool = False
    timeout_s: float | None = None
    idle_timeout_s: float | None = None
    memory_mb: int | None = None
    cpu_percent: int | None = None
    """At most this percent of the machine's CPUs (100: all of them, no limit) for the whole
    process tree, over time; the executor slows the attempt down to it (the local one with a
    cgroup's CPU quota where it can, else by pausing and resuming the process group)."""
    grace_s: float = 3.0
    """Time between SIGTERM and SIGKILL when the group is stopped."""
    max_line_chars: int = 65536
    """Longer lines are split into pieces of this size, all but the last flagged ``partial``."""
    stdout_tee: str | None = None
    """If set, every raw stdout byte is kept (for ``output: json``): in this file, or, when the
    executor kept it in memory, in :attr:`AttemptExit.stdout`."""
    sample_interval_s: float = 0.25
    """How often resident memory and CPU time of the process tree are sampled."""


@dataclass(frozen=True, slots=True)
class AttemptExit:
    reason: ExitReason
    exit_code: int | None
    """The exit status; negative for a signal (as asyncio reports it); None if it never ran."""
    duration_s: float
    peak_rss_mb: float
    cpu_s: float
    error: str | None = None
    """Human-readable cause for spawn_failed, memory, timeout, idle_timeout."""
    stdout: bytes | None = None
    """With ``stdout_tee``: the whole raw stdout when the executor kept it in memory (it is
    then not in the file); None when it is in the file."""
    throttled_s: float = 0.0
    """Time the attempt was held back to keep it to ``cpu_percent``: paused (signals), or
    throttled by the kernel (a cgroup's ``cpu.stat``, summed over the CPUs it ran on)."""
    cpu_limit: CpuLimit | None = None
    """How ``cpu_percent`` was enforced; None when the attempt had no CPU limit."""


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    """Identity of a started attempt, recorded so a later process can find and stop it."""

    pid: int
    pgid: int
    create_time: float
    host: str = field(default="")
    key: str = field(default="")
    """The attempt's name on an executor that names its work (a Dask task key, see
    :func:`attempt_key`); empty for the local executor, which finds a group by its pid."""


@dataclass(frozen=True, slots=True)
class Needs:
    """What one agent asks of the machine that runs it, checked before its stage starts."""

    agent: str
    memory_mb: int | None = None
    cpu_percent: int | None = None


def attempt_key(run_id: str, stage: str, agent: str, attempt: int) -> str:
    """The name an executor gives an attempt: the same for the engine that started it and for
    the one that resumes the run after a crash."""
    return f"phaseboard-{run_id}-{stage}-{agent}-{attempt}"


def spec_key(spec: AttemptSpec) -> str:
    """:func:`attempt_key` of an attempt, from the variables the runner gives every agent
    (``PHASEBOARD_RUN_ID``, ``_STAGE``, ``_AGENT``, ``_ATTEMPT``); empty without them."""
    env = spec.env
    parts = [env.get(f"PHASEBOARD_{n}", "") for n in ("RUN_ID", "STAGE", "AGENT", "ATTEMPT")]
    if not all(parts) or not parts[3].isdigit():
        return ""
    return attempt_key(parts[0], parts[1], parts[2], int(parts[3]))


class RunningAttempt(Protocol):
    info: ProcessInfo | None
    """None until started, and stays None if the spawn failed."""

    def lines(self) -> AsyncIterator[list[LogBlock]]:
        """Batches of output, blocks of lines in order, until both streams are closed and
        drained."""
        ...

    async def wait(self) -> AttemptExit:
        """Wait for the end of the attempt (after its output is drained)."""
        ...

    async def stop(self, reason: ExitReason = "stopped") -> None:
        """Stop the whole process group: SIGTERM, ``grace_s``, then SIGKILL."""
        ...


class Executor(Protocol):
    async def start(self, spec: AttemptSpec) -> RunningAttempt:
        """Start an attempt. Never raises for a command that cannot start: the attempt then
        yields no lines and its exit has reason ``spawn_failed``."""
        ...

    def kill_orphan(self, info: ProcessInfo) -> bool:
        """Stop a process group left by an earlier engine, if it is still the same process.

        Returns True when something was stopped. Used on resume after a crash; blocking, so
        called through ``asyncio.to_thread``.
        """
        ...

    async def prepare(self, needs: Sequence[Needs]) -> str | None:
        """Before a stage: why its agents cannot run here now (no machine big enough for one of
        them, the executor unreachable), as a sentence for the operator; None when they can."""
        ...

    async def close(self) -> None:
        """Let go of what the executor holds (a connection); attempts have all ended."""
        ...
