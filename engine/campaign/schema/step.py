"""One step of a campaign: its kind, its timing and its branches."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from engine.campaign.schema.branches import Condition, OnSilence
from engine.campaign.schema.fields import (
    STEP_KINDS,
    ChannelName,
    DurationField,
    OffsetField,
    OverduePolicy,
    Recipient,
    _Model,
)
from engine.campaign.schema.window import Repeat, SendWindow


class Step(_Model):
    """One step of a campaign: what is sent (or asked, or tasked), when, and how replies branch."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", max_length=64)
    title: str | None = None
    at: OffsetField | None = None
    repeat: Repeat | None = None
    lesson: str | list[str] | None = None
    quiz: str | None = None
    ask: int = Field(default=1, ge=1, le=20, description="How many quiz questions to ask.")
    review: str | None = Field(default=None, description="Quiz bank for adaptive spaced review.")
    from_: OffsetField | None = Field(default=None, alias="from")
    until: OffsetField | None = None
    per_week: int = Field(default=2, ge=1, le=7)
    survey: str | None = None
    checkin: str | None = None
    task: str | None = None
    message: str | None = None
    to: Recipient = "learner"
    channels: list[ChannelName] | None = None
    window: SendWindow | None = None
    reply_within: DurationField | None = None
    overdue: OverduePolicy | None = None
    expire_after: DurationField | None = None
    when: Literal["planned", "branched"] = Field(
        default="planned", description="'branched': sent only when a branch jumps here."
    )
    audience: Literal["all", "at_risk"] = "all"
    if_: list[Condition] = Field(default_factory=list, alias="if")
    on_silence: OnSilence | None = None

    @model_validator(mode="after")
    def _check_kind(self) -> Step:
        kinds = [kind for kind in STEP_KINDS if getattr(self, kind) is not None]
        if len(kinds) != 1:
            found = ", ".join(kinds) if kinds else "none"
            raise ValueError(
                f"a step has exactly one of {', '.join(STEP_KINDS)} (found: {found})"
            )
        kind = kinds[0]
        if kind == "review":
            if self.from_ is None or self.until is None:
                raise ValueError("a review step needs 'from' and 'until' (e.g. from: +8d, until: +60d)")
            if self.at is not None:
                raise ValueError("a review step uses 'from' and 'until', not 'at'")
        elif self.at is None and self.when == "planned":
            raise ValueError(f"step '{self.id}' needs 'at' (e.g. at: +1d 09:30)")
        if kind == "task" and self.to != "trainer":
            raise ValueError("a task is for the trainer: add 'to: trainer'")
        if kind != "task" and self.to == "trainer":
            raise ValueError("only a 'task' goes to the trainer")
        if isinstance(self.lesson, list):
            if self.repeat is None:
                raise ValueError("a list of lessons needs 'repeat' (one lesson per occurrence)")
            if len(self.lesson) != self.repeat.count:
                raise ValueError(
                    f"{len(self.lesson)} lessons for {self.repeat.count} occurrences: "
                    "give one lesson per occurrence"
                )
        if (self.if_ or self.on_silence) and kind not in ("quiz", "survey", "checkin"):
            raise ValueError("'if' and 'on_silence' need a step that asks something (quiz, survey, checkin)")
        return self

    @property
    def kind(self) -> str:
        return next(kind for kind in STEP_KINDS if getattr(self, kind) is not None)

    @property
    def asks(self) -> bool:
        return self.kind in ("quiz", "review", "survey", "checkin")
