"""A simulation's transcript: what happened, when (learner's local time), for which step."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class TranscriptEntry:
    """One line of a transcript."""

    at: datetime
    event: str  # sent, reply, feedback, clarify, branch, alert, reminder, expired, skipped, review, stop, waiting
    step_id: str
    detail: str
    text: str | None = None
    #: The question it is about (``bank#item``), for comparing with production; not printed.
    ref: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "event": self.event, "step": self.step_id,
                "detail": self.detail, "text": self.text}
