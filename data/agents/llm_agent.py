"""Adapter agent: one role of the workflow, answered by an LLM coding CLI: Claude Code
(``claude``), Codex (``codex``) or Gemini (``gemini``).

Run as ``{python} {data}/agents/llm_agent.py --role ROLE [--cli claude|codex|gemini|PATH]
[--dialect NAME] [--model M] [--stream]`` with cwd = workspace. It builds the role's prompt
(``llm_prompts``), runs the CLI without a shell (``llm_run``), streams progress while it waits,
takes the JSON findings out of the answer and reports them as a phaseboard result message with
the tokens and cost spent, so budgets apply. What each CLI prints, and how it is read, is in its
dialect's module (``llm_claude``, ``llm_codex``, ``llm_gemini``).

On a retry after a rejected answer (``PHASEBOARD_FEEDBACK``) with the session of the attempt
before (``PHASEBOARD_PREVIOUS_SESSION``), it continues that session with the feedback instead of
starting afresh (``--resume-sessions false`` turns that off).

Exit codes: 0 result emitted; 1 the CLI failed or gave no result; 65 the answer held no usable
JSON (the engine retries with ``PHASEBOARD_FEEDBACK``); 75 the CLI hit its turn limit; 124 our
own timeout; 127 the CLI is not installed, refused its arguments or its credentials.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import agentlib
import llm_claude
import llm_codex
import llm_gemini
from llm_claude import describe_event, parse_json_output, usage_totals
from llm_common import (
    EX_DATAERR,
    EX_EXHAUSTED,
    EX_NOTFOUND,
    AgentError,
    CallOptions,
    Prices,
    Reply,
    extract_json_object,
    one_line,
    prepend_entry,
    write_target,
)
from llm_prompts import DEFAULT_MAX_INPUT_CHARS, ROLES, Target, build_followup, build_prompt, role
from llm_run import Call, run_cli

__all__ = [
    "describe_event",
    "extract_json_object",
    "main",
    "parse_json_output",
    "prepend_entry",
    "usage_totals",
    "write_target",
]

DIALECTS: dict[str, ModuleType] = {"claude": llm_claude, "codex": llm_codex, "gemini": llm_gemini}
FAILURE_CODES = {"turn_limit": EX_EXHAUSTED, "bad_input": EX_NOTFOUND, "credentials": EX_NOTFOUND}
PREVIOUS_SESSION = "PHASEBOARD_PREVIOUS_SESSION"


def _flag(text: str) -> bool:
    return text.strip().lower() in ("1", "true", "yes", "on")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add = parser.add_argument
    add("--role", required=True, choices=sorted(ROLES))
    add("--cli", default="claude", help="the CLI to run: a name found on PATH, or a path")
    add("--dialect", default="", choices=["", *DIALECTS], help="when --cli does not name it")
    add("--model", default="", help="passed as --model when not empty")
    add("--stream", action="store_true", help="stream the CLI's events (progress as it works)")
    add(
        "--cli-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra argument for the CLI, repeatable (write --cli-arg=--flag for a flag)",
    )
    add("--timeout", type=float, default=1500.0, help="seconds for the CLI call")
    add("--heartbeat", type=float, default=15.0, help="seconds between waits")
    add("--max-input-chars", type=int, default=DEFAULT_MAX_INPUT_CHARS)
    add("--max-turns", type=int, default=0, help="the CLI's turn limit (0: its own default)")
    add("--tools", default="", choices=["", "read", "collect", "tests"], help="what it may run")
    add("--resume-sessions", type=_flag, default=True, help="continue the session on a retry")
    add("--price-in", type=float, default=0.0, help="USD per million input tokens")
    add("--price-out", type=float, default=0.0, help="USD per million output tokens")
    add("--price-cached", type=float, default=0.0, help="USD per million cached input tokens")
    add(
        "--inputs",
        action="append",
        default=None,
        metavar="STAGE",
        help="earlier stage whose results the prompt carries (default: the role's own choice)",
    )
    add("--target", default="", help="file an implementation role writes")
    return parser.parse_args(argv)


def choose_dialect(cli: str, dialect: str) -> ModuleType:
    """The dialect named, else the one the CLI's file name says (``claude``, ``codex``...)."""
    if dialect:
        return DIALECTS[dialect]
    name = Path(cli).name.lower()
    for key, module in DIALECTS.items():
        if key in name:
            return module
    raise AgentError(
        f"cannot tell which CLI {cli!r} is: say it with --dialect claude|codex|gemini "
        "(in the bundled workflow, --set dialect=...)",
        EX_NOTFOUND,
    )


def run(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    spec = role(args.role)
    workspace = Path(os.environ.get("PHASEBOARD_WORKSPACE") or os.getcwd()).resolve()
    target = spec.target
    if target is not None and args.target:
        target = Target(args.target, target.mode)
    dialect = choose_dialect(args.cli, args.dialect)
    executable = shutil.which(args.cli)
    if executable is None:
        raise AgentError(
            f"{args.cli!r} was not found on PATH: install the CLI (`{dialect.INSTALL}`) or name "
            "another one with --cli",
            EX_NOTFOUND,
        )
    feedback, previous = agentlib.feedback(), os.environ.get(PREVIOUS_SESSION) or None
    resume = previous if feedback and previous and args.resume_sessions else None
    if resume and feedback:
        prompt = build_followup(spec, feedback=feedback, scope=agentlib.scope())
    else:
        prompt = build_prompt(
            spec,
            workspace=str(workspace),
            inputs=agentlib.load_inputs(),
            feedback=feedback,
            scope=agentlib.scope(),
            max_input_chars=args.max_input_chars,
            wanted_inputs=tuple(args.inputs) if args.inputs is not None else None,
        )
    stream = args.stream or dialect.NAME == "codex"  # codex exec --json prints events only
    call = CallOptions(
        model=args.model,
        stream=stream,
        max_turns=0 if dialect.COUNTS_STEPS else args.max_turns,
        tools=args.tools,
        resume=resume,
        extra=tuple(args.cli_arg),
    )
    continuing = f", continuing session {resume}" if resume else ""
    agentlib.progress(
        f"asking {args.cli} ({dialect.NAME}, {args.model or 'default model'}) as {spec.name}: "
        f"prompt of {len(prompt)} chars{continuing}"
    )
    reader = dialect.reader(stream)
    done = run_cli(
        dialect.command(executable, prompt, call),
        reader,
        cwd=workspace,
        stream=stream,
        timeout_s=args.timeout,
        heartbeat_s=args.heartbeat,
        max_steps=args.max_turns if dialect.COUNTS_STEPS else 0,
    )
    reply = reader.reply(done.stdout, done.stderr, done.returncode)
    return finish(reply, done, args, dialect, target, workspace, resume)


def spending(
    reply: Reply, args: argparse.Namespace, dialect: ModuleType, resume: str | None
) -> dict[str, Any]:
    """The message metadata of a call: tokens, cost (estimated when the CLI reports none), the
    session used and the one continued."""
    estimated = not dialect.REPORTS_COST or reply.cost_usd is None
    prices = Prices(args.price_in, args.price_out, args.price_cached)
    cost = prices.estimate(reply, dialect.CACHED_IN_INPUT) if estimated else reply.cost_usd
    spent: dict[str, Any] = {"tokens": reply.tokens, "cost_usd": cost}
    if estimated:
        spent["cost_estimated"] = True
    if reply.session_id:
        spent["session_id"] = reply.session_id
    if resume:
        spent["resumed_session"] = resume
    return spent


def finish(
    reply: Reply,
    done: Call,
    args: argparse.Namespace,
    dialect: ModuleType,
    target: Target | None,
    workspace: Path,
    resume: str | None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    spent = spending(reply, args, dialect, resume)
    tail = one_line(" | ".join(done.stderr_tail[-3:] or done.stdout.splitlines()[-3:]), 400)
    if not reply.complete:
        raise AgentError(
            f"{args.cli} exited with code {done.returncode} without a result object"
            + (f": {tail}" if tail else ""),
            **spent,
        )
    if reply.error:
        hint = ""
        if not any(os.environ.get(name) for name in dialect.CREDENTIALS):
            keys = " or ".join(dialect.CREDENTIALS)
            hint = f" ({keys} is not set: set it, or log the CLI in)"
        code = FAILURE_CODES.get(reply.failure, 1)
        raise AgentError(f"{args.cli} {reply.error}{hint}", code, **spent)
    if done.returncode != 0:
        raise AgentError(f"{args.cli} exited with code {done.returncode}: {tail}", **spent)
    if spent.get("cost_estimated"):
        agentlib.progress(
            f"cost ${spent['cost_usd']:.4f}, estimated from {reply.tokens} tokens at the "
            "workflow's prices (the CLI reports no cost)"
        )
    answer = extract_json_object(reply.text) if reply.text else None
    if answer is None:
        raise AgentError(
            "the answer held no JSON object (expected one in a ```json block): "
            + one_line(str(reply.text or ""), 300),
            EX_DATAERR,
            **spent,
        )
    if target is not None:
        content = answer.pop("content", None)
        if not isinstance(content, str) or not content.strip():
            raise AgentError(
                f'the answer held no "content" with the text for {target.path}', EX_DATAERR, **spent
            )
        change = write_target(target, content, workspace)
        agentlib.progress(f"{change['action']} {change['path']} ({change['bytes']} bytes)")
        answer["findings"] = _dict(answer.get("findings"))
        answer["findings"]["changes"] = {args.role: change}
        answer["metrics"] = _dict(answer.get("metrics"))
        answer["metrics"]["files_changed"] = int(change["action"] != "unchanged")
    answer["metrics"] = _dict(answer.get("metrics"))
    answer["metrics"]["llm"] = {
        "cli": dialect.NAME,
        "model": args.model or reply.model or None,
        "tokens": spent["tokens"],
        "cost_usd": spent["cost_usd"],
        "cost_estimated": bool(spent.get("cost_estimated")),
        **{
            k: reply.usage[k]
            for k in sorted(reply.usage)
            if isinstance(reply.usage[k], int | float)
        },
        "num_turns": reply.num_turns,
        "duration_ms": reply.duration_ms,
        "session_id": reply.session_id,
        "resumed_session": resume,
    }
    return answer, spent


def _dict(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        content, spent = run(args)
    except AgentError as exc:
        agentlib.emit("error", str(exc), priority="critical", **exc.metadata)
        return exc.code
    except OSError as exc:
        agentlib.emit("error", f"could not run {args.cli}: {exc}", priority="critical")
        return 1
    except json.JSONDecodeError as exc:
        agentlib.emit("error", f"$PHASEBOARD_INPUTS is not valid JSON: {exc}", priority="critical")
        return 1
    agentlib.result(content, **spent)
    return 0


if __name__ == "__main__":
    sys.exit(main())
