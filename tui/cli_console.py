"""Opening the console (the Textual app) from the command line."""

from __future__ import annotations

import argparse


def open_console(args: argparse.Namespace) -> int:
    from tui.console import run_console

    return run_console(args)
