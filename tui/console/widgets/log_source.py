"""An agent's full log, read from the store a page at a time.

The log may hold millions of lines: only the start of each page is remembered (the
attempt and the log id before its first line, so re-reading a page is one index
range per attempt), and a few pages are cached. Lines are sanitised when read.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass

from engine.store.database import Store
from tui.console.widgets.formatting import agent_text

PAGE = 1000
CACHED_PAGES = 32


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
        """Widest line seen, in characters (for horizontal scrolling)."""
        self._starts: list[tuple[int, int]] = []
        """Per page: (attempt, log id before the page's first line)."""
        self._pages: OrderedDict[int, list[LogLine]] = OrderedDict()
        self._end: tuple[int, int] = (0, 0)
        """Where :meth:`extend` reads on from: (attempt, last log id read in it)."""

    def set_attempts(self, attempts: list[int]) -> None:
        self.attempts = sorted(set(attempts))

    # -- reading ---------------------------------------------------------------------------

    async def _read(
        self, start: tuple[int, int], count: int
    ) -> list[tuple[int, int, int, LogLine]]:
        """Up to ``count`` lines from ``start`` on, as (attempt, previous id, id, line) each."""
        out: list[tuple[int, int, int, LogLine]] = []
        attempt, after = start
        for n in self.attempts:
            if n < attempt:
                continue
            if n > attempt:
                after = 0
            while len(out) < count:
                rows = await self.store.logs(
                    self.run_id, self.stage, self.agent, n, after_id=after, limit=count - len(out)
                )
                for row in rows:
                    out.append((n, after, row.id, LogLine(n, row.stream, agent_text(row.text))))
                    after = row.id
                if not rows:
                    break
            if len(out) >= count:
                break
        return out

    async def extend(self) -> int:
        """Read the lines written since the last call; returns how many there were."""
        added = 0
        while True:
            room = PAGE - self.total % PAGE
            got = await self._read(self._end, room)
            for attempt, before, line_id, line in got:
                page_no = self.total // PAGE
                if self.total % PAGE == 0:
                    self._starts.append((attempt, before))
                    self._pages[page_no] = []
                page = self._pages.get(page_no)
                if page is not None:
                    page.append(line)
                self.total += 1
                self.width = max(self.width, len(line.text))
                self._end = (attempt, line_id)
            added += len(got)
            self._trim()
            if len(got) < room:
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
        if not 0 <= page_no < len(self._starts):
            return []
        lines = [item[3] for item in await self._read(self._starts[page_no], PAGE)]
        self._pages[page_no] = lines
        self._trim()
        return lines

    async def get(self, n: int) -> LogLine | None:
        if not 0 <= n < self.total:
            return None
        page = await self.load_page(n // PAGE)
        return page[n % PAGE] if n % PAGE < len(page) else None

    async def pages(self) -> AsyncIterator[tuple[int, list[LogLine]]]:
        """Every page in order (for search), without filling the cache with them."""
        for page_no in range(len(self._starts)):
            cached = self._pages.get(page_no)
            if cached is not None:
                yield page_no, cached
            else:
                yield page_no, [item[3] for item in await self._read(self._starts[page_no], PAGE)]

    def _trim(self) -> None:
        last = (self.total - 1) // PAGE if self.total else -1
        while len(self._pages) > CACHED_PAGES:
            oldest = next(iter(self._pages))
            if oldest == last:
                self._pages.move_to_end(oldest)
                continue
            del self._pages[oldest]
