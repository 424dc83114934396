"""What happens after a reply or a silence: conditions and the actions they take."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from engine.campaign.schema.fields import (
    SEND_KINDS,
    ChannelName,
    DurationField,
    OffsetField,
    _Model,
)


class Action(_Model):
    """What a branch does: send something, alert someone, jump to a step, flag or stop."""

    lesson: str | None = None
    message: str | None = None
    quiz: str | None = None
    survey: str | None = None
    checkin: str | None = None
    at: OffsetField | None = Field(
        default=None, description="When to send, relative to the event (default: at once)."
    )
    channels: list[ChannelName] | None = None
    alert: Literal["trainer", "manager"] | None = None
    reason: str | None = None
    goto: str | None = Field(default=None, description="Id of a step to plan now.")
    mark: Literal["at_risk"] | None = None
    stop: bool = False

    @model_validator(mode="after")
    def _does_something(self) -> Action:
        sends = [kind for kind in SEND_KINDS if getattr(self, kind) is not None]
        if len(sends) > 1:
            raise ValueError(f"an action sends one thing, not {' and '.join(sends)}")
        if not sends and not (self.alert or self.goto or self.mark or self.stop):
            raise ValueError(
                "this action does nothing: give lesson, message, quiz, survey, checkin, "
                "alert, goto, mark or stop"
            )
        if self.alert and not self.reason:
            raise ValueError("an alert needs a 'reason' the trainer will read")
        return self

    @property
    def send_kind(self) -> str | None:
        return next((kind for kind in SEND_KINDS if getattr(self, kind) is not None), None)


Then = Action | list[Action]


class Condition(_Model):
    """One branch: a test on the reply and the actions taken when it holds."""

    score_below: float | None = Field(default=None, ge=0, le=1)
    score_at_least: float | None = Field(default=None, ge=0, le=1)
    answer: str | list[str] | None = None
    rating_below: int | None = Field(default=None, ge=1, le=5)
    nps_below: int | None = Field(default=None, ge=0, le=10)
    then: Then

    @model_validator(mode="after")
    def _one_test(self) -> Condition:
        tests = [
            name
            for name in ("score_below", "score_at_least", "answer", "rating_below", "nps_below")
            if getattr(self, name) is not None
        ]
        if len(tests) != 1:
            raise ValueError(
                "a branch tests exactly one of score_below, score_at_least, answer, "
                f"rating_below, nps_below (found {', '.join(tests) or 'none'})"
            )
        return self

    @property
    def actions(self) -> list[Action]:
        return self.then if isinstance(self.then, list) else [self.then]


class OnSilence(_Model):
    """What happens when the learner does not answer: reminders, then a branch."""

    after: DurationField = Field(description="Silence before the first reminder.")
    remind: int = Field(default=1, ge=0, le=3)
    then: Then | None = None

    @property
    def actions(self) -> list[Action]:
        if self.then is None:
            return []
        return self.then if isinstance(self.then, list) else [self.then]
