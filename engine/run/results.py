"""Reading an attempt's messages and result (docs/agents.md), and checking the result."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import jsonschema


MAX_RESULT_BYTES = 16 * 1024 * 1024
"""A result larger than this is refused as data_corruption rather than held in memory."""
MAX_DEPTH = 100
"""Deeper JSON is refused: nothing an agent means to say needs it, and it breaks encoders."""


def json_depth_ok(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether ``value`` nests at most ``limit`` containers deep (checked without recursion)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children: Iterable[Any]
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return False
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return True


class ResultError(Exception):
    """The attempt's result is missing, not JSON, or against the schema (data_corruption)."""


@dataclass
class Message:
    message_type: str
    priority: str
    content: Any
    metadata: dict[str, Any]


@dataclass
class MessageParser:
    """Picks the protocol's messages (docs/agents.md) out of an agent's stdout lines."""

    result: Any = None
    has_result: bool = False
    tokens: int = 0
    cost_usd: float = 0.0
    last_error: str | None = None
    """The text of the last `error` message, given back as feedback on a retry."""
    dropped: str | None = None
    """Why the last message-looking line was refused (too large, nested too deeply)."""
    session_id: str | None = None
    resumed_session: str | None = None
    """The LLM session the agent says it used, and the one it continued (the last said)."""
    cost_estimated: bool = False
    """A message said its cost is an estimate."""
    _pending: list[str] = field(default_factory=list)
    _pending_len: int = 0
    _overflow: bool = False

    @property
    def pending(self) -> bool:
        """A long line is being assembled from its pieces."""
        return bool(self._pending)

    def feed(self, text: str, partial: bool) -> Message | None:
        """Feed one stdout line (or a piece of a long one); returns a non-result message."""
        if partial or self._pending:
            if not self._pending and not text.lstrip().startswith("{"):
                return None
            if self._pending_len + len(text) > MAX_RESULT_BYTES:
                self._overflow = True
            elif not self._overflow:
                self._pending.append(text)
                self._pending_len += len(text)
            if partial:
                return None
            pieces, overflow = self._pending, self._overflow
            self._pending, self._pending_len, self._overflow = [], 0, False
            if overflow:
                self.dropped = f"a message line was too large (over {MAX_RESULT_BYTES} bytes)"
                return Message("error", "critical", self.dropped + " and was dropped", {})
            last = next((p.rstrip() for p in reversed(pieces) if p and not p.isspace()), "")
            if not last.endswith("}"):
                return None  # not JSON: no need to join what may be megabytes
            stripped = "".join(pieces)  # starts with "{" (checked on the first piece)
        else:
            stripped = text.strip()
            if not (stripped.startswith("{") and stripped.endswith("}")):
                return None
        try:
            obj = json.loads(stripped)
        except RecursionError:
            obj = None
        except ValueError:
            return None
        if obj is None or not json_depth_ok(obj):
            self.dropped = f"a message line was nested too deeply (over {MAX_DEPTH} levels)"
            return Message("error", "critical", self.dropped + " and was dropped", {})
        if not isinstance(obj, dict):
            return None
        header, body = obj.get("header"), obj.get("body")
        if not isinstance(header, dict) or not isinstance(body, dict):
            return None
        raw_metadata = obj.get("metadata")
        metadata: dict[str, Any] = raw_metadata if isinstance(raw_metadata, dict) else {}
        self._count(metadata)
        kind = str(body.get("message_type", "info"))
        if kind == "error":
            content = body.get("content")
            self.last_error = (content if isinstance(content, str) else json.dumps(content))[:2000]
        if kind == "result":
            self.result = body.get("content")
            self.has_result = True
            return None
        return Message(kind, str(header.get("priority", "normal")), body.get("content"), metadata)

    def _count(self, metadata: dict[str, Any]) -> None:
        tokens = metadata.get("tokens")
        if isinstance(tokens, int | float) and not isinstance(tokens, bool):
            self.tokens += int(tokens)
        elif isinstance(tokens, dict):
            self.tokens += sum(int(v) for v in tokens.values() if isinstance(v, int | float))
        cost = metadata.get("cost_usd")
        if isinstance(cost, int | float) and not isinstance(cost, bool):
            self.cost_usd += float(cost)
        for key in ("session_id", "resumed_session"):
            if isinstance(value := metadata.get(key), str) and value:
                setattr(self, key, value[:200])
        if metadata.get("cost_estimated") is True:
            self.cost_estimated = True


def read_json_file(path: Path, what: str) -> Any:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise ResultError(f"{what} was not written") from None
    if size > MAX_RESULT_BYTES:
        raise ResultError(f"{what} is {size} bytes, over the {MAX_RESULT_BYTES} byte limit")
    return parse_json_bytes(path.read_bytes(), what)


def parse_json_bytes(raw: bytes, what: str) -> Any:
    if len(raw) > MAX_RESULT_BYTES:
        raise ResultError(f"{what} is {len(raw)} bytes, over the {MAX_RESULT_BYTES} byte limit")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ResultError(f"{what} is not UTF-8 text (byte {exc.start})") from None
    if not text.strip():
        raise ResultError(f"{what} is empty")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ResultError(
            f"{what} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        value = None
    if (value is None and text.strip() != "null") or not json_depth_ok(value):
        raise ResultError(f"{what} is nested too deeply (over {MAX_DEPTH} levels)")
    return value


def extract_result(
    mode: str,
    parser: MessageParser,
    stdout_file: Path,
    output_file: Path,
    stdout: bytes | None = None,
) -> Any:
    """The agent's result; ``stdout`` is its raw stdout when the executor kept it in memory
    (else it is in ``stdout_file``)."""
    if mode == "json":
        if stdout is not None:
            return parse_json_bytes(stdout, "stdout")
        return read_json_file(stdout_file, "stdout")
    if mode == "file":
        return read_json_file(output_file, "the result file $PHASEBOARD_OUTPUT")
    if parser.has_result:
        return parser.result
    if output_file.exists():
        return read_json_file(output_file, "the result file $PHASEBOARD_OUTPUT")
    if parser.dropped:
        raise ResultError(f"no usable result: {parser.dropped}")
    raise ResultError("no result message on stdout and $PHASEBOARD_OUTPUT was not written")


def check_result(
    result: Any, schema: dict[str, Any] | None, accept_partial: bool
) -> tuple[Any, bool]:
    """Validate against the agent's schema; returns (result, partial).

    With ``accept_partial`` the properties that fail are dropped and the rest kept,
    provided what is left is valid.
    """
    if schema is None:
        return result, False
    import jsonschema  # here, not at the top: the commands that read a run start faster

    validator = jsonschema.validators.validator_for(schema)(schema)
    errors = sorted(validator.iter_errors(result), key=lambda e: list(e.absolute_path))
    if not errors:
        return result, False
    message = _describe(errors)
    if accept_partial and isinstance(result, dict):
        bad = {e.absolute_path[0] for e in errors if e.absolute_path}
        kept = {k: v for k, v in result.items() if k not in bad}
        if bad and not list(validator.iter_errors(kept)):
            return kept, True
    raise ResultError(f"result does not match the schema: {message}")


def _describe(errors: list[jsonschema.ValidationError]) -> str:
    parts = []
    for error in errors[:5]:
        where = "/".join(str(p) for p in error.absolute_path) or "(top level)"
        parts.append(f"{where}: {error.message[:200]}")
    if len(errors) > 5:
        parts.append(f"and {len(errors) - 5} more")
    return "; ".join(parts)
