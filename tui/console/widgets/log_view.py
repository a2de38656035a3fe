"""A scrollable view of an agent's full log of any size (Line API: only visible lines render)."""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual import work
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from tui.console.widgets.log_source import PAGE, LogLine, LogSource


class StoreLogView(ScrollView, can_focus=True):
    """Lines come from a :class:`LogSource`; a missing page is loaded in a worker."""

    COMPONENT_CLASSES = {"log-view--gutter", "log-view--cursor", "log-view--match"}
    DEFAULT_CSS = """
    StoreLogView { background: $surface; }
    StoreLogView > .log-view--gutter { color: $text-muted; }
    StoreLogView > .log-view--cursor { background: $accent 30%; }
    StoreLogView > .log-view--match { background: $warning 40%; }
    """
    BINDINGS = [
        Binding("up,k", "cursor(-1)", "Up", show=False),
        Binding("down,j", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown,space", "page(1)", "Page down", show=False),
        Binding("home,g", "jump_home", "Top", show=False),
        Binding("end,G", "jump_end", "End", show=False),
    ]

    cursor: reactive[int] = reactive(0)
    follow: reactive[bool] = reactive(True)
    """Keep the cursor on the newest line while lines arrive."""

    class CursorMoved(Message):
        def __init__(self, line: int) -> None:
            super().__init__()
            self.line = line

    def __init__(self, source: LogSource, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.source = source
        self.match_query = ""
        self._loading: set[int] = set()

    # -- data ------------------------------------------------------------------------------

    @property
    def gutter_width(self) -> int:
        return len(str(max(1, self.source.total))) + 5

    def grew(self) -> None:
        """The source has more lines: resize, and follow the end if following."""
        self.virtual_size = Size(self.source.width + self.gutter_width, self.source.total)
        if self.follow and self.source.total:
            self.cursor = self.source.total - 1
            # the new height takes effect at the next layout: scrolling now would stop short
            self.call_after_refresh(self._show_cursor)
        self.refresh()

    @work(group="log-pages", exit_on_error=False)
    async def _load(self, page_no: int) -> None:
        try:
            await self.source.load_page(page_no)
        finally:
            self._loading.discard(page_no)
        self.refresh()

    # -- rendering -------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        n = scroll_y + y
        width = self.size.width
        base = self.rich_style
        if n >= self.source.total:
            return Strip.blank(width, base)
        line = self.source.line(n)
        if line is None:
            page_no = n // PAGE
            if page_no not in self._loading:
                self._loading.add(page_no)
                self._load(page_no)
            line = LogLine(0, "", "…")
        return self._strip(n, line, scroll_x, width, base)

    def _strip(self, n: int, line: LogLine, scroll_x: int, width: int, base: Style) -> Strip:
        gutter_style = self.get_component_rich_style("log-view--gutter")
        style = base
        if n == self.cursor:
            style = base + self.get_component_rich_style("log-view--cursor")
        elif self.match_query and self.match_query in line.text.lower():
            style = base + self.get_component_rich_style("log-view--match")
        digits = self.gutter_width - 5
        gutter = (
            f"{n + 1:>{digits}} {line.attempt or ' '}{'!' if line.stream == 'stderr' else ' '}│ "
        )
        text = line.text.expandtabs(4)
        body = Strip([Segment(text, style)]).crop_extend(scroll_x, scroll_x + width, style)
        head = Strip([Segment(gutter, base + gutter_style)])
        return Strip.join([head, body]).crop(0, width)

    # -- cursor ----------------------------------------------------------------------------

    def watch_cursor(self, old: int, new: int) -> None:
        self._show_cursor()
        self.post_message(self.CursorMoved(new))

    def _show_cursor(self, tries: int = 3) -> None:
        """Scroll just enough for the cursor's line to be on screen. Where the scroll would stop
        short because the new height is not laid out yet, it is tried again after the next
        refresh (a few times at most)."""
        height = max(1, self.size.height)
        top = self.scroll_offset.y
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False)
        elif self.cursor >= top + height:
            target = self.cursor - height + 1
            self.scroll_to(y=target, animate=False)
            if target > self.max_scroll_y and tries > 1:
                self.call_after_refresh(self._show_cursor, tries - 1)
        self.refresh()

    def move_to(self, n: int, *, center: bool = False) -> None:
        if not self.source.total:
            return
        n = max(0, min(self.source.total - 1, n))
        self.follow = n == self.source.total - 1
        self.cursor = n
        self._show_cursor()  # also when the cursor was there already: the view may not be
        if center:
            self.scroll_to(y=max(0, n - self.size.height // 2), animate=False)

    def action_cursor(self, delta: int) -> None:
        self.move_to(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self.move_to(self.cursor + direction * max(1, self.size.height - 1))

    def action_jump_home(self) -> None:
        self.move_to(0)

    def action_jump_end(self) -> None:
        self.move_to(self.source.total - 1)
