"""Counting words."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


def words(text: str, min_length: int = 1) -> list[str]:
    """The words of ``text``, lower-cased, at least ``min_length`` letters long."""
    return [w.lower() for w in WORD.findall(text) if len(w) >= min_length]


def count_words(texts: Iterable[str], min_length: int = 1) -> Counter[str]:
    """How often each word occurs across ``texts``."""
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(words(text, min_length))
    return counts


class WordCounter:
    """Accumulates word counts from several sources."""

    def __init__(self, min_length: int = 1) -> None:
        self.min_length = min_length
        self.counts: Counter[str] = Counter()
        self.sources = 0

    def add(self, text: str) -> None:
        """Count the words of one more text."""
        self.counts.update(words(text, self.min_length))
        self.sources += 1

    def most_common(self, n: int) -> list[tuple[str, int]]:
        """The ``n`` most common words; ties in alphabetical order."""
        return sorted(self.counts.items(), key=lambda item: (-item[1], item[0]))[:n]

    @property
    def total(self) -> int:
        return sum(self.counts.values())
