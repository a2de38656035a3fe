"""Scenario 3: one 10 MB line with no newline, NUL bytes and invalid UTF-8.

The engine runs as a subprocess (``phaseboard run --headless``); its peak resident memory is
the kernel's high-water mark of the process (``VmHWM``), and its growth is that peak minus the
peak of a run, in the same round, whose agent prints one short line. Two lines are sent:

- ``plain``: starts with text. The executor cuts it into pieces of ``max_line_chars`` (65,536)
  and stores them all, flagged partial but the last: the line is kept whole, as pieces. No
  piece is ever joined again, so the cap on what the engine holds of it is the executor's bound
  on unread output, ``MAX_PENDING_BYTES`` (8 MiB, held raw; past it, reading the pipe pauses).
  The log sink's own bound (``MAX_BUFFERED_CHARS``, queued and being written) and the decoded
  text's two bytes per character must fit within the 3x.
- ``json-like``: starts with ``{"header"``, so the message parser assembles its pieces looking
  for a message, up to its cap (``MAX_RESULT_BYTES``, 16 MiB) before dropping it.

Checks: the stored pieces join to exactly the line as decoded (UTF-8, errors replaced), the
run completes, and the growth stays within 3x the cap that applies to the line. ``--bytes``
runs a longer line: if the growth follows the line's length, the engine holds it whole.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import sys
from pathlib import Path

from common import (
    Verdicts,
    agents_yaml,
    median,
    mib,
    options,
    runs_for,
    start_phaseboard,
    stop_process,
    temp_dir,
    wait_peak_rss,
)

from engine.execution.attempt_output import MAX_PENDING_BYTES
from engine.execution.executor import AttemptSpec
from engine.run.results import MAX_RESULT_BYTES
from engine.store.log_chunks import unpack

LINE_BYTES = 10 * 1000 * 1000
BLOCK = (
    b"plain text \x00 NUL, \xff\xfe bad bytes, a cut \xc3 two-byte and \xe2\x82 three-byte"
    b" sequence, valid \xc3\xa9\xe2\x82\xac, a lone \x80 continuation; "
) * 40
PREFIXES = {"plain": b"log: ", "json-like": b'{"header": {}, "body": {"content": "'}

AGENT = """\
import os, sys
prefix, block, total = bytes.fromhex(sys.argv[1]), bytes.fromhex(sys.argv[2]), int(sys.argv[3])
out = sys.stdout.buffer
out.write(prefix)
left = total - len(prefix)
while left > 0:
    chunk = (block * (65536 // len(block) + 1))[: min(left, 65536)]
    out.write(chunk)
    left -= len(chunk)
out.flush()
open(os.environ['PHASEBOARD_OUTPUT'], 'w').write('{"summary": "done"}')
"""


def expected_bytes(prefix: bytes, total: int) -> bytes:
    """What the agent writes: the same chunks in the same order."""
    parts, left = [prefix], total - len(prefix)
    while left > 0:
        chunk = (BLOCK * (65536 // len(BLOCK) + 1))[: min(left, 65536)]
        parts.append(chunk)
        left -= len(chunk)
    return b"".join(parts)


def one_run(tmp: Path, prefix: bytes, total: int) -> tuple[int, Path]:
    """Run the agent under a headless engine; returns (peak RSS bytes, database path)."""
    agent = tmp / "hostile.py"
    agent.write_text(AGENT)
    run = f'["{{python}}", "{agent}", "{prefix.hex()}", "{BLOCK.hex()}", "{total}"]'
    wf = tmp / "wf.yaml"
    wf.write_text(agents_yaml([[run]], output="messages"))
    ws = tmp / "ws"
    ws.mkdir()
    proc = start_phaseboard(
        ["run", str(wf), "--headless", "--workspace", str(ws)], tmp, tmp / "log"
    )
    try:
        code, peak = wait_peak_rss(proc, 600)
    finally:
        stop_process(proc)
    if code != 0:
        raise RuntimeError(f"run exited {code}: {(tmp / 'log').read_text()[-2000:]}")
    return peak, ws / ".phaseboard" / "phaseboard.db"


def stored_line(db: Path) -> tuple[str, int, bool]:
    """(the pieces joined, how many, whether all but the last are flagged partial)."""
    conn = sqlite3.connect(db)
    try:
        chunks = conn.execute("SELECT text, lines, marks FROM logs ORDER BY id").fetchall()
    finally:
        conn.close()
    rows = [
        (text, partial)
        for chunk in chunks
        for stream, text, partial in unpack(*chunk)
        if stream == "stdout"
    ]
    flags = [bool(p) for _, p in rows]
    return "".join(t for t, _ in rows), len(rows), flags == [True] * (len(rows) - 1) + [False]


def main() -> int:
    p = options(__doc__)
    p.add_argument("--bytes", type=int, default=LINE_BYTES, help="length of the line")
    args = p.parse_args()
    runs = runs_for(args)
    total = args.bytes // 10 if args.quick else args.bytes
    verdicts = Verdicts("hostile_lines")
    line_cap = next(
        f.default for f in dataclasses.fields(AttemptSpec) if f.name == "max_line_chars"
    )
    print(f"caps: pieces of {line_cap:,} chars, executor buffer {mib(MAX_PENDING_BYTES):.0f} MiB,")
    print(f"      message parser {mib(MAX_RESULT_BYTES):.0f} MiB; line of {total:,} bytes")
    caps = {"plain": MAX_PENDING_BYTES, "json-like": MAX_RESULT_BYTES}
    baseline: list[int] = []
    growths: dict[str, list[int]] = {name: [] for name in PREFIXES}
    for _ in range(runs):
        with temp_dir("hostile-base") as tmp:
            baseline.append(one_run(tmp, b"short line", 10)[0])
        for name, prefix in PREFIXES.items():
            with temp_dir("hostile") as tmp:
                peak, db = one_run(tmp, prefix, total)
                growths[name].append(peak - baseline[-1])
                text, pieces, flags = stored_line(db)
                want = expected_bytes(prefix, total).decode("utf-8", errors="replace")
                if text != want or not flags:
                    first = next(
                        (i for i, (a, b) in enumerate(zip(text, want, strict=False)) if a != b), -1
                    )
                    raise RuntimeError(
                        f"{name}: stored {len(text)} chars in {pieces} pieces, expected "
                        f"{len(want)}; first difference at {first}; partial flags ok: {flags}"
                    )
                print(
                    f"{name}: {total:,} bytes stored whole as {pieces} pieces ({len(text):,} chars)"
                )
    print(f"engine peak RSS with a short line: {', '.join(f'{mib(b):.0f}' for b in baseline)} MiB")
    for name, values in growths.items():
        growth = max(0.0, median(values))
        cap = caps[name]
        print(
            f"{name}: growth over the short-line run of the same round "
            f"{', '.join(f'{mib(g):.1f}' for g in values)} MiB, median {mib(growth):.1f} MiB "
            f"({growth / total:.2f} bytes per byte of line); 3x cap {mib(3 * cap):.0f} MiB"
        )
        verdicts.absolute(
            f"hostile {name} RSS growth", round(mib(growth), 2), "MiB", round(mib(3 * cap), 2)
        )
    verdicts.absolute("hostile lines lost or altered", 0, "lines", 0)
    return verdicts.finish()


if __name__ == "__main__":
    sys.exit(main())
