"""``phaseboard serve [RUN]``: the console in a browser.

Each browser tab runs a console of its own, attached to the run as ``phaseboard attach`` would be
(:mod:`tui.console.web` serves it through textual-serve, behind a random token). It listens on
the loopback address unless ``--host`` says otherwise; from a laptop, an SSH tunnel reaches it.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import shlex
import signal
import sys
from pathlib import Path

import tui
from engine.run.runs import UsageError
from tui.cli.console import attach_target
from tui.cli.shared import err

LOOPBACK_NAMES = ("localhost", "ip6-localhost")


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def console_command(db: Path, run_id: str | None) -> str:
    """The shell command one tab's console runs: ``phaseboard attach``, found from wherever this
    phaseboard was imported (an installed package or a source checkout), with the caller's
    ``PYTHONPATH`` left as it is for the engines and agents it may start."""
    root = str(Path(tui.__file__).resolve().parent.parent)
    argv = ["attach", *([run_id] if run_id else []), "--db", str(db)]
    boot = f"import sys; sys.path.insert(0, {root!r}); from tui.cli import main; sys.exit(main({argv!r}))"
    return "exec " + shlex.join([sys.executable, "-c", boot])


def url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def serve(args: argparse.Namespace) -> int:
    if not 0 <= args.port <= 65535:
        raise UsageError(f"--port takes 0 to 65535, not {args.port}")
    target = asyncio.run(attach_target(args))
    return asyncio.run(
        _serve(args.host, args.port, console_command(target.db, target.run_id), target.run_id)
    )


async def _serve(host: str, port: int, command: str, run_id: str | None) -> int:
    from aiohttp import web

    from tui.console.web import ConsoleServer

    server = ConsoleServer(command)
    runner = web.AppRunner(server.application(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port, shutdown_timeout=5.0)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        err(f"phaseboard: cannot listen on {host}:{port}: {exc.strerror or exc}")
        return 1
    bound = runner.addresses[0][1] if runner.addresses else port
    url = f"http://{url_host(host)}:{bound}{server.path}"
    what = f"run {run_id}" if run_id else "this database's runs"
    err(f"phaseboard: the console of {what} at {url}")
    if is_loopback(host):
        err(f"  from another machine: ssh -L {bound}:127.0.0.1:{bound} THIS_HOST, then open that")
        err("  address there")
    else:
        err(
            f"phaseboard: warning: listening on {host}, reachable from other machines: anyone "
            "with the address above can steer your runs, over plain http"
        )
    err("  each browser tab is a console of its own; Ctrl-C stops serving (runs go on)")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        await server.close_consoles()
        await runner.cleanup()
    return 0
