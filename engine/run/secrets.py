"""Masking of secret values in everything phaseboard stores or shows."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from engine.execution.log_block import LogBlock, Stream

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
        self._values = usable
        self._lines: Masker | None = None

    def for_lines(self) -> Masker:
        """A masker for output lines: a secret of several lines (a PEM key) never shows whole in
        one, so each of its lines is masked wherever it shows. Its matches never hold a
        newline, so it may mask many lines joined in one text at once."""
        if self._lines is None:
            parts = (part.rstrip("\r") for v in self._values for part in v.split("\n"))
            self._lines = Masker(parts)
        return self._lines

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

    @property
    def holding(self) -> bool:
        """The end of a piece is held back, to be joined to the next."""
        return bool(self._carry)

    def piece(self, text: str, partial: bool) -> str:
        text = self._carry + text
        if not partial:
            self._carry = ""
            return self._masker.text(text)
        cut = self._masker.safe_cut(text)
        self._carry = text[cut:]
        return self._masker.text(text[:cut])


class OutputMasker:
    """Masks an attempt's output as it comes, in blocks of lines; the pieces of a long line are
    masked as :class:`PieceMasker` does, per stream."""

    def __init__(self, masker: Masker) -> None:
        self._lines = masker.for_lines()
        self._pieces: dict[Stream, PieceMasker] = {
            "stdout": PieceMasker(self._lines),
            "stderr": PieceMasker(self._lines),
        }

    def blocks(self, batch: list[LogBlock]) -> list[LogBlock]:
        """The blocks masked; a piece held back whole (to be joined to the next one, so a
        secret cut in two is still seen) is left out."""
        out: list[LogBlock] = []
        for block in batch:
            if not block.has_partial and not any(p.holding for p in self._pieces.values()):
                out.append(replace(block, text=self._lines.text(block.text)))
                continue
            kept = []
            for stream, text, partial in block.lines():
                text = self._pieces[stream].piece(text, partial)
                if text or not partial:
                    kept.append((stream, text, partial))
            if kept:
                out.append(LogBlock.of(kept, block.ts))
        return out
