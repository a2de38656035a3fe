#!/usr/bin/env python3
"""A configurable agent for the engine's tests: it speaks the real protocol, for real."""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path


def message(kind: str, content: object, **metadata: object) -> str:
    return json.dumps(
        {
            "header": {
                "phase": os.environ.get("PHASEBOARD_STAGE", ""),
                "agent_id": "t",
                "priority": "normal",
            },
            "body": {"message_type": kind, "content": content},
            "metadata": metadata,
        }
    )


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--findings", default="{}")
    p.add_argument("--risks", default="[]")
    p.add_argument("--summary", default="done")
    p.add_argument("--summary-env", help="use the value of this env var as the summary")
    p.add_argument("--result", help="the whole result as JSON (overrides findings/risks)")
    p.add_argument("--fail-attempts", type=int, default=0, help="exit 1 while attempt <= N")
    p.add_argument("--exit", type=int, default=0)
    p.add_argument("--hang", action="store_true")
    p.add_argument("--hang-attempts", type=int, default=0, help="hang while attempt <= N")
    p.add_argument("--sleep", type=float, default=0.0)
    p.add_argument("--lines", type=int, default=0)
    p.add_argument("--write", action="append", default=[], metavar="PATH=TEXT")
    p.add_argument("--delete", action="append", default=[])
    p.add_argument("--broken-json", action="store_true")
    p.add_argument("--no-result", action="store_true")
    p.add_argument(
        "--output-file", action="store_true", help="write the result to $PHASEBOARD_OUTPUT"
    )
    p.add_argument(
        "--session",
        action="store_true",
        help="report an LLM session (s<attempt>) and the one"
        " continued ($PHASEBOARD_PREVIOUS_SESSION) with the tokens",
    )
    p.add_argument("--tokens", type=int, default=0)
    p.add_argument("--cost", type=float, default=0.0)
    p.add_argument("--echo-env", action="store_true")
    p.add_argument("--warn", default="")
    p.add_argument("--print-secret", default="", help="print the value of this env var")
    p.add_argument(
        "--secret-offset", type=int, default=0, help="with --print-secret: after N x's instead"
    )
    p.add_argument("--fail-unless-scope", action="store_true")
    p.add_argument("--fail-unless-file", help="exit 5 unless this workspace file exists")
    p.add_argument("--bad-first-result", action="store_true", help="attempt 1 gives no findings")
    p.add_argument("--pad-bytes", type=int, default=0, help="add a string this long to the result")
    p.add_argument("--deep", type=int, default=0, help="the findings nest lists this deep")
    p.add_argument("--deep-warning", type=int, default=0, help="a warning nested this deep")
    p.add_argument("--invalid-utf8", action="store_true", help="a byte 0xff inside the result")
    p.add_argument("--garbage-bytes", type=int, default=0, help="random bytes on stdout first")
    p.add_argument("--tail-blob", type=int, default=0, help="bytes with NUL, no newline, last")
    p.add_argument("--print-escaped", default="", help="print this text, backslash escapes decoded")
    p.add_argument("--wait-file", help="wait (up to 60 s) until this file exists")
    p.add_argument("--alloc-mb", type=int, default=0, help="hold this many MiB (touched)")
    p.add_argument(
        "--alloc-mb-scoped", type=int, help="with PHASEBOARD_SCOPE set: hold this many instead"
    )
    a = p.parse_args()

    attempt = int(os.environ.get("PHASEBOARD_ATTEMPT", "1"))
    print(f"agent {os.environ.get('PHASEBOARD_AGENT')} attempt {attempt} starting", flush=True)
    print("progress on stderr", file=sys.stderr, flush=True)
    for i in range(a.lines):
        sys.stdout.write(f"line {i:07d} " + "x" * 60 + "\n")
    sys.stdout.flush()
    if a.warn:
        print(message("warning", a.warn), flush=True)
    if a.print_secret:
        prefix = "x" * a.secret_offset if a.secret_offset else "the secret is "
        print(f"{prefix}{os.environ.get(a.print_secret, '')}", flush=True)
    if a.print_escaped:
        print(a.print_escaped.encode().decode("unicode_escape"), flush=True)
    if a.deep_warning:
        text = message("warning", "DEEP").replace(
            '"DEEP"', "[" * a.deep_warning + "]" * a.deep_warning
        )
        print(text, flush=True)
    if a.garbage_bytes:
        sys.stdout.buffer.write(random.Random(5).randbytes(a.garbage_bytes) + b"\n")
        sys.stdout.flush()
    if a.wait_file:
        deadline = time.monotonic() + 60
        while not Path(a.wait_file).exists() and time.monotonic() < deadline:
            time.sleep(0.01)
    scoped = a.alloc_mb_scoped is not None and os.environ.get("PHASEBOARD_SCOPE")
    hoard = [
        b"\x01" * (10 * 1024 * 1024)
        for _ in range((a.alloc_mb_scoped if scoped else a.alloc_mb) // 10)
    ]
    if hoard:
        print(f"holding {10 * len(hoard)} MiB", flush=True)
    if a.tokens or a.cost:
        session = {"session_id": f"s{attempt}"} if a.session else {}
        if a.session and os.environ.get("PHASEBOARD_PREVIOUS_SESSION"):
            session["resumed_session"] = os.environ["PHASEBOARD_PREVIOUS_SESSION"]
        print(message("info", "spent", tokens=a.tokens, cost_usd=a.cost, **session), flush=True)
    if a.sleep:
        time.sleep(a.sleep)
    if a.hang or attempt <= a.hang_attempts:
        while True:
            time.sleep(60)
    if attempt <= a.fail_attempts:
        print(f"failing attempt {attempt} on purpose", file=sys.stderr, flush=True)
        return 1
    if a.fail_unless_scope and not os.environ.get("PHASEBOARD_SCOPE"):
        print("needs a reduced scope", file=sys.stderr, flush=True)
        return 1
    workspace = Path(os.environ.get("PHASEBOARD_WORKSPACE", "."))
    if a.fail_unless_file and not (workspace / a.fail_unless_file).exists():
        print(f"{a.fail_unless_file} is missing", file=sys.stderr, flush=True)
        return 5
    for item in a.write:
        rel, _, text = item.partition("=")
        target = workspace / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    for rel in a.delete:
        (workspace / rel).unlink(missing_ok=True)
    if a.exit:
        return a.exit
    if a.broken_json:
        print(
            '{"header": {}, "body": {"message_type": "result", "content": {"findings": ', flush=True
        )
        return 0
    if a.no_result:
        return 0
    if a.result is not None:
        result = json.loads(a.result)
    else:
        summary = os.environ.get(a.summary_env, "") if a.summary_env else a.summary
        result = {
            "summary": summary,
            "findings": json.loads(a.findings),
            "risks": json.loads(a.risks),
        }
    if a.bad_first_result and attempt == 1:
        result = {"summary": "no findings this time"}
    if a.echo_env and isinstance(result, dict):
        result["env"] = {
            k: os.environ.get(k)
            for k in (
                "PHASEBOARD_SCOPE",
                "PHASEBOARD_FEEDBACK",
                "PHASEBOARD_ATTEMPT",
                "PHASEBOARD_STAGE",
                "PHASEBOARD_PREVIOUS_SESSION",
            )
        }
        inputs = os.environ.get("PHASEBOARD_INPUTS")
        if inputs and Path(inputs).exists():
            result["inputs_stages"] = sorted(json.loads(Path(inputs).read_text())["stages"])
    if a.pad_bytes and isinstance(result, dict):
        result["pad"] = "x" * a.pad_bytes
    if a.deep or a.invalid_utf8:
        raw = raw_result(result, a.deep, a.invalid_utf8, a.output_file)
        if a.output_file:
            Path(os.environ["PHASEBOARD_OUTPUT"]).write_bytes(raw)
        else:
            sys.stdout.buffer.write(raw + b"\n")
    elif a.output_file:
        Path(os.environ["PHASEBOARD_OUTPUT"]).write_text(json.dumps(result))
    else:
        print(message("result", result, tokens=0), flush=True)
    if a.tail_blob:
        unit = b"ab\x00cd\xffef"
        sys.stdout.flush()
        sys.stdout.buffer.write((unit * (a.tail_blob // len(unit) + 1))[: a.tail_blob])
    sys.stdout.flush()
    return 0


def raw_result(result: dict, deep: int, invalid_utf8: bool, bare: bool) -> bytes:
    """The result as bytes json cannot produce: nested past any recursion limit, or not UTF-8."""
    if deep:
        result = {**result, "findings": {"deep": "DEEP"}}
    text = json.dumps(result) if bare else message("result", result, tokens=0)
    raw = text.encode()
    if deep:
        raw = raw.replace(b'"DEEP"', b"[" * deep + b"]" * deep)
    if invalid_utf8:
        raw = raw.replace(b'"summary": "', b'"summary": "bad \xff\xfe bytes ', 1)
    return raw


if __name__ == "__main__":
    sys.exit(main())
