"""The trail a step's questions carry from one to the next: score so far, answers, ratings.

A typed model (stored as JSON on the open question) so that branching, which runs once
on the whole step at its end, reads the same fields in production and in a simulation.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

Answer = str | int | bool | None


class Trail(BaseModel):
    """What a learner answered so far in one step (a quiz of three items, a survey)."""

    model_config = ConfigDict(frozen=True, extra="ignore")

    correct: int = 0
    total: int = 0
    answers: dict[str, Answer] = Field(default_factory=dict)
    ratings: tuple[int, ...] = ()
    nps: int | None = None
    #: Alert kinds already raised in this step (one alert of each kind per step).
    alerted: tuple[str, ...] = ()
    #: Indexes of the step's ``if`` entries that already ran.
    fired: tuple[int, ...] = ()

    @classmethod
    def load(cls, data: Trail | dict[str, Any] | None) -> Trail:
        """A trail from a question's stored JSON (an empty one when the step just started)."""
        if isinstance(data, Trail):
            return data
        return cls.model_validate(data or {})

    def dump(self) -> dict[str, Any]:
        """The JSON stored on the next question."""
        return self.model_dump(mode="json")
