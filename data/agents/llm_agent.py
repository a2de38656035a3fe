"""Adapter agent: one role of the workflow, answered by an LLM coding CLI (``claude -p``).

Run as ``{python} {data}/agents/llm_agent.py --role ROLE [--cli claude] [--model M] [--stream]``
with cwd = workspace. It builds the role's prompt (``llm_prompts``), runs the CLI without a
shell, streams progress while it waits, takes the JSON findings out of the answer and reports
them as a phaseboard result message with the tokens and cost spent, so budgets apply.

Exit codes: 0 result emitted; 1 the CLI failed or reported ``is_error``; 65 the answer held no
usable JSON (the engine retries with ``PHASEBOARD_FEEDBACK``); 124 our own timeout; 127 the
CLI is not installed.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import agentlib
from llm_prompts import DEFAULT_MAX_INPUT_CHARS, ROLES, Target, build_prompt, role

EX_DATAERR = 65
EX_TIMEOUT = 124
EX_NOTFOUND = 127
_DRAIN_S = 5.0
_MAX_STDOUT_BYTES = 64 * 1024 * 1024
_SNIPPET = 160
_SHAPE_KEYS = ("findings", "decisions", "summary")
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)```", re.S)


class AgentError(Exception):
    """Ends the attempt: an error message, metadata worth keeping, and an exit code."""

    def __init__(self, message: str, code: int = 1, **metadata: Any) -> None:
        super().__init__(message)
        self.code = code
        self.metadata = metadata


@dataclass
class CliOutcome:
    returncode: int | None
    final: dict[str, Any] | None
    """The CLI's ``type: result`` object, if one was printed."""
    stdout_tail: list[str] = field(default_factory=list)
    stderr_tail: list[str] = field(default_factory=list)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--role", required=True, choices=sorted(ROLES))
    parser.add_argument("--cli", default="claude", help="the CLI to run, found on PATH")
    parser.add_argument("--model", default="", help="passed as --model when not empty")
    parser.add_argument("--stream", action="store_true", help="use --output-format stream-json")
    parser.add_argument(
        "--cli-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra argument for the CLI, repeatable (write --cli-arg=--flag for a flag)",
    )
    parser.add_argument("--timeout", type=float, default=1500.0, help="seconds for the CLI call")
    parser.add_argument("--heartbeat", type=float, default=15.0, help="seconds between waits")
    parser.add_argument("--max-input-chars", type=int, default=DEFAULT_MAX_INPUT_CHARS)
    parser.add_argument(
        "--inputs",
        action="append",
        default=None,
        metavar="STAGE",
        help="earlier stage whose results the prompt carries (default: the role's own choice)",
    )
    parser.add_argument("--target", default="", help="file an implementation role writes")
    return parser.parse_args(argv)


def one_line(text: str, limit: int = _SNIPPET) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def extract_json_object(text: str) -> dict[str, Any] | None:
    """The answer's JSON object: a fenced block first, else the first top-level ``{...}``.

    Among the objects that parse, one carrying a key of the result shape wins over one that
    does not (a model may quote an example before its answer).
    """
    fenced: list[dict[str, Any]] = []
    for match in _FENCE.finditer(text):
        lang, body = match.group(1).lower(), match.group(2)
        if lang not in ("", "json", "jsonc", "json5"):
            continue
        try:
            value = json.loads(body)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict):
            fenced.append(value)
    candidates = fenced + _bare_objects(text)
    for value in candidates:
        if any(key in value for key in _SHAPE_KEYS):
            return value
    return candidates[0] if candidates else None


def _bare_objects(text: str) -> list[dict[str, Any]]:
    decoder = json.JSONDecoder()
    found: list[dict[str, Any]] = []
    index = text.find("{")
    while index != -1:
        try:
            value, end = decoder.raw_decode(text, index)
        except json.JSONDecodeError:
            index = text.find("{", index + 1)
            continue
        if isinstance(value, dict):
            found.append(value)
        index = text.find("{", end)
    return found


def describe_event(event: dict[str, Any]) -> list[str]:
    """Progress lines for one stream-json event (one per content block of a message)."""
    kind = event.get("type")
    if kind == "system":
        if event.get("subtype") == "init":
            tools = event.get("tools") or []
            return [f"session started: model {event.get('model', '?')}, {len(tools)} tools"]
        return [f"system: {event.get('subtype', '')}"]
    if kind in ("assistant", "user"):
        message = event.get("message") or {}
        content = message.get("content")
        if isinstance(content, str):
            return [f"{kind}: {one_line(content)}"] if content.strip() else []
        lines: list[str] = []
        for block in content or []:
            if not isinstance(block, dict):
                continue
            btype = block.get("type")
            if btype == "text" and str(block.get("text", "")).strip():
                lines.append(f"{kind}: {one_line(block['text'])}")
            elif btype == "tool_use":
                lines.append(f"tool: {block.get('name', '?')} {_tool_hint(block.get('input'))}")
            elif btype == "tool_result":
                size = len(json.dumps(block.get("content", ""), default=str))
                failed = " (error)" if block.get("is_error") else ""
                lines.append(f"tool result: {size} chars{failed}")
            elif btype == "thinking":
                lines.append("thinking...")
        return [line.rstrip() for line in lines]
    if kind == "result":
        tokens, cost = usage_totals(event)
        return [
            f"finished: {event.get('subtype', '?')}, {event.get('num_turns', '?')} turns, "
            f"{tokens} tokens, ${cost:.4f}, {float(event.get('duration_ms') or 0) / 1000:.1f}s"
        ]
    return [f"event: {kind}"] if kind else []


def _tool_hint(tool_input: Any) -> str:
    if not isinstance(tool_input, dict):
        return ""
    for key in ("file_path", "path", "notebook_path"):
        if key in tool_input:
            text = " ".join(str(tool_input[key]).split())
            return text if len(text) <= 80 else "..." + text[-77:]
    for key in ("pattern", "command", "url", "description"):
        if key in tool_input:
            return one_line(str(tool_input[key]), 80)
    return ""


def usage_totals(final: dict[str, Any]) -> tuple[int, float]:
    """Tokens (input + output) and cost in USD of a CLI result object."""
    usage = final.get("usage") if isinstance(final.get("usage"), dict) else {}
    tokens = 0
    for key in ("input_tokens", "output_tokens"):
        with contextlib.suppress(TypeError, ValueError):
            tokens += int(usage.get(key) or 0)
    try:
        cost = float(final.get("total_cost_usd", final.get("cost_usd")) or 0.0)
    except (TypeError, ValueError):
        cost = 0.0
    return tokens, cost


def parse_json_output(text: str) -> dict[str, Any] | None:
    """The result object of ``--output-format json`` (an object, an event list, or JSON lines)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = None
        for line in text.splitlines():
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(event, dict) and event.get("type") == "result":
                value = event
    if isinstance(value, list):
        results = [
            item for item in value if isinstance(item, dict) and item.get("type") == "result"
        ]
        value = results[-1] if results else None
    return value if isinstance(value, dict) and value.get("type") == "result" else None


def _pump(stream: IO[bytes], name: str, sink: queue.Queue[tuple[str, bytes | None]]) -> None:
    for raw in iter(stream.readline, b""):
        sink.put((name, raw))
    sink.put((name, None))


def run_cli(
    command: list[str], *, cwd: Path, stream: bool, timeout_s: float, heartbeat_s: float
) -> CliOutcome:
    """Run the CLI, echoing progress, until it exits (and its pipes drain) or ``timeout_s``."""
    proc = subprocess.Popen(
        command, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    sink: queue.Queue[tuple[str, bytes | None]] = queue.Queue()
    assert proc.stdout is not None and proc.stderr is not None
    for pipe, name in ((proc.stdout, "stdout"), (proc.stderr, "stderr")):
        threading.Thread(target=_pump, args=(pipe, name, sink), daemon=True).start()
    started = last_shown = time.monotonic()
    exited_at: float | None = None
    open_streams, stdout_size = 2, 0
    stdout: list[str] = []
    stderr: list[str] = []
    final: dict[str, Any] | None = None
    while open_streams:
        now = time.monotonic()
        if now - started >= timeout_s:
            _stop(proc)
            raise AgentError(f"{command[0]} gave no answer within {timeout_s:g}s", EX_TIMEOUT)
        if exited_at is None and proc.poll() is not None:
            exited_at = now
        if exited_at is not None and now - exited_at > _DRAIN_S:
            break
        try:
            name, raw = sink.get(timeout=max(0.05, min(1.0, last_shown + heartbeat_s - now)))
        except queue.Empty:
            if time.monotonic() - last_shown >= heartbeat_s:
                agentlib.progress(f"waiting for {Path(command[0]).name}: {now - started:.0f}s")
                last_shown = time.monotonic()
            continue
        if raw is None:
            open_streams -= 1
            continue
        line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
        if name == "stderr":
            stderr = [*stderr[-19:], line]
            sys.stderr.write(f"{Path(command[0]).name}: {one_line(line, 500)}\n")
            continue
        stdout_size += len(raw)
        if stdout_size > _MAX_STDOUT_BYTES:
            _stop(proc)
            raise AgentError(f"{command[0]} printed more than {_MAX_STDOUT_BYTES} bytes")
        if not stream:
            stdout.append(line)
            continue
        stdout = [*stdout[-19:], line]
        event = _json_or_none(line)
        if event is None:
            agentlib.progress(f"output: {one_line(line)}")
        else:
            for text in describe_event(event):
                agentlib.progress(text)
            if event.get("type") == "result":
                final = event
        last_shown = time.monotonic()
    returncode = proc.wait(timeout=_DRAIN_S) if proc.poll() is None else proc.returncode
    if not stream:
        final = parse_json_output("\n".join(stdout))
        if final is not None:
            for text in describe_event(final):
                agentlib.progress(text)
        stdout = stdout[-20:]
    return CliOutcome(returncode, final, stdout, stderr)


def _json_or_none(line: str) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=_DRAIN_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def write_target(target: Target, content: str, workspace: Path) -> dict[str, Any]:
    """Write an implementation role's file atomically; what was done, for the findings."""
    root = workspace.resolve()
    path = (root / target.path).resolve()
    if Path(target.path).is_absolute() or not path.is_relative_to(root):
        raise AgentError(f"target {target.path!r} is outside the workspace")
    old = path.read_text(encoding="utf-8") if path.is_file() else None
    new = content.rstrip("\n") + "\n"
    if target.mode == "prepend_entry":
        new = prepend_entry(old or "", content)
    action = "created" if old is None else ("unchanged" if old == new else "updated")
    if action != "unchanged":
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.phaseboard-tmp")
        tmp.write_text(new, encoding="utf-8")
        os.replace(tmp, path)
    return {
        "path": target.path,
        "action": action,
        "bytes": len(new.encode("utf-8")),
        "sha256": hashlib.sha256(new.encode("utf-8")).hexdigest()[:16],
    }


def prepend_entry(old: str, entry: str) -> str:
    """``old`` changelog with ``entry`` above its first ``## `` entry (under its title)."""
    body = entry.strip("\n")
    if not body.lstrip().startswith("#"):
        today = datetime.now(UTC).date().isoformat()
        body = f"## {today} - phaseboard review\n\n{body}"
    body += "\n"
    if not old.strip():
        return f"# Changelog\n\n{body}"
    lines = old.splitlines(keepends=True)
    for index, line in enumerate(lines):
        if line.startswith("## "):
            return "".join(lines[:index]) + body + "\n" + "".join(lines[index:])
    return old.rstrip("\n") + "\n\n" + body


def build_result(final: dict[str, Any], answer: dict[str, Any], model: str) -> dict[str, Any]:
    """The answer, with the CLI's own accounting added under ``metrics.llm``."""
    usage = final.get("usage") if isinstance(final.get("usage"), dict) else {}
    tokens, cost = usage_totals(final)
    content = dict(answer)
    metrics = content.get("metrics")
    content["metrics"] = dict(metrics) if isinstance(metrics, dict) else {}
    content["metrics"]["llm"] = {
        "model": model or None,
        "tokens": tokens,
        "cost_usd": cost,
        **{key: usage[key] for key in sorted(usage) if isinstance(usage[key], int | float)},
        "num_turns": final.get("num_turns"),
        "duration_ms": final.get("duration_ms"),
        "session_id": final.get("session_id"),
    }
    return content


def run(args: argparse.Namespace) -> dict[str, Any]:
    spec = role(args.role)
    workspace = Path(os.environ.get("PHASEBOARD_WORKSPACE") or os.getcwd()).resolve()
    target = spec.target
    if target is not None and args.target:
        target = Target(args.target, target.mode)
    executable = shutil.which(args.cli)
    if executable is None:
        raise AgentError(
            f"{args.cli!r} was not found on PATH: install the CLI (for Claude Code: "
            "`npm install -g @anthropic-ai/claude-code`) or name another one with --cli",
            EX_NOTFOUND,
        )
    prompt = build_prompt(
        spec,
        workspace=str(workspace),
        inputs=agentlib.load_inputs(),
        feedback=agentlib.feedback(),
        scope=agentlib.scope(),
        max_input_chars=args.max_input_chars,
        wanted_inputs=tuple(args.inputs) if args.inputs is not None else None,
    )
    fmt = "stream-json" if args.stream else "json"
    command = [executable, "-p", prompt, "--output-format", fmt]
    command += ["--verbose"] if args.stream else []
    command += ["--model", args.model] if args.model else []
    command += args.cli_arg
    agentlib.progress(
        f"asking {args.cli} ({args.model or 'default model'}, {fmt}) as {spec.name}: "
        f"prompt of {len(prompt)} chars"
    )
    outcome = run_cli(
        command,
        cwd=workspace,
        stream=args.stream,
        timeout_s=args.timeout,
        heartbeat_s=args.heartbeat,
    )
    return finish(outcome, args, target, workspace)


def finish(
    outcome: CliOutcome, args: argparse.Namespace, target: Target | None, workspace: Path
) -> dict[str, Any]:
    final = outcome.final
    if final is None:
        tail = one_line(" | ".join(outcome.stderr_tail[-3:] or outcome.stdout_tail[-3:]), 400)
        raise AgentError(
            f"{args.cli} exited with code {outcome.returncode} without a result object"
            + (f": {tail}" if tail else "")
        )
    tokens, cost = usage_totals(final)
    spent = {"tokens": tokens, "cost_usd": cost}
    text = final.get("result")
    if final.get("is_error") or str(final.get("subtype", "")).startswith("error"):
        hint = ""
        if not os.environ.get("ANTHROPIC_API_KEY"):
            hint = " (ANTHROPIC_API_KEY is not set: set it, or log the CLI in)"
        raise AgentError(
            f"{args.cli} reported an error ({final.get('subtype', 'error')}): "
            f"{one_line(str(text or ''), 400)}{hint}",
            **spent,
        )
    if outcome.returncode != 0:
        tail = one_line(" | ".join(outcome.stderr_tail[-3:]), 400)
        raise AgentError(f"{args.cli} exited with code {outcome.returncode}: {tail}", **spent)
    answer = extract_json_object(text) if isinstance(text, str) else None
    if answer is None:
        raise AgentError(
            "the answer held no JSON object (expected one in a ```json block): "
            + one_line(str(text or ""), 300),
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
        findings = answer.get("findings")
        answer["findings"] = dict(findings) if isinstance(findings, dict) else {}
        answer["findings"]["changes"] = {args.role: change}
        metrics = answer.get("metrics")
        answer["metrics"] = dict(metrics) if isinstance(metrics, dict) else {}
        answer["metrics"]["files_changed"] = int(change["action"] != "unchanged")
    return {
        "content": build_result(final, answer, args.model or str(final.get("model") or "")),
        **spent,
    }


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        outcome = run(args)
    except AgentError as exc:
        agentlib.emit("error", str(exc), priority="critical", **exc.metadata)
        return exc.code
    except OSError as exc:
        agentlib.emit("error", f"could not run {args.cli}: {exc}", priority="critical")
        return 1
    except json.JSONDecodeError as exc:
        agentlib.emit("error", f"$PHASEBOARD_INPUTS is not valid JSON: {exc}", priority="critical")
        return 1
    agentlib.result(outcome["content"], tokens=outcome["tokens"], cost_usd=outcome["cost_usd"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
