"""Lines of output carried as one text: how an attempt's output travels from its pipes to the store.

A :class:`LogBlock` is consecutive lines of one attempt joined by ``"\\n"`` (a line never holds
one: the executor splits on it), with how many there are, when the first arrived, and ``marks``:
``None`` when every line is a whole stdout line (nearly always), else one byte per line, bit 0
for stderr and bit 1 for a ``partial`` piece of a line longer than the cap, continued by the
next. A flood of output is then one object per read of a pipe, not one per line: masking,
looking for messages, writing the ``.log`` file and storing all run in C over the whole text.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Stream = Literal["stdout", "stderr"]

STDERR = 1
PARTIAL = 2
_PARTIAL_MARKS = (bytes([PARTIAL]), bytes([PARTIAL | STDERR]))


@dataclass(frozen=True, slots=True)
class LogBlock:
    text: str
    count: int
    ts: float
    """When the first line arrived."""
    marks: bytes | None = None
    plain: bool | None = None
    """True when the text is printable ASCII (newlines aside), False when it is not, None when
    nobody looked yet (the store then does)."""

    @classmethod
    def of(cls, lines: Sequence[tuple[Stream, str, bool]], ts: float) -> LogBlock:
        """A block of ``(stream, text, partial)`` lines (at least one)."""
        marks: bytes | None = None
        if any(partial or stream != "stdout" for stream, _, partial in lines):
            marks = bytes(mark(stream, partial) for stream, _, partial in lines)
        return cls("\n".join(text for _, text, _ in lines), len(lines), ts, marks)

    @classmethod
    def stream(
        cls, text: str, count: int, ts: float, stream: Stream, plain: bool | None = None
    ) -> LogBlock:
        """``count`` whole lines of one stream."""
        marks = None if stream == "stdout" else bytes([STDERR]) * count
        return cls(text, count, ts, marks, plain)

    @property
    def has_partial(self) -> bool:
        marks = self.marks
        return marks is not None and any(m in marks for m in _PARTIAL_MARKS)

    def lines(self) -> list[tuple[Stream, str, bool]]:
        """``(stream, text, partial)`` of each line."""
        return unpack(self.text, self.count, self.marks)

    def printed(self) -> list[str]:
        """The block as the agent printed it, in pieces to write one after the other: a
        ``partial`` piece runs on into the next line."""
        if not self.has_partial:
            return [self.text, "\n"]
        return [text if partial else text + "\n" for _, text, partial in self.lines()]

    def cut(
        self, chars: int, *, at_least_one: bool = False
    ) -> tuple[LogBlock | None, LogBlock | None]:
        """The first lines, as many as fit in ``chars`` characters joined, and the rest (None
        when all fit). When not even the first line fits: None and the whole block, or with
        ``at_least_one`` that line alone and the rest."""
        text = self.text
        if len(text) <= chars:
            return self, None
        end = text.rfind("\n", 0, chars + 1)
        if end < 0:
            if not at_least_one:
                return None, self
            end = text.find("\n")
            if end < 0:
                return self, None
        count = text.count("\n", 0, end) + 1
        marks = self.marks
        head_marks = None if marks is None else marks[:count]
        head = LogBlock(text[:end], count, self.ts, head_marks, self.plain)
        rest_marks = None if marks is None else marks[count:]
        rest = LogBlock(text[end + 1 :], self.count - count, self.ts, rest_marks, self.plain)
        return head, rest


def mark(stream: Stream, partial: bool) -> int:
    return (STDERR if stream == "stderr" else 0) | (PARTIAL if partial else 0)


def joined(blocks: Sequence[LogBlock]) -> LogBlock:
    """Consecutive blocks (at least one) as one."""
    if len(blocks) == 1:
        return blocks[0]
    text = "\n".join(b.text for b in blocks)
    count = sum(b.count for b in blocks)
    marks: bytes | None = None
    if any(b.marks is not None for b in blocks):
        marks = b"".join(bytes(b.count) if b.marks is None else b.marks for b in blocks)
    plain: bool | None = False
    if not any(b.plain is False for b in blocks):
        plain = True if all(b.plain for b in blocks) else None
    return LogBlock(text, count, blocks[0].ts, marks, plain)


def unpack(text: str, count: int, marks: bytes | None) -> list[tuple[Stream, str, bool]]:
    """The lines of ``count`` lines joined in ``text``, as ``(stream, text, partial)``."""
    lines = text.split("\n")
    if len(lines) != count:
        raise ValueError(f"a block of {count} lines holds {len(lines)}")
    if marks is None:
        return [("stdout", line, False) for line in lines]
    return [
        ("stderr" if m & STDERR else "stdout", line, bool(m & PARTIAL))
        for line, m in zip(lines, marks, strict=True)
    ]
