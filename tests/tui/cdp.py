"""Headless Chromium driven over its DevTools protocol, for the tests of ``phaseboard serve``.

Debian's ``chromium`` (``/usr/bin/chromium``), started with a fresh profile and no network of
its own; the protocol is spoken over a websocket with aiohttp (textual-serve's own dependency),
so nothing is downloaded at run time.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported when a browser starts: collecting the tests stays cheap
    import aiohttp

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-default-browser-check",
    "--remote-debugging-port=0",
    "--window-size=1200,800",
]
START_S = 30.0
REAPER = """
import ctypes, os, signal, subprocess, sys
ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: its helpers' orphans are ours
browser = subprocess.Popen(sys.argv[1:])
signal.signal(signal.SIGTERM, lambda *_: browser.terminate())
browser.wait()
while True:
    try:
        os.wait()
    except ChildProcessError:
        break
"""
"""Runs Chromium and reaps what it leaves: its zygote helpers are orphaned by design, and a
container's first process may never reap them."""
KEY_CODES = {
    "ArrowUp": 38,
    "ArrowDown": 40,
    "ArrowLeft": 37,
    "ArrowRight": 39,
    "Enter": 13,
    "Escape": 27,
}


def available() -> bool:
    return Path(CHROMIUM).exists()


class Page:
    """One tab: commands, and the websocket frames the page received (decoded)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self._ids = itertools.count(1)
        self._replies: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.received = bytearray()
        """Every binary websocket frame the page got, in order: what the console drew."""
        self._changed = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for message in self.ws:
            data = json.loads(message.data)
            if "id" in data:
                future = self._replies.pop(data["id"], None)
                if future is not None and not future.done():
                    future.set_result(data)
            elif data.get("method") == "Network.webSocketFrameReceived":
                response = data["params"]["response"]
                if response.get("opcode") == 2:
                    self.received += base64.b64decode(response["payloadData"])
                    self._changed.set()

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        number = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._replies[number] = future
        await self.ws.send_json({"id": number, "method": method, "params": params})
        reply = await asyncio.wait_for(future, START_S)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    async def evaluate(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    async def wait_received(
        self, found: Callable[[bytes], bool], what: str, timeout: float = 30
    ) -> None:
        async def until() -> None:
            while not found(bytes(self.received)):
                self._changed.clear()
                await self._changed.wait()

        try:
            await asyncio.wait_for(until(), timeout)
        except TimeoutError:
            raise AssertionError(f"the page never showed {what}") from None

    async def press(self, key: str) -> None:
        """A key pressed on the page, as a person would: keyDown (with its text), keyUp."""
        if len(key) == 1:
            vk, code = ord(key.upper()), (f"Key{key.upper()}" if key.isalpha() else key)
            text = {"text": key, "unmodifiedText": key}
        else:
            vk, code, text = KEY_CODES[key], key, {"text": "\r"} if key == "Enter" else {}
        down = {"key": key, "code": code, "windowsVirtualKeyCode": vk, "nativeVirtualKeyCode": vk}
        await self.send("Input.dispatchKeyEvent", type="keyDown", **down, **text)
        await self.send("Input.dispatchKeyEvent", type="keyUp", **down)

    async def screenshot(self, path: Path) -> None:
        shot = await self.send("Page.captureScreenshot", format="png")
        path.write_bytes(base64.b64decode(shot["data"]))

    async def close(self) -> None:
        self._reader.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._reader
        await self.ws.close()


@contextlib.asynccontextmanager
async def chromium(profile: Path) -> AsyncIterator[Page]:
    """A headless Chromium with one blank tab, its frames and keys at hand; ended on exit."""
    profile.mkdir(parents=True, exist_ok=True)
    (profile / "DevToolsActivePort").unlink(missing_ok=True)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            REAPER,
            CHROMIUM,
            *FLAGS,
            f"--user-data-dir={profile}",
            "about:blank",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    import aiohttp

    session = aiohttp.ClientSession()
    page: Page | None = None
    try:
        port = await _devtools_port(profile / "DevToolsActivePort", proc)
        async with session.get(f"http://127.0.0.1:{port}/json/list") as reply:
            targets = await reply.json()
        tab = next(t for t in targets if t.get("type") == "page")
        ws = await session.ws_connect(tab["webSocketDebuggerUrl"], max_msg_size=0)
        page = Page(ws)
        await page.send("Network.enable")
        await page.send("Page.enable")
        yield page
    finally:
        if page is not None:
            with contextlib.suppress(Exception):  # a graceful close: it reaps its own helpers
                await page.send("Browser.close")
            await page.close()
        await session.close()
        proc.terminate()
        try:
            await asyncio.to_thread(proc.wait, 10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def _devtools_port(marker: Path, proc: subprocess.Popen[bytes]) -> int:
    """The port Chromium chose: the first line of the file it writes once listening."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_S
    while True:
        with contextlib.suppress(OSError, ValueError, IndexError):
            return int(marker.read_text().splitlines()[0])
        if proc.poll() is not None:
            raise RuntimeError(f"chromium exited ({proc.returncode}) before it listened")
        if loop.time() > deadline:
            raise RuntimeError("chromium did not open its DevTools port")
        await asyncio.sleep(0.02)
