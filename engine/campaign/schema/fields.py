"""The campaign language's words: channel and day names, and the offset, duration and time fields."""

from __future__ import annotations

from datetime import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, PlainSerializer, WithJsonSchema

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
