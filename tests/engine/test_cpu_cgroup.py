"""``cpu_percent`` held by the kernel: each CPU-limited attempt in a cgroup of its own.

The tests marked ``real`` make real cgroups with the controller this machine has (cgroup v1 with
a writable ``cpu`` hierarchy where this suite runs as root) and skip where there is none. The v2
logic is checked against a directory tree shaped like a cgroup2 mount, described to
:func:`~engine.execution.cpu_cgroup.find_controller` by stand-ins for ``/proc/self/cgroup`` and
``/proc/self/mountinfo``: a plain directory cannot throttle anything, so what is checked there is
the paths and the files written.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from engine.execution import cpu_cgroup, process_tree
from engine.execution.cgroup_mounts import machine_cpus, own_cgroups, quota_cores
from engine.execution.local_executor import LocalExecutor
from engine.reports.status_json import status_document
from engine.reports.status_text import status_lines
from engine.state.events import AttemptFinished, Event
from engine.state.run_state import RunState
from tests.engine.test_local_executor import AGENTS, Collector, finish, group_gone, make_spec
from tests.helpers import agent_cmd, one_stage, run_inline

real = pytest.mark.skipif(
    cpu_cgroup.find_controller() is None, reason="no writable cgroup CPU controller here"
)


@pytest.fixture(autouse=True)
def no_forced_signals(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(cpu_cgroup.FORCE_ENV, raising=False)


def percent_for(cpus: float) -> int:
    return max(1, round(cpus * 100 / machine_cpus()))


def cgroup_of(pid: int, controller: cpu_cgroup.CpuController) -> Path:
    """The directory of the cgroup ``pid`` is in, in ``controller``'s hierarchy."""
    return dict(own_cgroups(Path(f"/proc/{pid}/cgroup")))[controller.version]


# -- real cgroups ----------------------------------------------------------------------------


@real
async def test_an_attempt_and_its_children_run_in_a_cgroup_with_the_quota(tmp_path: Path) -> None:
    controller = cpu_cgroup.controller()
    assert controller is not None
    percent = percent_for(0.25)
    # a shell agent: the burner is the shell's child, not the group leader
    script = f"{sys.executable} {AGENTS / 'proc_burn_steps.py'} 0 0.05; echo after"
    spec = replace(make_spec(tmp_path, "x", cpu_percent=percent), argv=(script,), shell=True)
    attempt = await LocalExecutor().start(spec)
    collector = Collector(attempt)
    await collector.has("step 3")
    assert attempt.info is not None
    leader = attempt.info.pid
    burner = process_tree.descendants(leader)
    assert burner, "the burner runs as a child of the shell"
    where = cgroup_of(leader, controller)
    assert where.name.startswith(f"{cpu_cgroup.PREFIX}{os.getpid()}-")
    assert cgroup_of(burner[0], controller) == where  # born inside: no move after the spawn
    quota = round(percent / 100 * machine_cpus() * cpu_cgroup.PERIOD_US)
    if controller.version == 2:
        assert (where / "cpu.max").read_text().split() == [str(quota), str(cpu_cgroup.PERIOD_US)]
    else:
        assert int((where / "cpu.cfs_quota_us").read_text()) == quota
        assert int((where / "cpu.cfs_period_us").read_text()) == cpu_cgroup.PERIOD_US
    midway = cpu_cgroup.AttemptCgroup(where, controller.version).throttled_s()
    await attempt.stop()
    result = await finish(attempt, collector)
    assert result.reason == "stopped" and result.cpu_limit == f"cgroup v{controller.version}"
    assert result.throttled_s >= midway > 0  # read from the cgroup's cpu.stat
    assert not where.exists()
    assert group_gone(attempt.info.pgid)


@real
async def test_a_cpu_burning_agent_gets_its_share_and_no_more(tmp_path: Path) -> None:
    percent = percent_for(0.25)
    share = percent / 100 * machine_cpus()
    spec = make_spec(tmp_path, "proc_burn_steps.py", "6", "0.1", cpu_percent=percent)
    started = time.monotonic()
    attempt = await LocalExecutor().start(spec)
    collector = Collector(attempt)
    result = await finish(attempt, collector)
    wall = time.monotonic() - started
    assert collector.texts()[-1] == "done"
    assert result.cpu_limit is not None and result.cpu_limit.startswith("cgroup")
    # The kernel gives at most the quota each 0.1 s period: a busy machine only lowers the ratio.
    assert result.cpu_s / wall < share + 0.1, (result.cpu_s, wall, share)
    assert result.throttled_s > 0


@real
async def test_a_command_that_is_not_found_still_fails_to_start(tmp_path: Path) -> None:
    controller = cpu_cgroup.controller()
    assert controller is not None
    before = _ours(controller)
    spec = replace(make_spec(tmp_path, "x", cpu_percent=10), argv=("no-such-command-here",))
    attempt = await LocalExecutor().start(spec)
    result = await attempt.wait()
    assert (result.reason, result.error) == (
        "spawn_failed",
        "command not found: no-such-command-here",
    )
    assert _ours(controller) == before


@real
async def test_the_signals_path_can_be_forced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(cpu_cgroup.FORCE_ENV, "signals")
    controller = cpu_cgroup.find_controller()
    assert controller is not None
    spec = make_spec(tmp_path, "proc_burn_steps.py", "0", "0.05", cpu_percent=percent_for(0.25))
    attempt = await LocalExecutor().start(spec)
    collector = Collector(attempt)
    await collector.has("step 2")
    assert attempt.info is not None
    assert cgroup_of(attempt.info.pid, controller) == controller.parent  # left where it was
    await attempt.stop()
    result = await finish(attempt, collector)
    assert result.cpu_limit == "signals"  # held by pauses: test_cpu_throttle.py


@real
def test_leftovers_of_a_dead_engine_are_removed_when_empty() -> None:
    controller = cpu_cgroup.find_controller()
    assert controller is not None
    dead = subprocess.Popen(["true"])
    dead.wait()
    gone = controller.parent / f"{cpu_cgroup.PREFIX}{dead.pid}-1"
    busy = controller.parent / f"{cpu_cgroup.PREFIX}{dead.pid}-2"
    live = controller.parent / f"{cpu_cgroup.PREFIX}{os.getpid()}-999999"
    for path in (gone, busy, live):
        path.mkdir()
    procs = str(busy / "cgroup.procs")
    inside = ["/bin/sh", "-c", "echo in; exec sleep 30"]
    holder = subprocess.Popen(
        ["/bin/sh", "-c", cpu_cgroup.WRAPPER, "sh", procs, *inside], stdout=subprocess.PIPE
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"in\n"
        assert controller.clean_leftovers() == [gone.name]
        assert not gone.exists() and busy.exists() and live.exists()
    finally:
        holder.kill()
        holder.wait()
        assert cpu_cgroup.AttemptCgroup(busy, controller.version).remove()
        live.rmdir()


# -- through the engine: the event, the state, `phaseboard status` ---------------------------


async def test_status_says_how_the_cpu_limit_was_held(tmp_path: Path, workspace: Path) -> None:
    agents = f"""\
      - id: limited
        run: {agent_cmd("--summary", "held")}
      - id: free
        run: {agent_cmd("--summary", "free")}
        cpu_percent: null
"""
    yaml = one_stage(agents, defaults="{timeout: 30, retries: 0, cpu_percent: 20}")
    _, state, _ = await run_inline(tmp_path, workspace, yaml)
    found = cpu_cgroup.controller()
    expected = f"cgroup v{found.version}" if found is not None else "signals"
    agents_state = state.stages["s"].agents
    assert agents_state["limited"].attempts[-1].cpu_limit == expected
    assert agents_state["free"].attempts[-1].cpu_limit is None
    doc = status_document(state)
    by_id = {a["id"]: a for a in doc["stages"][0]["agents"]}
    assert by_id["limited"]["attempts"][0]["cpu_limit"] == expected
    assert by_id["free"]["attempts"][0]["cpu_limit"] is None
    lines = status_lines(state)
    held = [i for i, line in enumerate(lines) if line.strip().startswith("cpu limit:")]
    assert len(held) == 1 and "limited" in lines[held[0] - 1], lines
    assert lines[held[0]].strip().startswith(f"cpu limit: {expected} (")


def test_an_attempt_recorded_before_the_field_folds_without_it() -> None:
    workflow = one_stage(f"      - id: a\n        run: {agent_cmd()}\n")
    created = {"workflow": "t", "workflow_path": "t.yaml", "workflow_text": workflow}
    old_finished = {"stage": "s", "agent": "a", "attempt": 1, "status": "succeeded"}
    events: list[tuple[str, dict[str, Any]]] = [
        ("run_created", {**created, "workspace": "/w", "run_dir": "/w/r"}),
        ("attempt_started", {"stage": "s", "agent": "a", "attempt": 1}),
        ("attempt_finished", {**old_finished, "throttled_s": 1.5}),
    ]
    stored = [Event("r", n, float(n), kind, "", data) for n, (kind, data) in enumerate(events, 1)]
    assert stored[-1].payload() == AttemptFinished(**old_finished, throttled_s=1.5)  # type: ignore[arg-type]
    attempt = RunState.fold("r", stored).stages["s"].agents["a"].attempts[0]
    assert (attempt.cpu_limit, attempt.throttled_s) == (None, 1.5)


# -- the v2 and v1 logic against directory trees shaped like cgroup mounts --------------------


def fake_mount(
    tmp_path: Path, kind: str, own: str, *, mount_root: str = "/", options: str = "rw"
) -> tuple[Path, Path, Path]:
    """A directory standing for a cgroup mount, and stand-ins for ``/proc/self/cgroup`` and
    ``/proc/self/mountinfo`` that put this process in its cgroup ``own``."""
    point = tmp_path / f"mnt {kind}"  # a space, escaped as \\040 in mountinfo
    directory = point / own.removeprefix(mount_root).lstrip("/")
    directory.mkdir(parents=True)
    (directory / "cgroup.procs").write_text("")
    escaped = str(point).replace(" ", "\\040")
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        "22 1 0:21 / /proc rw - proc proc rw\n"
        f"41 31 0:38 {mount_root} {escaped} rw,relatime - {kind} {kind} {options}\n"
    )
    proc_cgroup = tmp_path / "cgroup"
    line = f"0::{own}" if kind == "cgroup2" else f"4:cpu,cpuacct:{own}"
    proc_cgroup.write_text(f"12:pids:/x\n{line}\n")
    return directory, proc_cgroup, mountinfo


def test_v2_needs_the_cpu_controller_handed_to_children(tmp_path: Path) -> None:
    directory, proc_cgroup, mountinfo = fake_mount(tmp_path, "cgroup2", "/")
    (directory / "cgroup.controllers").write_text("cpuset cpu io memory pids\n")
    (directory / "cgroup.subtree_control").write_text("memory pids\n")
    assert cpu_cgroup.find_controller(proc_cgroup, mountinfo) is None
    (directory / "cgroup.subtree_control").write_text("cpu memory pids\n")
    found = cpu_cgroup.find_controller(proc_cgroup, mountinfo)
    assert found == cpu_cgroup.CpuController(2, directory)


def test_v2_writes_cpu_max_and_enters_through_cgroup_procs(tmp_path: Path) -> None:
    own = "/system.slice/engine.service"
    directory, proc_cgroup, mountinfo = fake_mount(tmp_path, "cgroup2", own)
    (directory / "cgroup.subtree_control").write_text("cpu\n")
    found = cpu_cgroup.find_controller(proc_cgroup, mountinfo)
    assert found is not None and found.parent == directory
    cgroup = found.create(0.5)
    assert cgroup.path.parent == directory and cgroup.label == "cgroup v2"
    assert cgroup.path.name.startswith(f"phaseboard-{os.getpid()}-")
    assert (cgroup.path / "cpu.max").read_text() == "50000 100000\n"
    assert cgroup.wrap(["python3", "-c", "pass"]) == (
        "/bin/sh", "-c", cpu_cgroup.WRAPPER, "sh", str(cgroup.path / "cgroup.procs"),
        "python3", "-c", "pass",
    )  # fmt: skip
    (cgroup.path / "cpu.stat").write_text(
        "usage_usec 900\nnr_periods 40\nnr_throttled 12\nthrottled_usec 1500000\n"
    )
    assert cgroup.throttled_s() == 1.5


def test_a_mount_of_part_of_the_hierarchy_is_followed(tmp_path: Path) -> None:
    """In a container without a cgroup namespace the mount's root is the container's cgroup."""
    own = "/docker/abc/engine"
    directory, proc_cgroup, mountinfo = fake_mount(
        tmp_path, "cgroup2", own, mount_root="/docker/abc"
    )
    assert directory == tmp_path / "mnt cgroup2" / "engine"
    assert own_cgroups(proc_cgroup, mountinfo) == [(2, directory)]


def test_v1_writes_the_cfs_quota_and_reads_throttled_time(tmp_path: Path) -> None:
    directory, proc_cgroup, mountinfo = fake_mount(
        tmp_path, "cgroup", "/", options="rw,cpu,cpuacct"
    )
    found = cpu_cgroup.find_controller(proc_cgroup, mountinfo)
    assert found == cpu_cgroup.CpuController(1, directory)
    cgroup = found.create(0.25)
    assert (cgroup.path / "cpu.cfs_period_us").read_text() == "100000\n"
    assert (cgroup.path / "cpu.cfs_quota_us").read_text() == "25000\n"
    (cgroup.path / "cpu.stat").write_text(
        "nr_periods 9\nnr_throttled 3\nthrottled_time 250000000\n"
    )
    assert cgroup.throttled_s() == 0.25


def test_a_v1_hierarchy_without_the_cpu_controller_is_not_used(tmp_path: Path) -> None:
    _, proc_cgroup, mountinfo = fake_mount(tmp_path, "cgroup", "/", options="rw,cpuacct")
    assert cpu_cgroup.find_controller(proc_cgroup, mountinfo) is None


def test_the_quota_of_the_engines_own_cgroup_caps_the_machine(tmp_path: Path) -> None:
    directory, _, _ = fake_mount(tmp_path, "cgroup2", "/limited/engine")
    (directory / "cpu.max").write_text("max 100000\n")
    (directory.parent / "cpu.max").write_text("150000 100000\n")
    assert quota_cores(2, directory)[:2] == [1.5]
    v1, _, _ = fake_mount(tmp_path / "v1", "cgroup", "/box", options="rw,cpu")
    (v1 / "cpu.cfs_quota_us").write_text("50000\n")
    (v1 / "cpu.cfs_period_us").write_text("100000\n")
    assert quota_cores(1, v1)[0] == 0.5
    assert 0 < machine_cpus() <= (os.cpu_count() or 1)


# -- helpers ---------------------------------------------------------------------------------


def _ours(controller: cpu_cgroup.CpuController) -> set[str]:
    prefix = f"{cpu_cgroup.PREFIX}{os.getpid()}-"
    return {p.name for p in controller.parent.iterdir() if p.name.startswith(prefix)}
