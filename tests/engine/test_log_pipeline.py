"""The log path under floods: the executor's raw backlog and bounded batches of blocks, the
sink's bounds and grouped writes, and the store's chunks."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from engine.execution.attempt_output import BATCH_BYTES, MAX_PENDING_BYTES, widen_pipe
from engine.execution.executor import AttemptSpec
from engine.execution.local_executor import LocalExecutor
from engine.execution.log_block import LogBlock
from engine.run import log_sink
from engine.run.log_sink import LogSink
from engine.store.database import LogRow, Store
from engine.store.log_chunks import CHUNK_CHARS
from engine.store.migrations import MIGRATIONS
from tests.helpers import Line, block_lines

AGENTS = Path(__file__).parents[1] / "agents"
BOUND_S = 10.0
READ_MAX = 256 * 1024
"""The most one pipe read hands over (asyncio's read size)."""
RUN_ID = "r1"


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = await Store.open(tmp_path / "pb.db")
    await opened.create_run(RUN_ID, "wf", str(tmp_path), str(tmp_path / "run"))
    (tmp_path / "run").mkdir()
    yield opened
    await opened.close()


async def stored(
    store: Store, agent: str, attempt: int | None = None
) -> list[tuple[str, str, bool]]:
    return [
        (log.stream, log.text, log.partial) for log in await store.logs(RUN_ID, "s", agent, attempt)
    ]


def blocks(*lines: Line) -> list[LogBlock]:
    """A block for each line."""
    return [LogBlock.of([(stream, text, partial)], ts) for stream, text, ts, partial in lines]  # type: ignore[list-item]


async def test_unread_output_waits_raw_and_comes_out_in_bounded_batches(tmp_path: Path) -> None:
    size = 3 * MAX_PENDING_BYTES // 2
    spec = AttemptSpec(
        argv=(sys.executable, str(AGENTS / "proc_longline.py"), str(size)),
        cwd=str(tmp_path),
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        grace_s=0.5,
    )
    attempt = await LocalExecutor().start(spec)
    async with asyncio.timeout(BOUND_S):
        while not attempt._output.paused:  # nobody reads: the backlog fills up to its bound
            await asyncio.sleep(0.01)
    assert MAX_PENDING_BYTES < attempt._output.pending_bytes <= MAX_PENDING_BYTES + READ_MAX
    assert all(isinstance(data, bytes) for _, data, _, _ in attempt._output._pending)
    pieces: list[Line] = []
    async with asyncio.timeout(BOUND_S):
        async for batch in attempt.lines():
            assert batch
            assert sum(len(b.text) for b in batch) <= BATCH_BYTES + READ_MAX
            pieces += block_lines(batch)
        result = await attempt.wait()
    assert result.exit_code == 0
    assert [partial for _, _, _, partial in pieces] == [True] * (len(pieces) - 1) + [False]
    assert "".join(text for _, text, _, _ in pieces) == ("ab\x00cd\ufffdef" * (size // 8))


async def test_a_flood_is_read_in_large_pieces_and_a_trickle_at_once(tmp_path: Path) -> None:
    """Past a megabyte, a stream whose reads come small rests a moment between reads, so the
    pipe fills and is read in large pieces; a line of an agent that prints little is not held."""
    flood = (
        "import sys\n"
        "w = sys.stdout.buffer.write\n"
        "line = b'x' * 79 + b'\\n'\n"
        "for i in range(2_000):\n"
        "    w(line * 100)\n"  # 2,000 writes of 8 KB: 16 MB
        "sys.stdout.flush()\n"
    )
    spec = AttemptSpec(
        argv=(sys.executable, "-c", flood),
        cwd=str(tmp_path),
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        grace_s=0.5,
    )
    attempt = await LocalExecutor().start(spec)
    reads: list[int] = []
    real_on_data = attempt._output.on_data

    def counting(fd: int, data: bytes) -> None:
        reads.append(len(data))
        real_on_data(fd, data)

    attempt._output.on_data = counting  # type: ignore[method-assign]
    lines = 0
    async with asyncio.timeout(BOUND_S):
        async for batch in attempt.lines():
            lines += sum(b.count for b in batch)
        assert (await attempt.wait()).exit_code == 0
    assert lines == 200_000 and sum(reads) == 16_000_000
    assert len(reads) < 2_000 / 4, f"{len(reads)} reads for 2,000 writes"

    spec = AttemptSpec(
        argv=(sys.executable, "-c", "print('one', flush=True); import time; time.sleep(60)"),
        cwd=str(tmp_path),
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin")},
        grace_s=0.5,
    )
    attempt = await LocalExecutor().start(spec)
    async with asyncio.timeout(BOUND_S):
        async for batch in attempt.lines():
            assert [text for _, text, _, _ in block_lines(batch)] == ["one"]
            break
    await attempt.stop()
    await attempt.wait()


async def test_lines_of_two_attempts_are_stored_in_order_with_their_files(
    store: Store, tmp_path: Path
) -> None:
    sink = LogSink(store, RUN_ID, tmp_path / "run")
    for i in range(3):
        await sink.add(("s", "a", 1), blocks(("stdout", f"a1 {i}", 1.0, False)))
        await sink.add(("s", "b", 1), blocks(("stderr", f"b1 {i}", 1.0, False)))
    await sink.add(
        ("s", "a", 1), blocks(("stdout", "long ", 1.0, True), ("stdout", "end", 1.0, False))
    )
    await sink.add(("s", "a", 2), blocks(("stderr", "a2 0", 2.0, False)))
    await sink.flush()
    assert sink.lines_written == 9
    assert await stored(store, "a", 1) == [
        ("stdout", "a1 0", False),
        ("stdout", "a1 1", False),
        ("stdout", "a1 2", False),
        ("stdout", "long ", True),
        ("stdout", "end", False),
    ]
    assert await stored(store, "a", 2) == [("stderr", "a2 0", False)]
    assert await stored(store, "b") == [("stderr", f"b1 {i}", False) for i in range(3)]
    await sink.close()
    assert (tmp_path / "run" / "s" / "a.log").read_text() == (
        "--- attempt 1 ---\na1 0\na1 1\na1 2\nlong end\n--- attempt 2 ---\na2 0\n"
    )


async def test_a_producer_waits_once_too_many_characters_are_queued(
    store: Store, tmp_path: Path
) -> None:
    sink = LogSink(store, RUN_ID, tmp_path / "gone")  # no run folder: the store alone
    piece = "x" * (log_sink.MAX_BUFFERED_CHARS // 4)
    await sink.add(("s", "a", 1), blocks(*[("stdout", piece, 1.0, True)] * 3))
    assert sink.lines_written == 0  # under the bound: queued for the writer
    await sink.add(("s", "a", 1), blocks(("stdout", piece, 1.0, False)))
    assert sink.lines_written == 4  # at the bound: written before add returned
    assert len(await stored(store, "a")) == 4
    await sink.close()


async def test_the_writer_wakes_past_a_batch_of_characters(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(log_sink, "FLUSH_INTERVAL_S", 3600.0)  # no tick: only a wake-up writes
    sink = LogSink(store, RUN_ID, tmp_path / "run")
    sink.start()
    try:
        await sink.add(
            ("s", "a", 1), blocks(("stdout", "y" * (log_sink.BATCH_CHARS - 1), 1.0, False))
        )
        await sink.add(("s", "a", 1), blocks(("stdout", "z", 1.0, False)))
        assert sink.lines_written == 0
        async with asyncio.timeout(BOUND_S):
            while sink.lines_written == 0:
                await asyncio.sleep(0.005)
    finally:
        await sink.close()


async def test_rows_given_one_by_one_are_grouped_by_attempt_in_order(store: Store) -> None:
    rows = [
        LogRow("s", "a", 1, "stdout", 1.0, "one"),
        LogRow("s", "b", 1, "stderr", 1.0, "other"),
        LogRow("s", "a", 1, "stderr", 1.5, "two", True),
        LogRow("s", "a", 1, "stderr", 1.5, "three"),
    ]
    await store.append_logs(RUN_ID, rows)
    await store.append_logs(RUN_ID, [])
    assert await stored(store, "a") == [
        ("stdout", "one", False),
        ("stderr", "two", True),
        ("stderr", "three", False),
    ]
    assert await stored(store, "b") == [("stderr", "other", False)]
    assert await store.log_count(RUN_ID) == 4


async def test_a_large_batch_is_stored_in_order_with_every_field(store: Store) -> None:
    lines = [
        ("stderr" if i % 3 == 0 else "stdout", f"line {i} é\x00", 1000.0 + i, i % 7 == 0)
        for i in range(257)
    ]
    batch = blocks(*lines)  # type: ignore[arg-type]
    await store.append_log_blocks(RUN_ID, [(("s", "a", 1), batch), (("s", "b", 1), batch[:3])])
    logs = await store.logs(RUN_ID, "s", "a", 1)
    assert [(log.stream, log.text, log.partial) for log in logs] == [
        (stream, text, partial) for stream, text, _, partial in lines
    ]
    assert {log.ts for log in logs} == {1000.0}  # the time the batch's first line came
    assert [log.id for log in logs] == sorted(log.id for log in logs)
    assert len(await stored(store, "b")) == 3


async def test_lines_are_kept_in_chunks_that_readers_address_by_line(store: Store) -> None:
    texts = [f"{i:06d} " + "x" * 70 for i in range(10_000)]  # 77 characters and a newline
    many = LogBlock("\n".join(texts), len(texts), 1.0)
    odd = LogBlock.of([("stderr", "\x1b[31mred", False), ("stdout", "é" * 10, True)], 2.0)
    await store.append_log_blocks(RUN_ID, [(("s", "a", 1), [many])])
    five = LogBlock("\n".join(texts[:5]), 5, 2.0)
    await store.append_log_blocks(RUN_ID, [(("s", "a", 1), [odd]), (("s", "a", 2), [five])])
    assert await store.log_extents(RUN_ID, "s", "a") == {1: (10_002, 77), 2: (5, 77)}
    assert await store.log_count(RUN_ID) == 10_007
    per = (CHUNK_CHARS + 1) // 78  # the lines that fit in a chunk
    chunks = await store.log_chunks(RUN_ID, "s", "a", 1)
    assert [c.count for c in chunks] == [per, 10_000 - per, 2]
    assert max(len(c.text) for c in chunks) <= CHUNK_CHARS
    assert [c.plain for c in chunks] == [True, True, False]
    assert chunks[-1].lines() == [("stderr", "\x1b[31mred", False), ("stdout", "é" * 10, True)]
    (middle,) = await store.log_chunks(RUN_ID, "s", "a", 1, 8000, 10)
    assert middle.first_line == per and middle.lines()[8000 - per][1].startswith("008000 ")
    both = await store.log_chunks(RUN_ID, "s", "a", 1, 9995, 10)
    assert [c.first_line for c in both] == [per, 10_000]
    assert await store.log_chunks(RUN_ID, "s", "a", 1, 10_002) == []  # read to the end
    # a search reads only the chunks that hold the text (any ASCII case), and those not plain
    found = await store.log_chunks(RUN_ID, "s", "a", 1, containing="009999 X")
    assert [c.first_line for c in found] == [per, 10_000]
    assert await store.log_chunks(RUN_ID, "s", "a", 1, containing="50%_") == [found[-1]]
    # readers that follow a log by id see each line once, in order
    first = await store.logs(RUN_ID, "s", "a", 1, limit=per + 4)
    rest = await store.logs(RUN_ID, "s", "a", 1, after_id=first[-1].id)
    assert [r.text for r in first + rest] == [*texts, "\x1b[31mred", "é" * 10]
    tail = await store.logs(RUN_ID, "s", "a", 1, newest=True, limit=3)
    assert [r.text for r in tail] == [texts[-1], "\x1b[31mred", "é" * 10]


async def test_blocks_are_joined_and_cut_into_chunks_at_line_boundaries(store: Store) -> None:
    """Small blocks share a chunk, a large one is cut where a line ends, and a line longer than a
    chunk is a chunk alone; every line comes back whole, in order, with its marks."""
    long = "L" * (CHUNK_CHARS + 10)
    lines = [
        *[("stdout", f"small {i}", False) for i in range(3)],
        ("stderr", "e" * 1000, False),
        ("stdout", long, False),
        *[("stdout", f"{i:07d}" + "y" * 92, i % 1000 == 999) for i in range(12_000)],
    ]
    batch = [LogBlock.of([line], 1.0) for line in lines[:4]]  # type: ignore[list-item]
    batch.append(LogBlock.of(lines[4:], 1.0))  # type: ignore[arg-type]
    await store.append_log_blocks(RUN_ID, [(("s", "a", 1), batch)])
    chunks = await store.log_chunks(RUN_ID, "s", "a", 1)
    assert [line for c in chunks for line in c.lines()] == lines
    assert all(len(c.text) <= CHUNK_CHARS for c in chunks if c.count > 1)
    assert [c.count for c in chunks][:2] == [4, 1] and chunks[1].text == long
    assert [c.first_line for c in chunks] == [
        sum(c.count for c in chunks[:i]) for i in range(len(chunks))
    ]


async def test_a_database_of_one_row_per_line_is_migrated_to_chunks(tmp_path: Path) -> None:
    """A database left by schema version 3 keeps every line, in order, with its stream and
    whether it was partial; the old table is gone and the ``logs`` view shows the chunks."""
    db = tmp_path / "v3.db"
    conn = sqlite3.connect(db)
    for _, script in MIGRATIONS[:3]:
        conn.executescript(script)
    conn.execute("PRAGMA user_version=3")
    conn.executemany(
        "INSERT INTO log_sources(id, run_id, stage, agent, attempt) VALUES (?,?,?,?,?)",
        [(1, RUN_ID, "s", "a", 1), (2, RUN_ID, "s", "a", 2), (3, RUN_ID, "s", "b", 1)],
    )
    old = [(1 + i % 2 * 2, i % 3 == 0, float(i), f"line {i}", i % 5 == 0) for i in range(9000)]
    conn.executemany(
        "INSERT INTO log_lines(source, stream, ts, text, partial) VALUES (?,?,?,?,?)", old
    )
    conn.commit()
    conn.close()

    store = await Store.open(db, create=False)
    try:
        for source, (stage, agent, attempt) in {1: ("s", "a", 1), 3: ("s", "b", 1)}.items():
            logs = await store.logs(RUN_ID, stage, agent, attempt)
            assert [(r.stream == "stderr", r.text, r.partial) for r in logs] == [
                (stream, text, partial) for s, stream, _, text, partial in old if s == source
            ]
        # (lines, widest line) per attempt; attempt 2 printed nothing
        assert await store.log_extents(RUN_ID, "s", "a") == {1: (4500, 9), 2: (0, 0)}
        assert await store.log_count(RUN_ID) == 9000
    finally:
        await store.close()
    conn = sqlite3.connect(db)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
    assert "log_lines" not in tables and "log_chunks" in tables
    assert conn.execute("SELECT SUM(lines) FROM logs WHERE agent = 'b'").fetchone() == (4500,)
    conn.close()


async def test_a_failed_background_write_stops_the_producers(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lines the writer could not store are gone: the next add() raises the writer's error
    (the attempt stops, the engine reports it) instead of the run going on without them."""
    sink = LogSink(store, RUN_ID, tmp_path / "run")
    failing = sqlite3.OperationalError("database or disk is full")

    async def full(*_: object) -> None:
        raise failing

    monkeypatch.setattr(store, "append_log_blocks", full)
    sink.start()
    await sink.add(("s", "a", 1), blocks(("stdout", "lost", 1.0, False)))
    async with asyncio.timeout(BOUND_S):
        while sink._failed is None:
            await asyncio.sleep(0.01)
    with pytest.raises(sqlite3.OperationalError):
        await sink.add(("s", "a", 1), blocks(("stdout", "next", 1.0, False)))
    with pytest.raises(sqlite3.OperationalError):
        await sink.close()


def test_widening_a_pipe_that_closed_already_is_no_error() -> None:
    """A process that ends at once may close its pipe before the protocol asks to widen it."""
    read_end, write_end = os.pipe()
    os.close(write_end)
    closed = os.fdopen(read_end, "rb")
    closed.close()

    class Transport:
        def get_extra_info(self, name: str) -> object:
            return closed if name == "pipe" else None

    widen_pipe(Transport())  # type: ignore[arg-type]
    widen_pipe(None)


async def test_a_log_file_that_cannot_be_written_is_let_go_and_the_store_keeps_every_line(
    store: Store, tmp_path: Path
) -> None:
    """The run folder's ``.log`` is a copy: a folder in its place (or a full disk, a size limit)
    costs the copy, never a line of the store or the run."""
    (tmp_path / "run" / "s" / "a.log").mkdir(parents=True)
    sink = LogSink(store, RUN_ID, tmp_path / "run")
    await sink.add(("s", "a", 1), blocks(("stdout", "kept", 1.0, False)))
    await sink.add(("s", "b", 1), blocks(("stdout", "beside", 1.0, False)))
    await sink.flush()
    await sink.add(("s", "a", 1), blocks(("stdout", "still kept", 1.0, False)))
    await sink.close()
    assert await stored(store, "a") == [("stdout", "kept", False), ("stdout", "still kept", False)]
    assert (tmp_path / "run" / "s" / "b.log").read_text() == "--- attempt 1 ---\nbeside\n"
