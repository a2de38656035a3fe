"""Fast, exact JSON for the event log.

orjson decodes about four times faster than the standard library, which is what makes
rebuilding the state of a run with a million events quick. It cannot hold integers
beyond 64 bits exactly, so text that may contain one goes through the standard library.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

_LONG_DIGITS = re.compile(r"\d{19}")


def loads(text: str | bytes) -> Any:
    if _LONG_DIGITS.search(text if isinstance(text, str) else text.decode("utf-8", "replace")):
        return json.loads(text)
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def dumps(value: Any) -> str:
    try:
        return orjson.dumps(value).decode("utf-8")
    except TypeError:  # integers beyond 64 bits, or types orjson does not know
        return json.dumps(value, default=str)
