"""The Codex CLI dialect of the LLM adapter: ``codex exec --json --skip-git-repo-check PROMPT``,
continued with ``codex exec --json ... resume SESSION PROMPT``.

``codex exec --json`` prints one JSON object a line: ``thread.started`` (its ``thread_id`` is
the session to resume), ``turn.started``, ``item.started`` / ``item.updated`` /
``item.completed`` (items of type ``agent_message``, ``reasoning``, ``command_execution``,
``file_change``, ``mcp_tool_call``, ``web_search``, ``todo_list``, ``error``),
``turn.completed`` with ``usage`` (``input_tokens``, of which ``cached_input_tokens`` came from
the provider's cache, and ``output_tokens``), ``turn.failed`` and ``error``. The answer is the
last ``agent_message``. Codex reports no cost (it is priced from the workflow's price table)
and has no turn flag: the adapter counts its steps (commands, file changes, tool calls,
searches) against ``max_turns``. It exits 2 when it refuses its arguments.
"""

from __future__ import annotations

from typing import Any

from llm_common import CallOptions, Reply, as_int, json_or_none, one_line, tool_hint

NAME = "codex"
INSTALL = "npm install -g @openai/codex"
CREDENTIALS = ("OPENAI_API_KEY", "CODEX_API_KEY")
REPORTS_COST = False
CACHED_IN_INPUT = True
COUNTS_STEPS = True
TOOLS: dict[str, str] = {}
"""Codex has no tool allowlist: it runs commands in its sandbox (read-only unless configured)."""
EX_USAGE = 2
_STEPS = ("command_execution", "file_change", "mcp_tool_call", "web_search")


def command(executable: str, prompt: str, call: CallOptions) -> list[str]:
    argv = [executable, "exec", "--json", "--skip-git-repo-check"]
    argv += ["--model", call.model] if call.model else []
    argv += list(call.extra)
    return argv + (["resume", call.resume, prompt] if call.resume else [prompt])


def describe_item(kind: str, item: dict[str, Any]) -> list[str]:
    """Progress lines for an ``item.*`` event (``started`` items say what begins, ``completed``
    ones how it ended; ``updated`` ones only for the to-do list)."""
    itype = item.get("type")
    done = kind == "item.completed"
    if itype == "agent_message" and done:
        text = str(item.get("text") or "")
        return [f"answer: {len(text)} chars: {one_line(text, 120)}"]
    if itype == "reasoning" and done:
        return [f"thinking: {one_line(str(item.get('text') or ''), 120)}"]
    if itype == "command_execution":
        if not done:
            return [f"command: {one_line(str(item.get('command') or ''), 120)}"]
        output = str(item.get("aggregated_output") or "")
        return [
            f"command {item.get('status', 'done')}: exit {item.get('exit_code')}, "
            f"{len(output)} chars of output"
        ]
    if itype == "file_change" and done:
        changes = item.get("changes") or []
        files = ", ".join(
            f"{c.get('kind', '?')} {c.get('path', '?')}" for c in changes if isinstance(c, dict)
        )
        return [f"files changed ({item.get('status', '?')}): {one_line(files, 120)}"]
    if itype == "mcp_tool_call" and not done:
        hint = tool_hint(item.get("arguments"))
        return [f"tool: {item.get('server', '?')}.{item.get('tool', '?')} {hint}".rstrip()]
    if itype == "mcp_tool_call":
        return [f"tool result: {item.get('status', '?')}"]
    if itype == "web_search" and not done:
        return [f"web search: {one_line(str(item.get('query') or ''), 120)}"]
    if itype == "todo_list":
        todo = [t for t in item.get("items") or [] if isinstance(t, dict)]
        return [f"to-do: {sum(1 for t in todo if t.get('completed'))} of {len(todo)} done"]
    if itype == "error":
        return [f"error: {one_line(str(item.get('message') or ''), 200)}"]
    return []


class StreamReader:
    def __init__(self, stream: bool) -> None:
        self.steps = 0
        self.session: str | None = None
        self.answer: str | None = None
        self.usage: dict[str, int] = {}
        self.turns = 0
        self.error: str | None = None
        self.events = 0

    def line(self, text: str) -> list[str]:
        event = json_or_none(text)
        if event is None or not isinstance(event.get("type"), str):
            return [f"output: {one_line(text)}"] if text.strip() else []
        self.events += 1
        kind = event["type"]
        if kind == "thread.started":
            self.session = str(event.get("thread_id") or "") or None
            return [f"session started: thread {self.session}"]
        if kind == "turn.started":
            return ["turn started"]
        if kind.startswith("item."):
            item = event.get("item") if isinstance(event.get("item"), dict) else {}
            if kind == "item.started" and item.get("type") in _STEPS:
                self.steps += 1
            if kind == "item.completed" and item.get("type") == "agent_message":
                self.answer = str(item.get("text") or "")
            return describe_item(kind, item)
        if kind == "turn.completed":
            self.turns += 1
            usage = event.get("usage") if isinstance(event.get("usage"), dict) else {}
            for key, value in usage.items():
                self.usage[key] = self.usage.get(key, 0) + as_int(value)
            return [
                f"finished: turn {self.turns}, {as_int(usage.get('input_tokens'))} tokens in "
                f"({as_int(usage.get('cached_input_tokens'))} cached), "
                f"{as_int(usage.get('output_tokens'))} out"
            ]
        if kind in ("turn.failed", "error"):
            error = event.get("error") if isinstance(event.get("error"), dict) else event
            self.error = str(error.get("message") or kind)
            return [f"{kind}: {one_line(self.error, 200)}"]
        return [f"event: {kind}"]

    def reply(self, stdout: str, stderr: str, returncode: int | None) -> Reply:
        reply = Reply(
            text=self.answer,
            complete=self.turns > 0 or self.error is not None,
            session_id=self.session,
            usage=dict(self.usage),
            input_tokens=self.usage.get("input_tokens", 0),
            output_tokens=self.usage.get("output_tokens", 0),
            cached_tokens=self.usage.get("cached_input_tokens", 0),
            num_turns=self.turns or None,
        )
        if self.error is not None:
            reply.error = f"reported an error: {one_line(self.error, 400)}"
            lowered = self.error.lower()
            if "401" in lowered or "unauthorized" in lowered or "api key" in lowered:
                reply.failure = "credentials"
        elif returncode == EX_USAGE and not self.events:
            reply.error = f"refused its arguments: {one_line(stderr, 400)}"
            reply.failure, reply.complete = "bad_input", True
        return reply


def reader(stream: bool) -> StreamReader:
    return StreamReader(stream)
