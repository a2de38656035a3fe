"""The ``phaseboard`` command: parsing, the headless commands, and opening the console.
It may import engine and, to open the console, tui.console; tui.console never imports it.
"""

from tui.cli.main import main

__all__ = ["main"]
