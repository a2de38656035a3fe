"""What a command is and what it gives back, without what applying one needs.

Kept apart from :mod:`engine.run.commands` (checkpoints, rollback, the expression language) so
a process that only submits a command, such as ``phaseboard stop``, starts fast.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

COMMAND_KINDS = ("retry", "resolve", "accept", "rollback", "stop", "pause", "resume")


class CommandRejected(Exception):
    """The command names something that does not exist or cannot be done now."""


@dataclass(frozen=True)
class Outcome:
    ok: bool
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "message": self.message}
