"""The Gemini CLI dialect of the LLM adapter: ``gemini -p PROMPT --output-format stream-json``
(or ``json``), continued with ``--resume SESSION``.

With ``json`` Gemini prints one object ``{session_id?, response, stats, error?}`` whose
``stats.models.MODEL.tokens`` has ``prompt`` (cached input included), ``candidates``,
``total``, ``cached``, ``thoughts`` and ``tool``. With ``stream-json`` it prints ``init``
(``session_id``, ``model``), ``message`` (``role``, ``content``, ``delta``), ``tool_use``
(``tool_name``, ``parameters``), ``tool_result`` (``status``, ``output``), ``error`` (non-fatal)
and a final ``result`` (``status``, ``error?``, ``stats``: ``total_tokens``,
``input_tokens``, ``output_tokens``, ``cached``, ``duration_ms``, ``tool_calls``). A fatal error
is printed on stderr (as JSON in json mode) with the exit code: 1 (API error), 41 (credentials),
42 (bad input), 53 (turn limit). Gemini reports no cost; its session turn limit is a setting
(``model.maxSessionTurns``), so the adapter also counts its tool calls against ``max_turns``.
"""

from __future__ import annotations

import json
from typing import Any

import agentlib
from llm_common import CallOptions, Reply, as_int, json_or_none, one_line, tool_hint

NAME = "gemini"
INSTALL = "npm install -g @google/gemini-cli"
CREDENTIALS = ("GEMINI_API_KEY", "GOOGLE_API_KEY")
REPORTS_COST = False
CACHED_IN_INPUT = True
COUNTS_STEPS = True
_READ = "read_file,read_many_files,glob,search_file_content,list_directory"
TOOLS = {
    "read": _READ,
    "collect": _READ + ",run_shell_command(pytest --collect-only)"
    ",run_shell_command(python -m pytest --collect-only)",
    "tests": _READ + ",run_shell_command(pytest),run_shell_command(python -m pytest)"
    ",run_shell_command(python3 -m pytest),run_shell_command(uv run pytest)"
    ",run_shell_command(npm test),run_shell_command(go test),run_shell_command(cargo test)",
}
FAILURES = {41: "credentials", 42: "bad_input", 53: "turn_limit"}


def command(executable: str, prompt: str, call: CallOptions) -> list[str]:
    fmt = "stream-json" if call.stream else "json"
    argv = [executable, "-p", prompt, "--output-format", fmt]
    argv += ["--resume", call.resume] if call.resume else []
    argv += ["--model", call.model] if call.model else []
    argv += ["--allowed-tools", TOOLS[call.tools]] if call.tools in TOOLS else []
    return argv + list(call.extra)


def model_tokens(stats: dict[str, Any]) -> tuple[str | None, dict[str, int]]:
    """The model (the first one) and the token counters summed over the models of ``--output-format
    json``'s ``stats``."""
    models = stats.get("models") if isinstance(stats.get("models"), dict) else {}
    totals: dict[str, int] = {}
    for entry in models.values():
        tokens = entry.get("tokens") if isinstance(entry, dict) else None
        for key, value in (tokens or {}).items():
            totals[key] = totals.get(key, 0) + as_int(value)
    return next(iter(models), None), totals


def error_object(text: str) -> dict[str, Any] | None:
    """The ``error`` of a JSON object Gemini printed (on stderr in json mode), if any."""
    start = text.find("{")
    value = json_or_none(text[start:]) if start != -1 else None
    error = value.get("error") if value else None
    return error if isinstance(error, dict) else None


class StreamReader:
    def __init__(self, stream: bool) -> None:
        self.stream = stream
        self.steps = 0
        self.session: str | None = None
        self.model: str | None = None
        self.parts: list[str] = []
        self.result: dict[str, Any] | None = None

    def line(self, text: str) -> list[str]:
        event = json_or_none(text)
        if event is None or not isinstance(event.get("type"), str):
            return [f"output: {one_line(text)}"] if text.strip() else []
        kind = event["type"]
        if kind == "init":
            self.session = str(event.get("session_id") or "") or None
            self.model = str(event.get("model") or "") or None
            return [f"session started: model {self.model or '?'}, session {self.session}"]
        if kind == "message":
            if event.get("role") != "assistant":
                return []
            self.parts.append(str(event.get("content") or ""))
            return [] if event.get("delta") else [f"assistant: {one_line(self.parts[-1])}"]
        if kind == "tool_use":
            self.steps += 1
            hint = tool_hint(event.get("parameters"))
            return [f"tool: {event.get('tool_name', '?')} {hint}".rstrip()]
        if kind == "tool_result":
            size = len(str(event.get("output") or ""))
            failed = "" if event.get("status") == "success" else f" ({event.get('status')})"
            return [f"tool result: {size} chars{failed}"]
        if kind == "error":
            return [f"{event.get('severity', 'error')}: {one_line(str(event.get('message')), 200)}"]
        if kind == "result":
            self.result = event
            stats = event.get("stats") if isinstance(event.get("stats"), dict) else {}
            answer = "".join(self.parts)
            return [
                f"finished: {event.get('status', '?')}, answer of {len(answer)} chars, "
                f"{as_int(stats.get('total_tokens'))} tokens, {as_int(stats.get('tool_calls'))} "
                f"tool calls, {as_int(stats.get('duration_ms')) / 1000:.1f}s"
            ]
        return [f"event: {kind}"]

    def reply(self, stdout: str, stderr: str, returncode: int | None) -> Reply:
        reply = self._streamed() if self.stream else self._object(stdout)
        if not returncode or (reply.error is None and not stderr.strip()):
            return reply
        error = error_object(stderr) or {}
        lines = [line for line in stderr.splitlines() if line.strip()]
        message = error.get("message") or (lines[-1] if lines else "no message")
        reply.error = reply.error or f"exited with code {returncode}: {one_line(str(message), 400)}"
        reply.complete, reply.failure = True, FAILURES.get(returncode, "")
        return reply

    def _streamed(self) -> Reply:
        if self.result is None:
            return Reply(session_id=self.session, model=self.model)
        stats = self.result.get("stats") if isinstance(self.result.get("stats"), dict) else {}
        reply = Reply(
            text="".join(self.parts),
            complete=True,
            session_id=self.session,
            model=self.model,
            usage={k: v for k, v in stats.items() if isinstance(v, int | float)},
            input_tokens=as_int(stats.get("input_tokens")),
            output_tokens=as_int(stats.get("output_tokens")),
            cached_tokens=as_int(stats.get("cached")),
            duration_ms=stats.get("duration_ms"),
        )
        if self.result.get("status") not in (None, "success"):
            error = self.result.get("error") if isinstance(self.result.get("error"), dict) else {}
            reply.error = f"reported an error: {one_line(str(error.get('message') or '?'), 400)}"
        return reply

    def _object(self, stdout: str) -> Reply:
        try:
            value = json.loads(stdout)
        except json.JSONDecodeError:
            value = None
        if not isinstance(value, dict) or not ({"response", "error", "stats"} & set(value)):
            return Reply()
        model, tokens = model_tokens(value.get("stats") or {})
        response = value.get("response")
        reply = Reply(
            text=response if isinstance(response, str) else None,
            complete=True,
            session_id=value.get("session_id") or None,
            model=model,
            usage=tokens,
            input_tokens=tokens.get("prompt", 0),
            output_tokens=tokens.get("total", 0) - tokens.get("prompt", 0)
            if "total" in tokens
            else tokens.get("candidates", 0),
            cached_tokens=tokens.get("cached", 0),
        )
        agentlib.progress(
            f"finished: answer of {len(reply.text or '')} chars, {reply.tokens} tokens "
            f"({reply.cached_tokens} cached)"
        )
        if isinstance(value.get("error"), dict):
            reply.error = f"reported an error: {one_line(str(value['error'].get('message')), 400)}"
        return reply


def reader(stream: bool) -> StreamReader:
    return StreamReader(stream)
