"""Turn raw pipe chunks into blocks of text lines, with a hard cap on line length.

Agents print anything: megabytes without a newline, NUL bytes, broken UTF-8, a
multibyte character cut in half by a pipe read. Reading with ``readline`` would
raise past 64 KiB, so the executor reads chunks and this class finds the lines.
Memory held between chunks never exceeds ``max_chars`` (plus one ``\\r``) and the
three bytes of an unfinished UTF-8 sequence, whatever the input.

The lines of a read come out as one :class:`engine.execution.log_block.LogBlock`: the text
up to the read's last newline, as it is. Only a read that may hold a line longer than the cap
is split line by line (see :func:`short_lines`).
"""

from __future__ import annotations

import codecs

from engine.execution.log_block import PARTIAL, STDERR, LogBlock, Stream

_CONTROLS = bytes(range(0x20)).replace(b"\n", b"") + b"\x7f"
Piece = tuple[str, bool]
"""``(text, partial)``: a line, or a piece of one longer than the cap."""
MIN_WINDOW = 1024
"""Below this, :func:`short_lines` splits the text rather than look at windows of it."""


def plain_bytes(data: bytes) -> bool | None:
    """Whether a read is printable ASCII, newlines aside (one pass in C over the bytes, cheaper
    than over the text); None when it holds a ``\\r``, which a line's ending may lose."""
    if not data.isascii():
        return False
    if len(data.translate(None, _CONTROLS)) == len(data):
        return True
    return None if b"\r" in data else False


def short_lines(text: str, max_chars: int) -> bool:
    """True when no line of ``text`` is longer than ``max_chars`` (False may be wrong).

    A line of ``2w`` characters or more holds a whole window ``[k*w, (k+1)*w)``, so with
    ``w = max_chars // 2`` a newline in every window proves the text short: a megabyte costs
    32 searches in C at the default cap of 65,536, not a split into a million lines.
    """
    if len(text) <= max_chars:
        return True
    window = max_chars // 2
    if window < MIN_WINDOW:
        return max(map(len, text.split("\n"))) <= max_chars
    find = text.find
    return all(find("\n", at, at + window) >= 0 for at in range(0, len(text) - window + 1, window))


class LineSplitter:
    """Split one stream's bytes into lines of at most ``max_chars`` characters.

    A longer line comes out as consecutive pieces of ``max_chars``, all flagged
    partial but the last. A trailing ``\\r\\n`` or ``\\n`` is removed; every other
    character, NUL and control characters included, is kept (sanitising for
    display happens elsewhere). Invalid UTF-8 becomes U+FFFD.
    """

    def __init__(self, max_chars: int, stream: Stream = "stdout") -> None:
        if max_chars < 1:
            raise ValueError("max_chars must be at least 1")
        self._max = max_chars
        self._stream: Stream = stream
        self._mark = STDERR if stream == "stderr" else 0
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending: list[str] = []
        self._pending_len = 0
        self._pending_plain: bool | None = True
        """What :func:`plain_bytes` said of the reads the unfinished line came from."""

    def block(self, data: bytes, ts: float, newlines: int | None = None) -> LogBlock | None:
        """The lines completed by this chunk (an unfinished line is kept for later), or None.
        ``newlines``: how many ``\\n`` the chunk holds, when the caller counted them."""
        plain = plain_bytes(data)
        pending_plain = self._pending_plain
        head, pieces = self._split(self._decoder.decode(data), plain)
        if plain:
            plain = pending_plain
        return self._block(head, pieces, ts, plain, newlines)

    def flush_block(self, ts: float) -> LogBlock | None:
        """Everything left at end of stream, the unterminated last line included."""
        head, pieces = self._split(self._decoder.decode(b"", final=True), None)
        if self._pending_len:
            self._cut("".join(self._pending), pieces)
            self._pending.clear()
            self._pending_len = 0
        return self._block(head, pieces, ts, None, None)

    def _block(
        self,
        head: str | None,
        pieces: list[Piece],
        ts: float,
        plain: bool | None,
        newlines: int | None,
    ) -> LogBlock | None:
        if not pieces:
            if head is None:
                return None
            count = head.count("\n") + 1 if newlines is None else newlines
            return LogBlock.stream(head, count, ts, self._stream, plain)
        mark = self._mark
        marks = bytes(mark | PARTIAL if partial else mark for _, partial in pieces)
        texts = [text for text, _ in pieces]
        if head is not None:
            count = head.count("\n") + 1
            texts.insert(0, head)
            marks = bytes([mark]) * count + marks
        return LogBlock("\n".join(texts), len(marks), ts, marks)

    def _split(self, text: str, plain: bool | None) -> tuple[str | None, list[Piece]]:
        """The whole lines of ``text`` as one text (None if none), then pieces cut from lines
        longer than the cap; what follows the last newline waits for more (``plain``: what
        :func:`plain_bytes` said of it)."""
        pieces: list[Piece] = []
        if not text:
            return None, pieces
        end = text.rfind("\n")
        head: str | None = None
        if end >= 0:
            head, tail = text[:end], text[end + 1 :]
            if self._pending_len:
                self._pending.append(head)
                head = "".join(self._pending)
                self._pending.clear()
                self._pending_len = 0
                self._pending_plain = True
            if "\r" in head:
                head = head.replace("\r\n", "\n")
                if head.endswith("\r"):
                    head = head[:-1]
            if not short_lines(head, self._max):
                for line in head.split("\n"):
                    self._cut(line, pieces)
                head = None
        else:
            tail = text
        if tail:
            self._pending.append(tail)
            self._pending_len += len(tail)
            if self._pending_plain:
                self._pending_plain = plain
            if self._pending_len > self._max:
                self._cut_pending(pieces)
            elif len(self._pending) > 64:
                self._pending = ["".join(self._pending)]
        return head, pieces

    def _cut_pending(self, pieces: list[Piece]) -> None:
        """Emit full pieces of the unfinished line, keeping at most ``max_chars`` (+ a ``\\r``
        that may turn out to be half of a ``\\r\\n``)."""
        line = "".join(self._pending)
        limit = self._max + 1 if line.endswith("\r") else self._max
        if len(line) <= limit:
            self._pending = [line]
            return
        start = 0
        while len(line) - start > limit:
            pieces.append((line[start : start + self._max], True))
            start += self._max
        rest = line[start:]
        self._pending = [rest]
        self._pending_len = len(rest)

    def _cut(self, line: str, pieces: list[Piece]) -> None:
        size = len(line)
        if size <= self._max:
            pieces.append((line, False))
            return
        for start in range(0, size, self._max):
            pieces.append((line[start : start + self._max], start + self._max < size))
