"""The console in a browser: textual-serve behind a token.

Each browser tab that opens the page gets a console of its own, a process started with
``command`` (the CLI's ``attach``), driven over a websocket by textual-serve
(:class:`textual_serve.server.Server`, its ``handle_websocket`` and its static files). What
textual-serve leaves open is closed here:

- every path starts with a random token (``/TOKEN/``, ``/TOKEN/ws``, ``/TOKEN/static/...``);
  a request without it gets 403, the websocket that drives the console included;
- the websocket also checks ``Origin``: a page of another site, open in the same browser, could
  otherwise connect to it and press keys;
- the page is our own (``web_page/index.html``): it loads nothing from elsewhere and builds
  the websocket's address from its own, so it works through an ``ssh -L`` tunnel on any port.
"""

from __future__ import annotations

import asyncio
import hmac
import html
import secrets
from pathlib import Path
from string import Template
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from textual_serve.server import Server

PAGE = Path(__file__).resolve().parent / "web_page" / "index.html"
REFUSED = "phaseboard: this address needs the token that `phaseboard serve` printed\n"
HEADERS = {
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
}


def new_token() -> str:
    return secrets.token_urlsafe(24)


def same_origin(request: web.Request) -> bool:
    """A browser's websocket says which page opened it; only ours may (a client that is no
    browser sends no ``Origin``, and has had to know the token)."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    parts = urlsplit(origin)
    return parts.scheme in ("http", "https") and parts.netloc.lower() == request.host.lower()


class ConsoleServer:
    """The aiohttp application serving the console at ``/TOKEN/``."""

    def __init__(self, command: str, *, token: str | None = None, title: str = "phaseboard"):
        self.token = token or new_token()
        self.title = title
        self.serve = Server(command, title=title)
        """textual-serve's server: only its websocket handler and its static files are used."""
        self._consoles: set[asyncio.Task[Any]] = set()

    @property
    def path(self) -> str:
        return f"/{self.token}/"

    def application(self) -> web.Application:
        app = web.Application(middlewares=[self._guard])
        base = f"/{self.token}"
        app.add_routes(
            [
                web.get(base, self._to_page),
                web.get(f"{base}/", self._page),
                web.get(f"{base}/ws", self._console),
                web.static(f"{base}/static", self.serve.statics_path),
            ]
        )
        return app

    @web.middleware
    async def _guard(self, request: web.Request, handler: Any) -> web.StreamResponse:
        first = request.path.split("/", 2)[1]
        if not hmac.compare_digest(first.encode(), self.token.encode()):
            raise web.HTTPForbidden(text=REFUSED)
        if request.path == f"/{self.token}/ws" and not same_origin(request):
            raise web.HTTPForbidden(text="phaseboard: refused a websocket from another site\n")
        response: web.StreamResponse = await handler(request)
        if not response.prepared:
            response.headers.update(HEADERS)
        return response

    async def _console(self, request: web.Request) -> web.StreamResponse:
        """One tab's console, for as long as its websocket lasts (textual-serve's handler)."""
        task = asyncio.current_task()
        assert task is not None
        self._consoles.add(task)
        try:
            return await self.serve.handle_websocket(request)
        finally:
            self._consoles.discard(task)

    async def close_consoles(self) -> None:
        """End every tab's console before the server stops: each app is told to quit (its run
        goes on), rather than left to the server's shutdown timeout."""
        consoles = list(self._consoles)
        for task in consoles:
            task.cancel()
        await asyncio.gather(*consoles, return_exceptions=True)

    async def _to_page(self, request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(self.path)

    async def _page(self, request: web.Request) -> web.StreamResponse:
        try:
            font_size = max(6, min(40, int(request.query.get("fontsize", "16"))))
        except ValueError:
            font_size = 16
        page = Template(PAGE.read_text(encoding="utf-8")).substitute(
            title=html.escape(self.title), font_size=font_size
        )
        return web.Response(text=page, content_type="text/html")
