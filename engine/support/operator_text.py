"""Commands as the operator pastes them into a shell."""

from __future__ import annotations

import shlex


def command(*words: str) -> str:
    """A command line the operator can paste: each word shell-quoted where needed."""
    return " ".join(shlex.quote(word) for word in words)
