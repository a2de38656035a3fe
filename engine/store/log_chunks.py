"""How an agent's lines are kept: in chunks, one row per batch of lines of one attempt.

A chunk's ``text`` is its lines joined with ``"\\n"`` (a line never holds one: the executor
splits on it), so the rows cost about the bytes of the log itself, a whole chunk is written to a
pipe as it is, and SQLite can look for a word in it without Python touching a line. ``marks`` is
``NULL`` when every line is whole stdout (nearly always); else one byte per line: bit 0 stderr,
bit 1 a ``partial`` piece of a line longer than the cap, continued by the next. ``plain`` says
the text is printable ASCII: no line holds a character that
:func:`engine.support.sanitize.sanitize_line` would change or that changes case outside ASCII,
so a reader may print the chunk, or search it in SQLite, without looking at its lines.

A line's id is its chunk's id shifted left by :data:`LINE_BITS` plus its index in the chunk:
ids grow in the order lines were stored, across attempts and agents, as row ids did before
chunks (a reader that follows a log keeps the last id it saw).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from engine.execution.executor import LogLine, Stream, line_partial, line_stream, line_text

LINE_BITS = 20
"""Bits of a line id that number the line inside its chunk."""
CHUNK_LINES = 4096
"""At most this many lines per chunk (far below ``2 ** LINE_BITS``): a reader that wants one
line reads its chunk, so chunks stay small enough to read in well under a millisecond."""
CHUNK_CHARS = 512 * 1024
"""A chunk is closed once its lines reach this many characters."""

_STDERR = 1
_PARTIAL = 2
_STDERR_TEXT = "stderr"


@dataclass(frozen=True, slots=True)
class Chunk:
    """Lines ready to be stored: ``count`` lines in ``text``, the first received at ``ts``, the
    longest ``width`` characters."""

    count: int
    ts: float
    width: int
    text: str
    marks: bytes | None
    plain: bool


def pack(lines: Sequence[LogLine]) -> list[Chunk]:
    """One attempt's lines, in order, as chunks of at most CHUNK_LINES lines and about
    CHUNK_CHARS characters."""
    out: list[Chunk] = []
    start = 0
    total = len(lines)
    while start < total:
        end = min(total, start + CHUNK_LINES)
        part = lines[start:end]
        texts = list(map(line_text, part))
        size = sum(map(len, texts))
        if size > CHUNK_CHARS and len(part) > 1:
            kept = 0
            end = start
            for text in texts:
                kept += len(text)
                end += 1
                if kept >= CHUNK_CHARS:
                    break
            part = lines[start:end]
            texts = texts[: end - start]
        out.append(_chunk(part, texts))
        start = end
    return out


def _chunk(part: Sequence[LogLine], texts: list[str]) -> Chunk:
    text = "\n".join(texts)
    marks: bytes | None = None
    if any(map(line_partial, part)) or any(map(_STDERR_TEXT.__eq__, map(line_stream, part))):
        marks = bytes(
            (_STDERR if line[0] == "stderr" else 0) | (_PARTIAL if line[3] else 0) for line in part
        )
    plain = text.isascii() and text.replace("\n", " ").isprintable()
    return Chunk(len(part), part[0][2], max(map(len, texts)), text, marks, plain)


def unpack(text: str, count: int, marks: bytes | None) -> list[tuple[Stream, str, bool]]:
    """A chunk's lines as ``(stream, text, partial)``."""
    lines = text.split("\n")
    if len(lines) != count:
        raise ValueError(f"a log chunk of {count} lines holds {len(lines)}")
    if marks is None:
        return [("stdout", line, False) for line in lines]
    return [
        ("stderr" if mark & _STDERR else "stdout", line, bool(mark & _PARTIAL))
        for line, mark in zip(lines, marks, strict=True)
    ]


def line_id(chunk_id: int, index: int) -> int:
    return (chunk_id << LINE_BITS) | index


def chunk_of(line: int) -> int:
    """The id of the chunk that holds line id ``line``."""
    return line >> LINE_BITS
