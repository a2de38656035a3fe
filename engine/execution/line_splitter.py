"""Turn raw pipe chunks into text lines, with a hard cap on line length.

Agents print anything: megabytes without a newline, NUL bytes, broken UTF-8, a
multibyte character cut in half by a pipe read. Reading with ``readline`` would
raise past 64 KiB, so the executor reads chunks and this class finds the lines.
Memory held between chunks never exceeds ``max_chars`` (plus one ``\\r``) and the
three bytes of an unfinished UTF-8 sequence, whatever the input.
"""

from __future__ import annotations

import codecs
from typing import TypeVar

T = TypeVar("T")
Tagged = tuple[T, str, float, bool]
"""``(tag, text, ts, partial)``: a line (without its ending) and whether it is a ``partial``
piece of a longer one, as the executor hands it on, built here in one step."""


class LineSplitter:
    """Split a byte stream into lines of at most ``max_chars`` characters.

    A longer line comes out as consecutive pieces of ``max_chars``, all flagged
    partial but the last. A trailing ``\\r\\n`` or ``\\n`` is removed; every other
    character, NUL and control characters included, is kept (sanitising for
    display happens elsewhere). Invalid UTF-8 becomes U+FFFD.
    """

    def __init__(self, max_chars: int) -> None:
        if max_chars < 1:
            raise ValueError("max_chars must be at least 1")
        self._max = max_chars
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending: list[str] = []
        self._pending_len = 0

    def lines(self, data: bytes, tag: T, ts: float) -> list[Tagged[T]]:
        """Pieces completed by this chunk (an unfinished line is kept for later), each as
        ``(tag, text, ts, partial)``: the caller's tuple is built once, by the comprehension that
        splits (a flood costs one object per line)."""
        return self._split(self._decoder.decode(data), tag, ts)

    def flush_lines(self, tag: T, ts: float) -> list[Tagged[T]]:
        """Everything left at end of stream, the unterminated last line included, in the form
        of :meth:`lines`."""
        out = self._split(self._decoder.decode(b"", final=True), tag, ts)
        if self._pending_len:
            self._cut("".join(self._pending), out, tag, ts)
            self._pending.clear()
            self._pending_len = 0
        return out

    def _split(self, text: str, tag: T, ts: float) -> list[Tagged[T]]:
        if not text:
            return []
        parts = text.split("\n")
        tail = parts.pop()
        out: list[Tagged[T]] = []
        if parts:
            if self._pending_len:
                self._pending.append(parts[0])
                parts[0] = "".join(self._pending)
                self._pending.clear()
                self._pending_len = 0
            if "\r" in text or parts[0].endswith("\r"):
                parts = [p[:-1] if p.endswith("\r") else p for p in parts]
            if max(map(len, parts)) <= self._max:
                out = [(tag, p, ts, False) for p in parts]
            else:
                for p in parts:
                    self._cut(p, out, tag, ts)
        if tail:
            self._pending.append(tail)
            self._pending_len += len(tail)
            if self._pending_len > self._max:
                self._cut_pending(out, tag, ts)
            elif len(self._pending) > 64:
                self._pending = ["".join(self._pending)]
        return out

    def _cut_pending(self, out: list[Tagged[T]], tag: T, ts: float) -> None:
        """Emit full pieces of the unfinished line, keeping at most ``max_chars`` (+ a ``\\r``
        that may turn out to be half of a ``\\r\\n``)."""
        line = "".join(self._pending)
        limit = self._max + 1 if line.endswith("\r") else self._max
        if len(line) <= limit:
            self._pending = [line]
            return
        start = 0
        while len(line) - start > limit:
            out.append((tag, line[start : start + self._max], ts, True))
            start += self._max
        rest = line[start:]
        self._pending = [rest]
        self._pending_len = len(rest)

    def _cut(self, line: str, out: list[Tagged[T]], tag: T, ts: float) -> None:
        size = len(line)
        if size <= self._max:
            out.append((tag, line, ts, False))
            return
        for start in range(0, size, self._max):
            out.append((tag, line[start : start + self._max], ts, start + self._max < size))
