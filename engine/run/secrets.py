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
        self.longest = len(usable[0]) if usable else 0

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

    def safe_cut(self, text: str) -> int:
        """Where ``text`` can be cut so that no secret straddles the cut or the end."""
        if self._pattern is None:
            return len(text)
        cut = max(0, len(text) - (self.longest - 1))
        for match in self._pattern.finditer(text):
            if match.start() < cut < match.end():
                return match.start()
        return cut


class PieceMasker:
    """Masks a long line that arrives in pieces: the end of each piece is held back and
    joined to the next one, so a secret cut in two is still seen whole."""

    def __init__(self, masker: Masker) -> None:
        self._masker = masker
        self._carry = ""

    def piece(self, text: str, partial: bool) -> str:
        text = self._carry + text
        if not partial:
            self._carry = ""
            return self._masker.text(text)
        cut = self._masker.safe_cut(text)
        self._carry = text[cut:]
        return self._masker.text(text[:cut])
