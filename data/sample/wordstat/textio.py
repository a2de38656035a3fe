"""Reading the texts to count."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path


def read_texts(paths: list[str], encoding: str = "utf-8") -> Iterator[str]:
    """The content of each path; ``-`` means standard input."""
    for name in paths:
        if name == "-":
            yield sys.stdin.read()
        else:
            # TODO: stream large files instead of reading them whole
            yield Path(name).read_text(encoding=encoding, errors="replace")
