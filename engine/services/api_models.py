"""The integration API's data that services read and write: field types, sessions in and out.

Plain pydantic (no HTTP): :mod:`engine.services.roster` takes a :class:`SessionIn` and
returns a :class:`SessionOut`; ``webhooks/`` re-exports them for the routes. PostgreSQL
refuses NUL characters in text, so ``Text`` refuses them at the edge (a 422, not a 500).
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, WithJsonSchema, model_validator


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("NUL character not allowed")
    return value


#: Text that a database column can hold (PostgreSQL refuses NUL characters).
Text = Annotated[str, AfterValidator(_no_nul)]


@cache
def time_zone_names() -> tuple[str, ...]:
    """The IANA zones this machine can load, for the schema's enum and the check."""
    names = []
    for name in sorted(available_timezones()):
        try:
            ZoneInfo(name)
        except (ValueError, OSError):
            continue
        names.append(name)
    return tuple(names)


def _known_zone(value: str) -> str:
    if value not in time_zone_names():
        raise ValueError(f"unknown time zone '{value}'")
    return value


_ZONE_SCHEMA = WithJsonSchema({"type": "string", "enum": list(time_zone_names()),
                               "examples": ["Europe/Paris"]})

#: An IANA time zone name (``Europe/Paris``); the schema lists them, so clients can know.
TimeZoneName = Annotated[str, AfterValidator(_known_zone), _ZONE_SCHEMA]

#: The same in the schema, checked later by the caller (attendee rows report every bad row).
RowTimeZoneName = Annotated[Text, _ZONE_SCHEMA]


def zone_named(name: str) -> ZoneInfo:
    """The zone ``name`` names, or a ValueError an operator can read."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone '{name}'") from None


class SessionIn(BaseModel):
    """A training session as the LMS knows it; ``external_id`` makes the call idempotent."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    external_id: Text = Field(min_length=1, max_length=128)
    title: Text = Field(min_length=1, max_length=300)
    starts_at: datetime = Field(description="Naive values are read in `timezone`.")
    ends_at: datetime
    timezone: TimeZoneName = "Europe/Paris"
    location: Text | None = Field(default=None, max_length=300)
    trainer_email: Text | None = Field(default=None, max_length=320)
    campaigns: list[Text] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _aware_and_ordered(self) -> SessionIn:
        zone = zone_named(self.timezone)
        if self.starts_at.tzinfo is None:
            self.starts_at = self.starts_at.replace(tzinfo=zone)
        if self.ends_at.tzinfo is None:
            self.ends_at = self.ends_at.replace(tzinfo=zone)
        try:
            self.starts_at = self.starts_at.astimezone(UTC)
            self.ends_at = self.ends_at.astimezone(UTC)
        except OverflowError:  # year 1 or 9999 shifted across a zone boundary
            raise ValueError("date out of range") from None
        if self.ends_at < self.starts_at:
            raise ValueError("ends_at is before starts_at")
        return self


class SessionOut(BaseModel):
    id: int
    external_id: str | None
    title: str
    starts_at: datetime
    ends_at: datetime
    timezone: str
    location: str | None
    trainer_id: int | None
    campaigns: list[str]
    ended_processed_at: datetime | None
    attendees: int
    enrollments: int
    created: bool = False
