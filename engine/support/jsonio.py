"""Fast, exact JSON for the event log.

orjson decodes about four times faster than the standard library, which is what makes
rebuilding the state of a run with a million events quick. It cannot hold integers
beyond 64 bits exactly (it reads them as floats), so the rare document that has one is
written by the standard library with a leading space, a mark that is still valid JSON,
and read back by the standard library too.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_EXACT_MARK = " "


def loads(text: str | bytes) -> Any:
    mark = _EXACT_MARK if isinstance(text, str) else _EXACT_MARK.encode()
    if text[:1] == mark:
        return json.loads(text)
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def dumps(value: Any) -> str:
    try:
        return orjson.dumps(value).decode("utf-8")
    except TypeError:  # integers beyond 64 bits, or types orjson does not know
        return _EXACT_MARK + json.dumps(value, default=str)
