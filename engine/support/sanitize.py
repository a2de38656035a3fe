"""Neutralising agent text before it reaches a terminal.

Agents may print anything: escape sequences that move the cursor, change the title,
or write to the clipboard, in their 7-bit form (``ESC [``) or as C1 controls (U+009B, the
one-character CSI, and the rest of U+0080-U+009F, which xterm acts on too). Every sequence is
removed, the other control characters are made visible (``\\x85``); tabs are kept. Used by the
console's panes and views (in a terminal or a browser), by ``phaseboard logs`` and by every other
place that prints an agent's text.
"""

from __future__ import annotations

import re

_ESCAPES = re.compile(
    r"""
    (?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]                        # CSI, also as the one character
  | (?:\x1b\]|\x9d)[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?     # OSC (title, clipboard, links)
  | (?:\x1b[PX^_]|[\x90\x98\x9e\x9f])[^\x1b\x9c]*(?:\x1b\\|\x9c)?  # DCS, SOS, PM, APC
  | \x1b[@-Z\\-_]                                          # other two-byte sequences
  | \x1b                                                    # a lone ESC
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
