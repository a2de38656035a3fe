#!/usr/bin/env python3
"""A configurable agent for the engine's tests: it speaks the real protocol, for real."""

from __future__ import annotations

import argparse
import json
import os
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
    p.add_argument("--tokens", type=int, default=0)
    p.add_argument("--cost", type=float, default=0.0)
    p.add_argument("--echo-env", action="store_true")
    p.add_argument("--warn", default="")
    p.add_argument("--print-secret", default="", help="print the value of this env var")
    p.add_argument("--fail-unless-scope", action="store_true")
    p.add_argument("--fail-unless-file", help="exit 5 unless this workspace file exists")
    p.add_argument("--bad-first-result", action="store_true", help="attempt 1 gives no findings")
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
        print(f"the secret is {os.environ.get(a.print_secret, '')}", flush=True)
    if a.tokens or a.cost:
        print(message("info", "spent", tokens=a.tokens, cost_usd=a.cost), flush=True)
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
            )
        }
        inputs = os.environ.get("PHASEBOARD_INPUTS")
        if inputs and Path(inputs).exists():
            result["inputs_stages"] = sorted(json.loads(Path(inputs).read_text())["stages"])
    if a.output_file:
        Path(os.environ["PHASEBOARD_OUTPUT"]).write_text(json.dumps(result))
    else:
        print(message("result", result, tokens=0), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
