"""How a run ended for the process that drove it, and the exit code of ``run --headless`` and
``resume --headless`` (docs/cli.md)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RunOutcome:
    status: str
    decision: str | None
    reason: str = ""

    @property
    def exit_code(self) -> int:
        """0 PROCEED (or no decision), 3 CONDITIONAL_PROCEED, 4 paused, 130 interrupted or
        stopped, 1 BLOCK or failed."""
        if self.status == "paused":
            return 4
        if self.status in ("interrupted", "stopped"):
            return 130
        if self.status == "failed":
            return 1
        return {"PROCEED": 0, "CONDITIONAL_PROCEED": 3, "BLOCK": 1}.get(self.decision or "", 0)
