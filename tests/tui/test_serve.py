"""``phaseboard serve``: the console in a real browser (headless Chromium), behind its token."""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from engine.execution.local_executor import LocalExecutor
from engine.run.engine import Engine
from engine.run.requests import submit
from engine.store.database import Store
from engine.store.location import default_db
from tests.faults.harness import cli_env, lit
from tests.helpers import agent_cmd, create_test_run
from tests.tui import cdp
from tui.cli.serve import is_loopback

HOSTILE = r"zq-before \x9b2J\x9d0;pwned\x9c\x1b]0;pwned\x07\x1b]52;c;cm0gLXJm\x07\x85 zq-after"
WORKFLOW = """
version: 1
name: webbed
defaults: {{timeout: 30, retries: 0}}
stages:
  - id: webwork
    kind: agents
    agents: [{{id: noisy, run: {noisy}}}]
  - id: webgate
    kind: checkpoint
    criteria: [{{id: never, expr: "false"}}]
"""


async def new_run(tmp_path: Path, workspace: Path) -> tuple[Path, str]:
    text = WORKFLOW.format(noisy=agent_cmd("--print-escaped", lit(HOSTILE)))
    db = default_db(workspace)
    async with await Store.open(db) as store:
        run_id = await create_test_run(store, tmp_path, workspace, text)
    return db, run_id


async def paused_run(tmp_path: Path, workspace: Path) -> tuple[Path, str]:
    """A run paused at its checkpoint, which the operator has since accepted: `p` resumes it."""
    db, run_id = await new_run(tmp_path, workspace)
    async with await Store.open(db) as store:
        engine = await Engine.open(store, run_id, LocalExecutor())
        assert (await engine.drive()).status == "paused"
        accepted = await submit(store, run_id, "accept", {"checkpoint": "webgate", "note": "ok"})
        assert accepted.ok, accepted.message
    return db, run_id


@contextlib.asynccontextmanager
async def serving(db: Path, run_id: str) -> AsyncIterator[str]:
    """`phaseboard serve RUN --port 0`; the address it printed, token included."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tui.cli", "serve", run_id, "--db", str(db), "--port", "0"],
        env=cli_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        first = await asyncio.to_thread(proc.stderr.readline)
        found = re.search(r"(http://127\.0\.0\.1:\d+/[\w-]+/)", first)
        assert found, first
        yield found.group(1)
    finally:
        proc.send_signal(signal.SIGTERM)
        await asyncio.to_thread(proc.wait, 20)


async def status_of(db: Path, run_id: str) -> tuple[str, str | None]:
    async with await Store.open(db, create=False) as store:
        row = await store.run(run_id)
    assert row is not None
    return row.status, row.decision


async def test_serve_refuses_requests_without_its_token(tmp_path: Path, workspace: Path) -> None:
    import aiohttp

    db, run_id = await new_run(tmp_path, workspace)
    async with serving(db, run_id) as url, aiohttp.ClientSession() as http:
        root = url.split("/", 3)
        origin, token = "/".join(root[:3]), root[3].strip("/")
        async with http.get(url) as page:
            assert page.status == 200 and page.headers["Referrer-Policy"] == "no-referrer"
            assert "static/js/textual.js" in await page.text()
        async with http.get(f"{url}static/js/textual.js") as script:
            assert script.status == 200
        for path in ("/", "/static/js/textual.js", "/ws", f"/{token[:-1]}/", f"/x{token}/ws"):
            async with http.get(origin + path) as refused:
                assert refused.status == 403, path
        ws = origin.replace("http", "ws", 1)
        for address, headers in (
            (f"{ws}/ws", {}),  # textual-serve's own address: no token
            (f"{ws}/{token}/ws", {"Origin": "http://evil.example"}),  # a page of another site
            (f"{ws}/{token}/ws", {"Origin": "null"}),
        ):
            with pytest.raises(aiohttp.WSServerHandshakeError) as refused_ws:
                await http.ws_connect(address, headers=headers)
            assert refused_ws.value.status == 403, address
    assert await status_of(db, run_id) == ("pending", None)  # nothing got through
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.0.2.7")


C1 = re.compile(rb"\xc2[\x80-\x9f]")


@pytest.mark.skipif(
    not cdp.available(), reason="needs Debian's chromium (apt-get install chromium)"
)
async def test_the_console_in_headless_chromium(tmp_path: Path, workspace: Path) -> None:
    db, run_id = await paused_run(tmp_path, workspace)
    async with contextlib.AsyncExitStack() as both:  # the server and the browser start at once
        url, page = await asyncio.gather(
            both.enter_async_context(serving(db, run_id)),
            both.enter_async_context(cdp.chromium(tmp_path / "profile")),
        )
        await page.send("Page.navigate", url=url)
        await page.wait_received(lambda seen: b"webwork" in seen and b"webgate" in seen, "stages")
        await page.wait_received(lambda seen: b"p resume" in seen, "the pause banner's keys")
        await page.evaluate("document.querySelector('.xterm-helper-textarea').focus()")
        await page.press("ArrowUp")  # the agents stage: its pane shows the agent's log
        await page.wait_received(lambda seen: b"zq-after" in seen, "the agent's log line")
        await page.press("p")  # resume, as in the terminal: a background engine goes on
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 30
        while (now := await status_of(db, run_id))[0] != "completed":
            assert loop.time() < deadline, f"the run did not go on from the browser: {now}"
            await asyncio.sleep(0.05)
        assert now == ("completed", None)  # accepted, and no decision matrix to give a verdict
        await page.wait_received(lambda seen: b"completed" in seen, "the run's end")
    seen = bytes(page.received)
    assert b"zq-before" in seen
    assert not C1.search(seen) and b"pwned" not in seen and b"\x1b]52;" not in seen
    await engine_gone(db, run_id)


async def engine_gone(db: Path, run_id: str) -> None:
    """The background engine the browser's console started has let go of the run."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 20
    async with await Store.open(db, create=False) as store:
        while await store.lock(run_id) is not None:
            assert loop.time() < deadline, "the background engine is still there"
            await asyncio.sleep(0.05)
