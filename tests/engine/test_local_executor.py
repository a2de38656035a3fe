"""LocalExecutor against real processes (the agents in tests/agents/proc_*.py)."""

from __future__ import annotations

import asyncio
import os
import resource
import select
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest

from engine.execution import attempt_sampler, process_tree
from engine.execution.attempt_output import MAX_PENDING_LINES
from engine.execution.executor import AttemptExit, AttemptSpec, ProcessInfo
from engine.execution.local_executor import LocalAttempt, LocalExecutor
from engine.execution.stdout_tee import TEE_MEMORY_BYTES
from tests.helpers import Line, block_lines

AGENTS = Path(__file__).parents[1] / "agents"
BOUND_S = 10.0
ENV = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}


def make_spec(tmp_path: Path, agent: str, *args: str, **options: object) -> AttemptSpec:
    defaults: dict[str, object] = {"grace_s": 0.5, "sample_interval_s": 0.05}
    return AttemptSpec(
        argv=(sys.executable, str(AGENTS / agent), *args),
        cwd=str(tmp_path),
        env=ENV,
        **(defaults | options),  # type: ignore[arg-type]
    )


class Collector:
    """Reads an attempt's lines in the background so tests can wait for a given output."""

    def __init__(self, attempt: LocalAttempt) -> None:
        self.lines: list[Line] = []
        self.batches = 0
        self._changed = asyncio.Event()
        self.task = asyncio.create_task(self._read(attempt))

    async def _read(self, attempt: LocalAttempt) -> None:
        try:
            async for batch in attempt.lines():
                assert batch, "empty batch"
                self.lines.extend(block_lines(batch))
                self.batches += 1
                self._changed.set()
        finally:
            self._changed.set()

    def texts(self, stream: str | None = None) -> list[str]:
        return [text for s, text, _, _ in self.lines if stream in (None, s)]

    async def until(self, condition: Callable[[list[str]], bool]) -> None:
        async with asyncio.timeout(BOUND_S):
            while True:
                self._changed.clear()
                if condition(self.texts()):
                    return
                if self.task.done():
                    raise AssertionError(f"output ended first: {self.texts()[-5:]}")
                await self._changed.wait()

    async def has(self, prefix: str) -> str:
        await self.until(lambda texts: any(t.startswith(prefix) for t in texts))
        return next(t for t in self.texts() if t.startswith(prefix))


async def finish(attempt: LocalAttempt, collector: Collector) -> AttemptExit:
    async with asyncio.timeout(BOUND_S):
        await collector.task
        return await attempt.wait()


async def run(spec: AttemptSpec) -> tuple[Collector, AttemptExit, LocalAttempt]:
    attempt = await LocalExecutor().start(spec)
    collector = Collector(attempt)
    return collector, await finish(attempt, collector), attempt


def group_gone(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return True
    return False


async def test_success_keeps_each_stream_in_order(tmp_path: Path) -> None:
    before = time.time()
    collector, result, attempt = await run(make_spec(tmp_path, "proc_exit.py", "0"))
    assert collector.texts("stdout") == [f"out-{i}" for i in range(5)]
    assert collector.texts("stderr") == [f"err-{i}" for i in range(5)]
    assert not any(partial for _, _, _, partial in collector.lines)
    assert all(before <= ts <= time.time() for _, _, ts, _ in collector.lines)
    assert result.reason == "exited" and result.exit_code == 0 and result.error is None
    assert result.duration_s > 0
    info = attempt.info
    assert info is not None and info.pid == info.pgid
    assert info.host and abs(info.create_time - before) < 2
    assert group_gone(info.pgid)


async def test_nonzero_exit_code(tmp_path: Path) -> None:
    _, result, _ = await run(make_spec(tmp_path, "proc_exit.py", "3"))
    assert (result.reason, result.exit_code) == ("exited", 3)


async def test_killed_by_signal(tmp_path: Path) -> None:
    collector, result, _ = await run(make_spec(tmp_path, "proc_exit.py", "-9"))
    assert (result.reason, result.exit_code) == ("exited", -9)
    assert len(collector.lines) == 10


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("not_found", "command not found: no-such-command-phaseboard"),
        ("not_executable", "permission denied: ./script.sh"),
        ("missing_cwd", "working directory does not exist: {tmp}/missing"),
        ("cwd_is_file", "working directory is not a directory: {tmp}/script.sh"),
    ],
)
async def test_spawn_failures(tmp_path: Path, case: str, message: str) -> None:
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\necho hi\n")
    argv, cwd = {
        "not_found": (("no-such-command-phaseboard",), tmp_path),
        "not_executable": (("./script.sh",), tmp_path),
        "missing_cwd": (("/bin/echo",), tmp_path / "missing"),
        "cwd_is_file": (("/bin/echo",), script),
    }[case]
    attempt = await LocalExecutor().start(AttemptSpec(argv=argv, cwd=str(cwd), env=ENV))
    assert attempt.info is None
    assert [batch async for batch in attempt.lines()] == []
    result = await asyncio.wait_for(attempt.wait(), BOUND_S)
    assert result == AttemptExit("spawn_failed", None, 0.0, 0.0, 0.0, message.format(tmp=tmp_path))
    await attempt.stop()
    assert (await attempt.wait()).reason == "spawn_failed"


async def test_shell_command_gets_exactly_the_given_env_and_cwd(tmp_path: Path) -> None:
    command = "echo $FOO; echo ${HOME-unset}; pwd; echo oops >&2; exit 4"
    spec = AttemptSpec(argv=(command,), cwd=str(tmp_path), env=ENV | {"FOO": "bar baz"}, shell=True)
    collector, result, _ = await run(spec)
    assert collector.texts("stdout") == ["bar baz", "unset", str(tmp_path)]
    assert collector.texts("stderr") == ["oops"]
    assert (result.reason, result.exit_code) == ("exited", 4)


async def test_invalid_utf8_control_characters_and_nul_survive(tmp_path: Path) -> None:
    spec = AttemptSpec(
        argv=(r"printf 'a\000b\377c\n\033[31mred\r\n'",), cwd=str(tmp_path), env=ENV, shell=True
    )
    collector, result, _ = await run(spec)
    assert collector.texts() == ["a\x00b\ufffdc", "\x1b[31mred"]
    assert result.exit_code == 0


async def test_timeout_stops_the_group(tmp_path: Path) -> None:
    collector, result, attempt = await run(make_spec(tmp_path, "proc_hang.py", timeout_s=0.3))
    assert collector.texts() == ["ready"]
    assert result.reason == "timeout" and result.exit_code == -15
    assert result.error == "timed out after 0.3 s"
    assert 0.3 <= result.duration_s < 3
    assert attempt.info is not None and group_gone(attempt.info.pgid)


async def test_idle_timeout_stops_a_silent_process(tmp_path: Path) -> None:
    _, result, _ = await run(make_spec(tmp_path, "proc_silent.py", idle_timeout_s=0.3))
    assert result.reason == "idle_timeout" and result.exit_code == -15
    assert result.error == "no output for 0.3 s"


async def test_regular_output_keeps_idle_timeout_away(tmp_path: Path) -> None:
    command = "for i in 1 2 3 4 5 6; do echo $i; sleep 0.1; done"
    spec = AttemptSpec(argv=(command,), cwd=str(tmp_path), env=ENV, shell=True, idle_timeout_s=0.4)
    collector, result, _ = await run(spec)
    assert (result.reason, result.exit_code) == ("exited", 0)
    assert collector.texts() == ["1", "2", "3", "4", "5", "6"]


async def test_sigterm_ignored_gets_sigkill_after_grace(tmp_path: Path) -> None:
    attempt = await LocalExecutor().start(make_spec(tmp_path, "proc_ignore_term.py", grace_s=0.3))
    collector = Collector(attempt)
    await collector.has("ready")
    started = time.monotonic()
    await asyncio.wait_for(attempt.stop(), BOUND_S)
    assert time.monotonic() - started >= 0.3
    result = await finish(attempt, collector)
    assert result.reason == "stopped" and result.exit_code == -9


@pytest.mark.parametrize("ignore_term", [False, True])
async def test_stop_leaves_no_grandchild(tmp_path: Path, ignore_term: bool) -> None:
    args = ["--ignore-term"] if ignore_term else []
    attempt = await LocalExecutor().start(make_spec(tmp_path, "proc_fork_hang.py", *args))
    collector = Collector(attempt)
    grandchild = int((await collector.has("grandchild ")).split()[1])
    await collector.has("leader ready")
    assert attempt.info is not None
    assert process_tree.read_stat(grandchild).pgid == attempt.info.pgid  # type: ignore[union-attr]
    await asyncio.wait_for(attempt.stop(), BOUND_S)
    result = await finish(attempt, collector)
    assert result.reason == "stopped"
    assert group_gone(attempt.info.pgid)
    assert not psutil.pid_exists(grandchild)


@pytest.mark.parametrize("ignore_term", [False, True])
async def test_leader_exit_with_grandchild_holding_the_pipes(
    tmp_path: Path, ignore_term: bool
) -> None:
    args = ["--exit", *(["--ignore-term"] if ignore_term else [])]
    attempt = await LocalExecutor().start(make_spec(tmp_path, "proc_fork_hang.py", *args))
    collector = Collector(attempt)
    grandchild = int((await collector.has("grandchild ")).split()[1])
    result = await finish(attempt, collector)
    assert (result.reason, result.exit_code) == ("exited", 0)
    assert result.duration_s < 0.5 + 0.5 + 2 + 1
    assert attempt.info is not None and group_gone(attempt.info.pgid)
    assert not psutil.pid_exists(grandchild)


async def test_stop_reaches_a_child_that_left_the_group(tmp_path: Path) -> None:
    attempt = await LocalExecutor().start(make_spec(tmp_path, "proc_escape.py"))
    collector = Collector(attempt)
    escaped = int((await collector.has("escaped ")).split()[1])
    await collector.has("leader ready")
    await asyncio.wait_for(attempt.stop(), BOUND_S)
    await finish(attempt, collector)
    assert not psutil.pid_exists(escaped)


async def test_stop_is_idempotent_and_first_reason_wins(tmp_path: Path) -> None:
    attempt = await LocalExecutor().start(make_spec(tmp_path, "proc_hang.py"))
    collector = Collector(attempt)
    await collector.has("ready")
    async with asyncio.timeout(BOUND_S):
        await asyncio.gather(attempt.stop("stopped"), attempt.stop("timeout"), attempt.stop())
    result = await finish(attempt, collector)
    assert result.reason == "stopped" and result.exit_code == -15
    await attempt.stop("memory")
    assert await attempt.wait() == result


async def test_stop_after_a_natural_exit_keeps_reason_exited(tmp_path: Path) -> None:
    _, result, attempt = await run(make_spec(tmp_path, "proc_exit.py", "0"))
    await attempt.stop()
    assert await attempt.wait() == result and result.reason == "exited"


async def test_many_lines_arrive_complete_in_order_and_batched(tmp_path: Path) -> None:
    collector, result, _ = await run(make_spec(tmp_path, "proc_lines.py", "100000"))
    assert result.exit_code == 0
    texts = collector.texts("stdout")
    assert len(texts) == 100_000
    assert texts[0] == "00000000 " + "x" * 71 and texts[-1] == "00099999 " + "x" * 71
    assert [int(t[:8]) for t in texts] == list(range(100_000))
    assert collector.batches < 1000


async def test_unread_output_pauses_reading_then_resumes(tmp_path: Path) -> None:
    attempt = await LocalExecutor().start(make_spec(tmp_path, "proc_lines.py", "300000"))
    async with asyncio.timeout(BOUND_S):
        while not attempt._output.paused:
            await asyncio.sleep(0.01)
    assert attempt._output.pending_lines < MAX_PENDING_LINES + 10_000
    collector = Collector(attempt)
    result = await finish(attempt, collector)
    assert result.exit_code == 0 and len(collector.lines) == 300_000
    assert collector.lines[-1][1].startswith("00299999 ")


async def test_megabyte_line_without_newline_arrives_in_pieces(tmp_path: Path) -> None:
    size = 1024 * 1024
    collector, result, _ = await run(
        make_spec(tmp_path, "proc_longline.py", str(size), max_line_chars=65536)
    )
    assert result.exit_code == 0
    pieces = collector.lines
    assert len(pieces) == 16
    assert [partial for _, _, _, partial in pieces] == [True] * 15 + [False]
    text = "".join(text for _, text, _, _ in pieces)
    assert text == ("ab\x00cd\ufffdef" * (size // 8))
    assert len(text) == size


async def test_stdout_tee_keeps_the_raw_bytes_in_memory_while_small(tmp_path: Path) -> None:
    tee = tmp_path / "out.raw"
    spec = make_spec(tmp_path, "proc_longline.py", "200003", stdout_tee=str(tee))
    _, result, _ = await run(spec)
    assert result.exit_code == 0
    unit = b"ab\x00cd\xffef"
    assert result.stdout == (unit * 25001)[:200003]
    assert not tee.exists()


async def test_stdout_tee_goes_to_its_file_past_the_memory_bound(tmp_path: Path) -> None:
    tee = tmp_path / "out.raw"
    size = TEE_MEMORY_BYTES + 100_003
    spec = make_spec(tmp_path, "proc_longline.py", str(size), stdout_tee=str(tee))
    _, result, _ = await run(spec)
    assert result.exit_code == 0 and result.stdout is None
    assert tee.read_bytes() == (b"ab\x00cd\xffef" * (size // 8 + 1))[:size]


async def test_memory_limit_stops_the_group(tmp_path: Path) -> None:
    spec = make_spec(tmp_path, "proc_memhog.py", "400", memory_mb=60)
    collector, result, attempt = await run(spec)
    assert result.reason == "memory" and result.exit_code == -15
    assert result.peak_rss_mb >= 60
    assert result.error is not None and "limit 60 MiB" in result.error
    assert attempt.info is not None and group_gone(attempt.info.pgid)
    assert "allocated 400 MiB" not in collector.texts()


async def test_busy_process_reports_peak_memory_and_cpu(tmp_path: Path) -> None:
    collector, result, _ = await run(make_spec(tmp_path, "proc_busy.py", "0.4"))
    assert result.exit_code == 0 and collector.texts()[0].startswith("done ")
    assert result.peak_rss_mb > 30
    assert 0.2 <= result.cpu_s <= result.duration_s + 0.1


def read_lines(proc: subprocess.Popen[bytes], count: int) -> list[str]:
    """Read ``count`` lines from a Popen's stdout, failing after BOUND_S."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    data = b""
    deadline = time.monotonic() + BOUND_S
    while data.count(b"\n") < count:
        ready, _, _ = select.select([fd], [], [], max(deadline - time.monotonic(), 0))
        chunk = os.read(fd, 4096) if ready else b""
        assert chunk, f"agent output ended or timed out: {data!r}"
        data += chunk
    return data.decode().splitlines()


def grandchild_of(lines: list[str]) -> int:
    found = [int(line.split()[1]) for line in lines if line.startswith("grandchild ")]
    assert found, lines
    return found[0]


def start_orphan(*args: str) -> tuple[subprocess.Popen[bytes], ProcessInfo, int]:
    proc = subprocess.Popen(
        [sys.executable, str(AGENTS / "proc_fork_hang.py"), *args],
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        info = ProcessInfo(
            proc.pid, proc.pid, psutil.Process(proc.pid).create_time(), LocalExecutor().host
        )
        return proc, info, grandchild_of(read_lines(proc, 2))
    except BaseException:
        os.killpg(proc.pid, 9)
        proc.wait()
        raise


def test_kill_orphan_stops_a_group_started_elsewhere() -> None:
    executor = LocalExecutor(orphan_grace_s=0.3)
    proc, info, grandchild = start_orphan("--ignore-term")
    try:
        assert not executor.kill_orphan(ProcessInfo(info.pid, info.pgid, info.create_time + 1))
        assert not executor.kill_orphan(
            ProcessInfo(info.pid, info.pgid, info.create_time, "another-host")
        )
        assert not executor.kill_orphan(ProcessInfo(info.pid, info.pgid + 1, info.create_time))
        assert proc.poll() is None and psutil.pid_exists(grandchild)
        assert executor.kill_orphan(info)
        assert proc.wait(timeout=BOUND_S) == -15
        assert not psutil.pid_exists(grandchild)
        assert group_gone(info.pgid)
        assert not executor.kill_orphan(info)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, 9)
            proc.wait()
        proc.stdout.close()  # type: ignore[union-attr]


def test_kill_orphan_with_the_leader_gone_checks_the_members() -> None:
    executor = LocalExecutor(orphan_grace_s=0.3)
    proc, info, grandchild = start_orphan("--exit")
    try:
        assert proc.wait(timeout=BOUND_S) == 0
        later = ProcessInfo(info.pid, info.pgid, info.create_time + 100, info.host)
        assert not executor.kill_orphan(later)
        assert psutil.pid_exists(grandchild)
        assert executor.kill_orphan(info)
        assert not psutil.pid_exists(grandchild)
        assert group_gone(info.pgid)
    finally:
        if not group_gone(info.pgid):
            os.killpg(info.pgid, 9)
        proc.stdout.close()  # type: ignore[union-attr]


def test_kill_orphan_of_nothing() -> None:
    proc = subprocess.Popen(["/bin/true"])
    proc.wait()
    assert not LocalExecutor().kill_orphan(ProcessInfo(proc.pid, proc.pid, time.time()))


async def test_proc_and_psutil_readings_agree(tmp_path: Path) -> None:
    attempt = await LocalExecutor().start(make_spec(tmp_path, "proc_fork_hang.py"))
    collector = Collector(attempt)
    grandchild = int((await collector.has("grandchild ")).split()[1])
    assert attempt.info is not None
    pid = attempt.info.pid
    try:
        assert process_tree.descendants(pid) == [grandchild]
        assert process_tree._psutil_descendants(pid) == [grandchild]
        fast, slow = process_tree.read_stat(pid), process_tree._psutil_stat(pid)
        assert fast is not None and slow is not None
        assert (fast.ppid, fast.pgid, fast.sid, fast.zombie) == (
            slow.ppid,
            slow.pgid,
            slow.sid,
            slow.zombie,
        )
        assert abs(fast.rss_bytes - slow.rss_bytes) < 1024 * 1024
        members = sorted(s.pid for s in process_tree.group_members(pid))
        assert members == sorted([pid, grandchild])
        assert process_tree.read_stat(2**22 + 1) is None
    finally:
        await attempt.stop()
        await finish(attempt, collector)


async def test_unwritable_stdout_tee_is_reported(tmp_path: Path) -> None:
    size = str(TEE_MEMORY_BYTES + 10)
    spec = make_spec(
        tmp_path, "proc_longline.py", size, stdout_tee=str(tmp_path / "missing" / "out")
    )
    _, result, _ = await run(spec)
    assert result.exit_code == 0 and result.stdout is None
    assert (
        result.error
        == f"cannot write stdout file {tmp_path}/missing/out: No such file or directory"
    )


def test_event_loop_shutdown_kills_a_running_group(tmp_path: Path) -> None:
    async def start_and_abandon() -> tuple[int, int]:
        attempt = await LocalExecutor().start(make_spec(tmp_path, "proc_fork_hang.py"))
        collector = Collector(attempt)
        grandchild = int((await collector.has("grandchild ")).split()[1])
        await collector.has("leader ready")
        assert attempt.info is not None
        return attempt.info.pgid, grandchild

    pgid, grandchild = asyncio.run(start_and_abandon())
    deadline = time.monotonic() + BOUND_S
    while process_tree.live_members(pgid) or psutil.pid_exists(grandchild):
        assert time.monotonic() < deadline, "group survived its event loop"
        time.sleep(0.01)


async def test_memory_of_a_member_that_left_the_tree_counts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(attempt_sampler, "GROUP_SCAN_S", 0.1)
    attempt = await LocalExecutor().start(
        make_spec(tmp_path, "proc_orphan_hog.py", "200", memory_mb=100)
    )
    collector = Collector(attempt)
    orphan = int((await collector.has("orphan ")).split()[1])
    assert attempt.info is not None
    assert orphan not in process_tree.descendants(attempt.info.pid)
    result = await finish(attempt, collector)
    assert result.reason == "memory" and result.peak_rss_mb >= 100
    assert not psutil.pid_exists(orphan) and group_gone(attempt.info.pgid)


@pytest.mark.skipif(
    sys.version_info >= (3, 12) or not sys.platform.startswith("linux"),
    reason="the exit's own usage comes from the pidfd watcher phaseboard installs on 3.11",
)
async def test_an_agent_too_short_to_sample_still_reports_its_peak_memory(tmp_path: Path) -> None:
    code = "b = b'x' * (80 << 20); print(len(b))"
    spec = AttemptSpec(
        argv=(sys.executable, "-c", code), cwd=str(tmp_path), env=ENV, sample_interval_s=30.0
    )
    _, result, _ = await run(spec)
    assert result.exit_code == 0
    # Linux counts a child's image before its exec in its ru_maxrss: under vfork, that is this
    # process's own peak, which a test worker that ran many tests can have above 200 MB
    own_peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    assert 80 <= result.peak_rss_mb < max(200, own_peak_mb + 16)
    assert result.cpu_s > 0
