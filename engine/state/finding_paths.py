"""Paths inside an agent's ``findings``, and the canonical form in which values are compared.

A path names a place inside ``findings``: the keys from the top, joined with ``.``. Inside a key,
``\\`` is written ``\\\\`` and ``.`` is written ``\\.``, so :func:`split_path` undoes
:func:`join_path` whatever the keys contain.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from enum import Enum
from typing import Any

__all__ = ["MISSING", "canonical_json", "get_path", "join_path", "set_path", "split_path"]


class _Missing(Enum):
    MISSING = "MISSING"


MISSING = _Missing.MISSING
"""Default of :func:`get_path`: raise ``KeyError`` when the path is absent."""


def join_path(keys: Iterable[str]) -> str:
    parts = [str(key).replace("\\", "\\\\").replace(".", "\\.") for key in keys]
    if not parts:
        raise ValueError("a path needs at least one key")
    return ".".join(parts)


def split_path(dotted: str) -> list[str]:
    keys: list[str] = []
    current: list[str] = []
    chars = iter(dotted)
    for char in chars:
        if char == "\\":
            current.append(next(chars, "\\"))
        elif char == ".":
            keys.append("".join(current))
            current = []
        else:
            current.append(char)
    keys.append("".join(current))
    return keys


def get_path(d: Mapping[str, Any], dotted: str, default: Any = MISSING) -> Any:
    """The value at ``dotted``; ``default`` if absent, or ``KeyError`` when no default is given."""
    node: Any = d
    for key in split_path(dotted):
        if not isinstance(node, Mapping) or key not in node:
            if default is MISSING:
                raise KeyError(dotted)
            return default
        node = node[key]
    return node


def set_path(d: Mapping[str, Any], dotted: str, value: Any) -> dict[str, Any]:
    """A deep copy of ``d`` with ``value`` at ``dotted``; missing dicts on the way are created.

    Raises ``TypeError`` rather than overwrite a non-dict value standing on the way.
    """
    result = copy.deepcopy(dict(d))
    keys = split_path(dotted)
    node = result
    for depth, key in enumerate(keys[:-1]):
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise TypeError(f"{join_path(keys[: depth + 1])!r} is not a dict")
        node = child
    node[keys[-1]] = copy.deepcopy(value)
    return result


def canonical_json(value: Any) -> str:
    """The form in which values are compared: key order and ``3`` vs ``3.0`` do not matter."""
    return json.dumps(
        _normalise(value), sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=repr
    )


def _normalise(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {str(key): _normalise(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_normalise(item) for item in value]
    return value
