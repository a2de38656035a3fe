"""What an attempt's output and end mean: its messages, its failure category, its result.

Categories are those of docs/agents.md; :class:`engine.run.agent_runner.AgentRunner` decides what
to do about them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.execution.executor import AttemptExit, LogBlock
from engine.run.results import Message, MessageParser, ResultError, check_result, extract_result
from engine.state.events import AttemptFinished, Exhausted
from engine.workflow.models import AgentSpec

MESSAGE_CONTENT_CAP = 4000
EX_DATAERR = 65
"""An agent that exits 65 says its answer was unusable: data_corruption, retried with feedback."""
EX_NOTFOUND = 127
"""As a shell says: something the agent needs is not installed (integration_failure)."""
EX_EXHAUSTED = 75
"""The agent ran out of a limit of its own, such as an LLM CLI's turn limit: resource_exhausted."""


@dataclass
class AttemptOutcome:
    ok: bool
    result: Any = None
    partial: bool = False
    category: str | None = None
    error: str | None = None
    feedback: str | None = None
    interrupted: bool = False
    lost: bool = False
    """An ``integration_failure`` because the machine running it went away (a Dask worker):
    retried, unlike the others, since the agent is not at fault."""
    exhausted: Exhausted | None = None
    """For ``resource_exhausted``: the limit that stopped the attempt."""
    session_id: str | None = None
    """The LLM session the attempt reported (a retry with feedback may continue it)."""
    reduced: bool = False
    n: int = 0
    finished: AttemptFinished | None = None
    """The attempt's closing event, not yet emitted: it goes in one commit with what follows."""

    def take_finished(self) -> list[AttemptFinished]:
        """The closing event for whoever emits it, once."""
        finished, self.finished = self.finished, None
        return [] if finished is None else [finished]


def classify(
    agent: AgentSpec,
    exit_: AttemptExit,
    parser: MessageParser,
    budget_error: tuple[Exhausted, str] | None,
    stdout_file: Path,
    output_file: Path,
) -> AttemptOutcome:
    """What an attempt's end means: its category, error and feedback, or its result."""
    if budget_error is not None:
        which, error = budget_error
        return AttemptOutcome(False, category="resource_exhausted", error=error, exhausted=which)
    if exit_.reason == "spawn_failed":
        return AttemptOutcome(False, category="integration_failure", error=exit_.error)
    if exit_.reason in ("timeout", "idle_timeout"):
        return AttemptOutcome(False, category="timeout", error=exit_.error or exit_.reason)
    if exit_.reason == "memory":
        return AttemptOutcome(
            False, category="resource_exhausted", error=exit_.error, exhausted="memory"
        )
    if exit_.reason == "lost":
        why = exit_.error or "the worker running it went away"
        return AttemptOutcome(False, category="integration_failure", error=why, lost=True)
    if exit_.reason == "unreachable":  # the engine pauses the run before the next stage
        return AttemptOutcome(False, error=exit_.error or "unreachable", interrupted=True)
    if exit_.reason == "stopped":
        return AttemptOutcome(False, error="stopped", interrupted=True)
    if exit_.exit_code == EX_DATAERR:
        why = parser.last_error or "the agent reported that its result is unusable (exit 65)"
        return AttemptOutcome(False, category="data_corruption", error=why, feedback=why)
    if exit_.exit_code == EX_EXHAUSTED:
        why = parser.last_error or "the agent reached a limit of its own (exit 75)"
        return AttemptOutcome(False, category="resource_exhausted", error=why, exhausted="agent")
    if exit_.exit_code == EX_NOTFOUND:
        return AttemptOutcome(
            False,
            category="integration_failure",
            error=parser.last_error or "a command the agent needs was not found (exit 127)",
        )
    if exit_.exit_code != 0:
        code = exit_.exit_code
        what = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        return AttemptOutcome(False, category="agent_failure", error=what)
    try:
        result = extract_result(agent.output, parser, stdout_file, output_file, exit_.stdout)
        result, partial = check_result(result, agent.result_schema, agent.accept_partial)
    except ResultError as exc:
        return AttemptOutcome(False, category="data_corruption", error=str(exc), feedback=str(exc))
    return AttemptOutcome(True, result=result, partial=partial)


def batch_messages(batch: list[LogBlock], parser: MessageParser) -> list[Message]:
    """Messages (other than the result) in the stdout lines of a batch.

    Only a line that may be JSON goes to the parser: one that starts with ``{`` or a blank, a
    piece of a long line, or the rest of one being assembled. A block with none is looked at
    by one regular expression search, in C.
    """
    found: list[Message] = []
    for block in batch:
        text = block.text
        if not (
            parser.pending
            or block.has_partial
            or text.startswith(_JSON_START)
            or _MAY_BE_JSON.search(text)
        ):
            continue
        pending = parser.pending
        for stream, text, partial in block.lines():
            if not (partial or pending or text[:1] in _JSON_START) or stream != "stdout":
                continue
            message = parser.feed(_unshared(text) if partial else text, partial)
            pending = parser.pending
            if message is not None and message.message_type != "result":
                found.append(message)
    return found


_JSON_START = ("{", " ", "\t")
_MAY_BE_JSON = re.compile(r"\n[{ \t]")
"""A line after the first that may be JSON (a literal first character keeps the search fast)."""


def _unshared(text: str) -> str:
    """A copy of a piece the parser may keep while it assembles a long line.

    Binding a string in SQLite caches its UTF-8 form inside the string object for as long as
    it lives, and a block of one line is stored as its own text: the piece stored by the log
    sink would keep that second copy while the parser holds it (up to its cap of characters,
    1 to 3 bytes each, on top of the text).
    """
    return "".join((text, ""))


def capped(content: Any) -> Any:
    text = content if isinstance(content, str) else json.dumps(content, default=str)
    if len(text) <= MESSAGE_CONTENT_CAP:
        return content
    return text[:MESSAGE_CONTENT_CAP] + f"… ({len(text) - MESSAGE_CONTENT_CAP} more chars)"
