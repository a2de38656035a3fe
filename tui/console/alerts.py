"""Reaching the operator at the console's terminal when the run needs them or ends.

Two signals, each of which can be turned off (docs/console.md):

- the terminal bell (``$PHASEBOARD_BELL=off`` silences it);
- a desktop notification, sent both ways terminals know: OSC 9 (iTerm2, WezTerm, kitty,
  Windows Terminal) and OSC 777 (foot, GNOME Terminal and other VTE terminals, urxvt, WezTerm)
  (``$PHASEBOARD_DESKTOP_NOTIFY=off``). Inside tmux (``$TMUX``) or screen (``$STY``) they are
  wrapped in the multiplexer's DCS passthrough, so they reach the terminal outside it (tmux 3.3
  and later pass it on with ``set -g allow-passthrough on``).

The text comes from :func:`engine.run.notify.headline`: phaseboard's own words and ids, never an
agent's output, and it is stripped of anything that could end or extend the sequence it rides in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from engine.support.sanitize import sanitize_line

BELL_ENV = "PHASEBOARD_BELL"
DESKTOP_ENV = "PHASEBOARD_DESKTOP_NOTIFY"
OFF = frozenset({"0", "off", "no", "false"})
TEXT_LIMIT = 160
"""Characters of a notification's title or body (screen cuts long strings short)."""
BEL = "\x07"
ESC = "\x1b"
ST = ESC + "\\"

Multiplexer = Literal["tmux", "screen"] | None


@dataclass(frozen=True)
class AlertSettings:
    bell: bool = True
    desktop: bool = True
    multiplexer: Multiplexer = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> AlertSettings:
        mux: Multiplexer = (
            "tmux" if environ.get("TMUX") else "screen" if environ.get("STY") else None
        )
        return cls(
            bell=environ.get(BELL_ENV, "").strip().lower() not in OFF,
            desktop=environ.get(DESKTOP_ENV, "").strip().lower() not in OFF,
            multiplexer=mux,
        )


def field(text: str) -> str:
    """Text safe inside an OSC string and as one of OSC 777's ``;``-separated fields."""
    clean = sanitize_line(text).replace(";", ",")
    return clean[:TEXT_LIMIT]


def passthrough(sequence: str, multiplexer: Multiplexer) -> str:
    """``sequence`` as the multiplexer passes it on to the terminal outside it."""
    if multiplexer == "tmux":
        return f"{ESC}Ptmux;{sequence.replace(ESC, ESC + ESC)}{ST}"
    if multiplexer == "screen":
        return f"{ESC}P{sequence}{ST}"
    return sequence


def alert_sequence(settings: AlertSettings, title: str, body: str) -> str:
    """What to write to the terminal for one notice: the desktop notifications (OSC 9, then
    OSC 777), each passed through a multiplexer, then the bell."""
    out = ""
    if settings.desktop:
        title, body = field(title), field(body)
        for osc in (f"{ESC}]9;{title}: {body}{BEL}", f"{ESC}]777;notify;{title};{body}{BEL}"):
            out += passthrough(osc, settings.multiplexer)
    if settings.bell:
        out += BEL
    return out
