"""How an agent's lines are kept: in chunks, one row per batch of lines of one attempt.

A chunk's ``text`` is its lines joined with ``"\\n"`` (a line never holds one: the executor
splits on it, and hands lines over so joined, see :mod:`engine.execution.log_block`), so the
rows cost about the bytes of the log itself, a whole chunk is written to a pipe as it is, and
SQLite can look for a word in it without Python touching a line. ``marks`` is
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

from engine.execution.log_block import LogBlock, joined, unpack
from engine.support.sanitize import sanitize_line

__all__ = ["CHUNK_CHARS", "LINE_BITS", "Chunk", "chunk_of", "line_id", "pack", "printed", "unpack"]

LINE_BITS = 20
"""Bits of a line id that number the line inside its chunk: a chunk of CHUNK_CHARS characters
holds at most CHUNK_CHARS + 1 lines, well under ``2 ** LINE_BITS``."""
CHUNK_CHARS = 512 * 1024
"""A chunk holds at most this many characters (or one longer line): a reader that wants one
line reads its chunk, so chunks stay small enough to read in a few milliseconds."""


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


def pack(blocks: Sequence[LogBlock]) -> list[Chunk]:
    """One attempt's blocks of lines, in order, as chunks of at most CHUNK_CHARS characters:
    small blocks joined, large ones cut at a line boundary."""
    out: list[Chunk] = []
    group: list[LogBlock] = []
    room = CHUNK_CHARS
    for block in blocks:
        rest: LogBlock | None = block
        while rest is not None:
            # a line longer than a chunk is a chunk alone
            head, rest = rest.cut(room, at_least_one=not group)
            if head is not None:
                group.append(head)
                room -= len(head.text) + 1
            if rest is not None or room <= 0:
                out.append(_chunk(joined(group)))
                group, room = [], CHUNK_CHARS
    if group:
        out.append(_chunk(joined(group)))
    return out


def _chunk(block: LogBlock) -> Chunk:
    text = block.text
    width = len(text) if block.count == 1 else max(map(len, text.split("\n")))
    plain = block.plain
    if plain is None:
        plain = text.isascii() and text.replace("\n", " ").isprintable()
    return Chunk(block.count, block.ts, width, text, block.marks, plain)


def printed(
    text: str, count: int, marks: bytes | None, plain: bool, skip: int = 0, *, clean: bool = False
) -> str:
    """A stored chunk's lines from index ``skip`` on as an agent printed them (a ``partial``
    piece runs on into the next); ``clean`` sanitises them for a terminal. A plain chunk is its
    text."""
    if skip == 0 and marks is None and (plain or not clean):
        return text + "\n"
    lines = unpack(text, count, marks)[skip:]
    show = sanitize_line if clean and not plain else str
    return "".join(show(line) if partial else show(line) + "\n" for _, line, partial in lines)


def line_id(chunk_id: int, index: int) -> int:
    return (chunk_id << LINE_BITS) | index


def chunk_of(line: int) -> int:
    """The id of the chunk that holds line id ``line``."""
    return line >> LINE_BITS
