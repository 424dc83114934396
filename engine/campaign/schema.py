"""The campaign language: pydantic models for the YAML files in ``campaigns/``.

These models check the shape of one file. Cross-references (content that must
exist, ``goto`` targets, template variables) are checked by :mod:`engine.campaign.lint`,
which knows the content library.
"""

from __future__ import annotations

from datetime import time
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from engine.core.offsets import Duration, Offset, OffsetError, parse_duration, parse_offset

ChannelName = Literal["sms", "whatsapp", "push", "email"]
CHANNELS: tuple[ChannelName, ...] = ("sms", "whatsapp", "push", "email")
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
Anchor = Literal["session_end", "session_start", "enrollment"]
Recipient = Literal["learner", "manager", "trainer"]
OverduePolicy = Literal["next_window", "skip", "expire"]
STEP_KINDS = ("lesson", "quiz", "review", "survey", "checkin", "task", "message")
SEND_KINDS = ("lesson", "quiz", "survey", "checkin", "message")


def _to_offset(value: Any) -> Offset:
    if isinstance(value, Offset):
        return value
    if isinstance(value, int | float):
        raise ValueError(f"cannot read offset '{value}': write it as +2h, +1d 09:30 or +3mo")
    try:
        return parse_offset(str(value))
    except OffsetError as exc:
        raise ValueError(str(exc)) from None


def _to_duration(value: Any) -> Duration:
    if isinstance(value, Duration):
        return value
    try:
        return parse_duration(str(value))
    except OffsetError as exc:
        raise ValueError(str(exc)) from None


def _to_time(value: Any) -> time:
    if isinstance(value, time):
        return value
    if isinstance(value, int):
        # YAML 1.1 reads 09:30 unquoted as a sexagesimal number (570).
        hours, minutes = divmod(value, 60)
        if 0 <= hours <= 24:
            return time(min(hours, 23), minutes if hours < 24 else 59)
    text = str(value).strip().replace("h", ":")
    try:
        hour_text, minute_text = text.split(":")
        hour, minute = int(hour_text), int(minute_text)
    except ValueError:
        raise ValueError(f"cannot read time '{value}': write it as HH:MM, e.g. 09:00") from None
    if hour == 24 and minute == 0:
        return time(23, 59)
    if not (0 <= hour <= 23 and 0 <= minute <= 59):
        raise ValueError(f"'{value}' is not a time of day")
    return time(hour, minute)


_UNIT = r"\d+\s*(?:mo|wd|w|d|h|min)"
# Units, then optionally a space and a time of day; or a time of day alone (``+09:30``).
# ``+2h30`` is refused by the parser as ambiguous, so the pattern refuses it too.
_OFFSET_PATTERN = rf"^\+\s*(?:(?:{_UNIT}\s*)*{_UNIT}(?:\s+\d{{1,2}}[:h]\d{{2}})?|\d{{1,2}}:\d{{2}})\s*$"

OffsetField = Annotated[
    Offset,
    BeforeValidator(_to_offset),
    PlainSerializer(str, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": _OFFSET_PATTERN,
            "description": "Offset from the anchor: +2h, +1d 09:30, +7d, +3mo, +10wd (working days)",
        }
    ),
]
DurationField = Annotated[
    Duration,
    BeforeValidator(_to_duration),
    PlainSerializer(str, return_type=str),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^(\d+\s*(mo|wd|w|d|h|min)\s*)+$",
            "description": "A duration: 3d, 48h, 1w, 30min, 2wd (working days)",
        }
    ),
]
TimeField = Annotated[
    time,
    BeforeValidator(_to_time),
    PlainSerializer(lambda t: f"{t:%H:%M}", return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^\d{1,2}[:h]\d{2}$", "description": "HH:MM"}),
]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


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


class Defaults(_Model):
    channels: list[ChannelName] = Field(default_factory=lambda: list(CHANNELS[:1]))
    window: SendWindow = Field(default_factory=SendWindow)
    reply_within: DurationField = Field(default_factory=lambda: parse_duration("3d"))
    overdue: OverduePolicy = "next_window"
    expire_after: DurationField = Field(default_factory=lambda: parse_duration("2d"))
    timezone: str = "Europe/Paris"

    @field_validator("channels")
    @classmethod
    def _non_empty(cls, value: list[ChannelName]) -> list[ChannelName]:
        if not value:
            raise ValueError("list at least one channel (sms, whatsapp, push, email)")
        if len(set(value)) != len(value):
            raise ValueError("a channel is listed twice")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone '{value}' (e.g. Europe/Paris)") from None
        return value


class Campaign(_Model):
    """A whole campaign file."""

    campaign: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$", description="Slug, unique.")
    title: str
    description: str | None = None
    locale: Literal["fr", "en"] = "fr"
    starts: Anchor = "session_end"
    defaults: Defaults = Field(default_factory=Defaults)
    faq_autoreply: bool = Field(
        default=False, description="Answer confident FAQ matches automatically."
    )
    steps: list[Step] = Field(min_length=1)

    def step(self, step_id: str) -> Step | None:
        return next((step for step in self.steps if step.id == step_id), None)

    def window_for(self, step: Step) -> SendWindow:
        return step.window or self.defaults.window

    def channels_for(self, step: Step) -> list[ChannelName]:
        return list(step.channels or self.defaults.channels)

    def reply_within_for(self, step: Step) -> Duration:
        return step.reply_within or self.defaults.reply_within

    def overdue_for(self, step: Step) -> OverduePolicy:
        return step.overdue or self.defaults.overdue
