"""Masking of secret values in everything phaseboard stores or shows."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

MASK = "***"
MIN_SECRET_LEN = 4
_SECRET_NAME = re.compile(
    r"(API_?KEY|TOKEN|SECRET|PASSWORD|PASSWD|PRIVATE_KEY|ACCESS_KEY|CREDENTIALS?)$", re.IGNORECASE
)


def secret_names(env: Mapping[str, str], declared: Iterable[str]) -> list[str]:
    """Variables named in the workflow's ``secrets``, plus any that look like a secret."""
    names = set(declared)
    names.update(name for name in env if _SECRET_NAME.search(name))
    return sorted(names)


class Masker:
    """Replaces every occurrence of the given secret values by ``***``."""

    def __init__(self, values: Iterable[str]) -> None:
        usable = sorted(
            {v for v in values if v and len(v) >= MIN_SECRET_LEN}, key=len, reverse=True
        )
        self._pattern = re.compile("|".join(re.escape(v) for v in usable)) if usable else None

    @classmethod
    def from_env(cls, env: Mapping[str, str], declared: Iterable[str]) -> Masker:
        return cls(env[name] for name in secret_names(env, declared) if name in env)

    def __bool__(self) -> bool:
        return self._pattern is not None

    def text(self, value: str) -> str:
        if self._pattern is None:
            return value
        return self._pattern.sub(MASK, value)

    def value(self, value: Any) -> Any:
        """Mask inside any JSON-like value (dict keys included)."""
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.text(str(k)): self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        return value
