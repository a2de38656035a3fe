"""Run every benchmark scenario (``make bench``) and print the table of their verdicts.

Each scenario script runs as a subprocess with this interpreter; its output is shown as it
comes. Every verdict line (``NAME: ratio X (target Y) PASS|FAIL`` or ``NAME: X UNIT (target Y)
PASS|FAIL``) goes into the table; a script that ends without its summary line (a crash) is
listed as ERROR. A failing scenario does not stop the others; the exit code is 1 if any
check failed or any script did not finish.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCENARIOS = [
    ("1", "spawn_overhead"),
    ("2", "log_throughput"),
    ("3", "hostile_lines"),
    ("4", "console_load"),
    ("5", "store_scale"),
    ("6", "snapshots_rollback"),
    ("7", "startup"),
    ("8", "idle_scale"),
    ("9", "cancel"),
    ("10", "dask_spawn"),
    ("11", "dask_logs"),
]
VERDICT = re.compile(
    r"^(?P<name>.+?): (?:ratio (?P<ratio>[-\d.]+)|(?P<value>[-\d.]+) (?P<unit>\S+))"
    r" \(target (?P<target>[^)]+)\) (?P<status>PASS|FAIL)$"
)


@dataclass
class Row:
    scenario: str
    check: str
    value: str
    target: str
    status: str


def run_script(number: str, name: str, extra: list[str]) -> tuple[list[Row], float]:
    print(f"\n=== {number}. {name} ===", flush=True)
    start = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, str(HERE / f"{name}.py"), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=HERE,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    assert proc.stdout is not None
    rows: list[Row] = []
    last = ""
    for line in proc.stdout:
        print(line, end="", flush=True)
        line = line.rstrip("\n")
        if line.strip():
            last = line
        m = VERDICT.match(line)
        if m:
            value = f"ratio {m['ratio']}" if m["ratio"] else f"{m['value']} {m['unit']}"
            rows.append(Row(f"{number}. {name}", m["name"], value, m["target"], m["status"]))
    code = proc.wait()
    elapsed = time.perf_counter() - start
    summary = VERDICT.match(last)
    if summary is None or summary["name"] != name:
        rows.append(Row(f"{number}. {name}", f"exit {code}: {last[:60]}", "-", "-", "ERROR"))
    elif rows:
        rows.pop()  # the summary repeats the worst check
    return rows, elapsed


def table(rows: list[Row]) -> str:
    head = Row("scenario", "check", "value", "target", "result")
    widths = [max(len(getattr(r, f)) for r in [head, *rows]) for f in Row.__dataclass_fields__]
    lines = []
    for i, r in enumerate([head, *rows]):
        cells = [getattr(r, f) for f in Row.__dataclass_fields__]
        lines.append("  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def main() -> int:
    p = argparse.ArgumentParser(description="Run the phaseboard benchmarks and print a table.")
    p.add_argument("--quick", action="store_true", help="a fast smoke run of every scenario")
    p.add_argument("--runs", type=int, help="median of N runs (each script has its default)")
    p.add_argument("only", nargs="*", help="scenario numbers or names to run (default: all)")
    args = p.parse_args()
    extra = (["--quick"] if args.quick else []) + (["--runs", str(args.runs)] if args.runs else [])
    chosen = [(n, s) for n, s in SCENARIOS if not args.only or n in args.only or s in args.only]
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at start")
    rows: list[Row] = []
    times: list[str] = []
    for number, name in chosen:
        got, elapsed = run_script(number, name, extra)
        rows += got
        times.append(f"{name} {elapsed:.0f}s")
    print("\n" + table(rows))
    print(f"\ntime: {', '.join(times)}; load average {os.getloadavg()[0]:.2f} at the end")
    failed = [r for r in rows if r.status != "PASS"]
    print(f"{len(rows) - len(failed)} of {len(rows)} checks passed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
