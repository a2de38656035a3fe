"""Neutralising agent text before it reaches a terminal.

Agents may print anything: escape sequences that move the cursor, change the title,
or write to the clipboard. Everything that can act on a terminal is removed; tabs
are kept. Used by the TUI's panes and by ``phaseboard logs`` on a terminal.
"""

from __future__ import annotations

import re

_ESCAPES = re.compile(
    r"""
    \x1b\[[0-?]*[ -/]*[@-~]            # CSI
  | \x1b\][^\x07\x1b]*(?:\x07|\x1b\\)? # OSC (title, clipboard, hyperlinks)
  | \x1b[PX^_][^\x1b]*(?:\x1b\\)?      # DCS, SOS, PM, APC
  | \x1b[@-Z\\-_]                      # other two-byte sequences
  | \x1b                               # a lone ESC
    """,
    re.VERBOSE,
)
_CONTROLS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\x80-\x9f]")


def sanitize_line(text: str) -> str:
    """The text with escape sequences removed and other control characters made visible."""
    if text.isprintable():
        return text
    text = _ESCAPES.sub("", text)
    return _CONTROLS.sub(_visible, text)


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    if code == 0x0A:
        return "␤"
    if code == 0x0D:
        return ""
    return f"\\x{code:02x}"
