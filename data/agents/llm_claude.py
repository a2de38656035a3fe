"""The Claude Code dialect of the LLM adapter: ``claude -p PROMPT --output-format
stream-json --verbose`` (or ``json``), continued with ``--resume SESSION``.

Claude Code prints one event a line (``system`` init, ``assistant`` and ``user`` messages with
their content blocks, a final ``type: result``); with ``json``, the result object alone. The
result carries the answer (``result``), ``total_cost_usd``, ``usage`` (input, output, cache
creation and cache read tokens: cache reads are not part of ``input_tokens``), ``session_id``,
``num_turns`` and, on failure, ``is_error`` and an ``error_*`` subtype (``error_max_turns``
when ``--max-turns`` was reached).
"""

from __future__ import annotations

import json
import re
from typing import Any

import agentlib
from llm_common import CallOptions, Reply, as_int, json_or_none, one_line, tool_hint

NAME = "claude"
INSTALL = "npm install -g @anthropic-ai/claude-code"
CREDENTIALS = ("ANTHROPIC_API_KEY",)
REPORTS_COST = True
CACHED_IN_INPUT = False
COUNTS_STEPS = False
"""It has a turn limit of its own (``--max-turns``)."""
_REFUSED = re.compile(
    r"^error: (unknown option|too many arguments|option '.*' argument missing)", re.M
)
"""What Claude Code (commander) prints on stderr, exiting 1, when it refuses its arguments."""
_READ = "Read,Grep,Glob,LS"
TOOLS = {
    "read": _READ,
    "collect": _READ + ",Bash(pytest --collect-only:*),Bash(python -m pytest --collect-only:*)",
    "tests": _READ
    + ",Bash(pytest:*),Bash(python -m pytest:*),Bash(python3 -m pytest:*),Bash(uv run pytest:*)"
    + ",Bash(npm test:*),Bash(go test:*),Bash(cargo test:*)",
}


def command(executable: str, prompt: str, call: CallOptions) -> list[str]:
    fmt = "stream-json" if call.stream else "json"
    argv = [executable, "-p", prompt, "--output-format", fmt]
    argv += ["--verbose"] if call.stream else []
    argv += ["--resume", call.resume] if call.resume else []
    argv += ["--model", call.model] if call.model else []
    argv += ["--max-turns", str(call.max_turns)] if call.max_turns else []
    argv += ["--allowedTools", TOOLS[call.tools]] if call.tools in TOOLS else []
    return argv + list(call.extra)


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
                lines.append(f"tool: {block.get('name', '?')} {tool_hint(block.get('input'))}")
            elif btype == "tool_result":
                size = len(json.dumps(block.get("content", ""), default=str))
                failed = " (error)" if block.get("is_error") else ""
                lines.append(f"tool result: {size} chars{failed}")
            elif btype == "thinking":
                lines.append("thinking...")
        return [line.rstrip() for line in lines]
    if kind == "result":
        tokens, cost = usage_totals(event)
        answer = len(str(event.get("result") or ""))
        return [
            f"finished: {event.get('subtype', '?')}, {event.get('num_turns', '?')} turns, "
            f"answer of {answer} chars, {tokens} tokens, ${cost:.4f}, "
            f"{float(event.get('duration_ms') or 0) / 1000:.1f}s"
        ]
    return [f"event: {kind}"] if kind else []


def usage_totals(final: dict[str, Any]) -> tuple[int, float]:
    """Tokens (input + output) and cost in USD of a CLI result object."""
    usage = final.get("usage") if isinstance(final.get("usage"), dict) else {}
    tokens = as_int(usage.get("input_tokens")) + as_int(usage.get("output_tokens"))
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
            event = json_or_none(line)
            if event is not None and event.get("type") == "result":
                value = event
    if isinstance(value, list):
        results = [
            item for item in value if isinstance(item, dict) and item.get("type") == "result"
        ]
        value = results[-1] if results else None
    return value if isinstance(value, dict) and value.get("type") == "result" else None


class StreamReader:
    def __init__(self, stream: bool) -> None:
        self.stream = stream
        self.steps = 0
        self.final: dict[str, Any] | None = None

    def line(self, text: str) -> list[str]:
        event = json_or_none(text)
        if event is None:
            return [f"output: {one_line(text)}"]
        if event.get("type") == "result":
            self.final = event
        lines = describe_event(event)
        self.steps += sum(1 for line in lines if line.startswith("tool: "))
        return lines

    def reply(self, stdout: str, stderr: str, returncode: int | None) -> Reply:
        final = self.final if self.stream else parse_json_output(stdout)
        if final is None and (refused := _REFUSED.search(stderr)):
            line = stderr[refused.start() :].splitlines()[0]
            return Reply(complete=True, error=f"refused its arguments: {line}", failure="bad_input")
        if final is None:
            return Reply()
        if not self.stream:
            for text in describe_event(final):
                agentlib.progress(text)
        usage = final.get("usage") if isinstance(final.get("usage"), dict) else {}
        _, cost = usage_totals(final)
        text = final.get("result")
        reply = Reply(
            text=text if isinstance(text, str) else None,
            complete=True,
            session_id=final.get("session_id") or None,
            model=final.get("model") or None,
            usage={k: v for k, v in usage.items() if isinstance(v, int | float)},
            input_tokens=as_int(usage.get("input_tokens")),
            output_tokens=as_int(usage.get("output_tokens")),
            cached_tokens=as_int(usage.get("cache_read_input_tokens")),
            cost_usd=cost,
            num_turns=final.get("num_turns"),
            duration_ms=final.get("duration_ms"),
        )
        subtype = str(final.get("subtype", ""))
        if final.get("is_error") or subtype.startswith("error"):
            reply.error = (
                f"reported an error ({subtype or 'error'}): {one_line(str(text or ''), 400)}"
            )
            reply.failure = "turn_limit" if subtype == "error_max_turns" else ""
            if "api key" in str(text).lower() or "/login" in str(text):
                reply.failure = "credentials"
        return reply


def reader(stream: bool) -> StreamReader:
    return StreamReader(stream)
