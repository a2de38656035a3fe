"""An agent's full log, read from the store a page at a time.

The log may hold millions of lines. The store keeps them in chunks numbered by line within each
attempt, so the source knows how many lines each attempt has without reading them, reads any
page with one index range, and searches in SQLite: opening a log and jumping to its end, or
looking for a word in it, reads a few chunks, not the log. A few pages are cached; lines are
sanitised when read.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

from engine.store.database import Store
from tui.console.widgets.formatting import agent_text

PAGE = 1000
CACHED_PAGES = 32
SEARCH_LINES = 65_536
"""Lines of one attempt searched per query, so a search can stop early without reading on."""


@dataclass(frozen=True, slots=True)
class LogLine:
    attempt: int
    stream: str
    text: str
    """Sanitised: safe to put on a terminal."""


class LogSource:
    """Lines ``0 .. total-1`` of one agent's log, across its attempts in order."""

    def __init__(self, store: Store, run_id: str, stage: str, agent: str) -> None:
        self.store = store
        self.run_id = run_id
        self.stage = stage
        self.agent = agent
        self.attempts: list[int] = []
        self.total = 0
        self.width = 0
        """Widest line stored, in characters (for horizontal scrolling)."""
        self._lengths: dict[int, int] = {}
        """Lines per attempt, as last read."""
        self._pages: OrderedDict[int, list[LogLine]] = OrderedDict()

    def set_attempts(self, attempts: list[int]) -> None:
        self.attempts = sorted(set(attempts))

    async def extend(self) -> int:
        """Learn how many lines there are now; returns how many were added."""
        extents = await self.store.log_extents(self.run_id, self.stage, self.agent, self._lengths)
        for attempt, (lines, width) in extents.items():
            self._lengths[attempt] = lines
            self.width = max(self.width, width)
        total = sum(self._lengths.get(n, 0) for n in self.attempts)
        added = total - self.total
        if added:
            # a page that was not full (the last, or any after an attempt's end) may have grown
            for page_no in [p for p, lines in self._pages.items() if len(lines) < PAGE]:
                del self._pages[page_no]
            self.total = total
        return added

    def line(self, n: int) -> LogLine | None:
        """A cached line, or None (then :meth:`load_page` it)."""
        page = self._pages.get(n // PAGE)
        if page is None or n % PAGE >= len(page):
            return None
        self._pages.move_to_end(n // PAGE)
        return page[n % PAGE]

    async def load_page(self, page_no: int) -> list[LogLine]:
        cached = self._pages.get(page_no)
        if cached is not None:
            return cached
        if not 0 <= page_no * PAGE < self.total:
            return []
        lines = await self._read(page_no * PAGE, min(PAGE, self.total - page_no * PAGE))
        self._pages[page_no] = lines
        self._trim()
        return lines

    async def get(self, n: int) -> LogLine | None:
        if not 0 <= n < self.total:
            return None
        page = await self.load_page(n // PAGE)
        return page[n % PAGE] if n % PAGE < len(page) else None

    async def find(self, needle: str, limit: int) -> list[int]:
        """The numbers of the lines (at most ``limit``) whose sanitised text, in lower case,
        holds ``needle`` (lower case). SQLite skips the chunks that cannot hold it."""
        found: list[int] = []
        # SQLite folds the case of ASCII only: with another letter in the needle, every chunk
        containing = needle if needle.isascii() else None  # is read
        for attempt, base, length in self._attempt_spans():
            for first in range(0, length, SEARCH_LINES):
                count = min(SEARCH_LINES, length - first)
                async for n, _, text in self._window(attempt, first, count, containing):
                    if needle in agent_text(text).lower():
                        found.append(base + n)
                        if len(found) >= limit:
                            return found
        return found

    async def _read(self, start: int, count: int) -> list[LogLine]:
        """Lines ``start .. start + count - 1`` of the whole log."""
        out: list[LogLine] = []
        for attempt, base, length in self._attempt_spans():
            lo, hi = max(start, base), min(start + count, base + length)
            if lo < hi:
                async for _, stream, text in self._window(attempt, lo - base, hi - lo):
                    out.append(LogLine(attempt, stream, agent_text(text)))
        return out

    def _attempt_spans(self) -> Iterator[tuple[int, int, int]]:
        """``(attempt, number of its first line in the whole log, its lines)``, in order."""
        base = 0
        for attempt in self.attempts:
            length = self._lengths.get(attempt, 0)
            yield attempt, base, length
            base += length

    async def _window(
        self, attempt: int, first: int, count: int, containing: str | None = None
    ) -> AsyncIterator[tuple[int, str, str]]:
        """``(line number in the attempt, stream, raw text)`` of lines ``first .. first + count - 1``
        of one attempt; with ``containing``, of the chunks that may hold it only."""
        chunks = await self.store.log_chunks(
            self.run_id, self.stage, self.agent, attempt, first, count, containing=containing
        )
        for chunk in chunks:
            for i, (stream, text, _) in enumerate(chunk.lines()):
                if first <= chunk.first_line + i < first + count:
                    yield chunk.first_line + i, stream, text

    def _trim(self) -> None:
        while len(self._pages) > CACHED_PAGES:
            self._pages.popitem(last=False)
