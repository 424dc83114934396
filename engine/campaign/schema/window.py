"""When a step may be sent: the send window and repetition."""

from __future__ import annotations

from datetime import time

from pydantic import Field, model_validator

from engine.campaign.schema.fields import WEEKDAYS, DurationField, TimeField, Weekday, _Model


class SendWindow(_Model):
    """When messages may reach a learner, in the learner's time zone."""

    days: list[Weekday] = Field(default_factory=lambda: list(WEEKDAYS[:5]))
    from_: TimeField = Field(default=time(8, 0), alias="from")
    to: TimeField = time(20, 0)
    holidays: bool = Field(
        default=False, description="Send on French public holidays too (default: never)."
    )

    @model_validator(mode="after")
    def _has_hours(self) -> SendWindow:
        if not self.days:
            raise ValueError("the window has no days: list at least one, e.g. [mon, tue]")
        if self.to <= self.from_:
            raise ValueError(
                f"the window has no hours: 'to' ({self.to:%H:%M}) must be after "
                f"'from' ({self.from_:%H:%M})"
            )
        return self


class Repeat(_Model):
    """Repeats a step: ``{every: 1wd, count: 10}`` is a daily message for ten working days."""

    every: DurationField
    count: int = Field(ge=2, le=366)
