"""What the LLM adapter's dialects share: exit codes, the answer a CLI call came to
(:class:`Reply`), finding the JSON object in an answer, pricing tokens, writing an implementation
role's file. Standard library only, like every bundled agent.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from llm_prompts import Target

EX_DATAERR = 65
"""The answer is unusable: the engine retries with the reason as feedback (data_corruption)."""
EX_EXHAUSTED = 75
"""The CLI hit its turn limit (or the adapter's count of its steps): resource_exhausted."""
EX_TIMEOUT = 124
EX_NOTFOUND = 127
"""Retrying cannot help: the CLI is not installed, refused its arguments or its credentials."""
SNIPPET = 160
SHAPE_KEYS = ("findings", "decisions", "summary")
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)```", re.S)


class AgentError(Exception):
    """Ends the attempt: an error message, metadata worth keeping, and an exit code."""

    def __init__(self, message: str, code: int = 1, **metadata: Any) -> None:
        super().__init__(message)
        self.code = code
        self.metadata = metadata


@dataclass
class Reply:
    """What one CLI call came to, in the same words for every dialect."""

    text: str | None = None
    """The answer's text (None: the CLI gave no answer)."""
    complete: bool = False
    """The CLI's closing object or event was seen (else it crashed or printed something else)."""
    session_id: str | None = None
    model: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    """The CLI's own counters, as it names them."""
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    """Input tokens served from the provider's cache (a part of ``input_tokens`` or not, as
    each CLI counts; see the dialect)."""
    cost_usd: float | None = None
    """What the CLI says the call cost; None when it reports tokens only."""
    num_turns: int | None = None
    duration_ms: float | None = None
    error: str | None = None
    """The CLI said the call failed, in these words."""
    failure: str = ""
    """What kind of failure: ``turn_limit``, ``bad_input``, ``credentials`` or ``""``."""

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True)
class CallOptions:
    """How the adapter wants one call made; each dialect spells it in its CLI's flags."""

    model: str = ""
    stream: bool = True
    max_turns: int = 0
    """0: the CLI's own default."""
    tools: str = ""
    """What the model may do besides reading: ``read``, ``collect`` (also
    ``pytest --collect-only``) or ``tests`` (also the usual test commands); "": the CLI's
    defaults."""
    resume: str | None = None
    """The session to continue (the prompt is then the follow-up only)."""
    extra: tuple[str, ...] = ()
    """``--cli-arg`` values, appended as they are."""


@dataclass(frozen=True)
class Prices:
    """USD per million tokens, for a CLI that reports tokens but no cost."""

    input: float = 0.0
    output: float = 0.0
    cached: float = 0.0

    def estimate(self, reply: Reply, cached_in_input: bool) -> float:
        """The call's cost from its tokens; cached input at the cached price."""
        fresh = reply.input_tokens - (reply.cached_tokens if cached_in_input else 0)
        total = (
            max(fresh, 0) * self.input
            + reply.cached_tokens * self.cached
            + reply.output_tokens * self.output
        )
        return round(total / 1_000_000, 6)


def one_line(text: str, limit: int = SNIPPET) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def as_int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def json_or_none(line: str) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except (json.JSONDecodeError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def tool_hint(tool_input: Any) -> str:
    """The file, pattern or command a tool call is about, shortened for a progress line."""
    if not isinstance(tool_input, dict):
        return ""
    for key in ("file_path", "path", "absolute_path", "notebook_path", "dir_path"):
        if key in tool_input:
            text = " ".join(str(tool_input[key]).split())
            return text if len(text) <= 80 else "..." + text[-77:]
    for key in ("pattern", "command", "query", "url", "description"):
        if key in tool_input:
            return one_line(str(tool_input[key]), 80)
    return ""


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
        if any(key in value for key in SHAPE_KEYS):
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
