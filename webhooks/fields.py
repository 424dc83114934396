"""Input types shared by every route, so that no input can reach the database and fail there.

PostgreSQL refuses NUL characters in text and integers beyond its column
types; both are checked here, at the edge, once: a 422 (or a friendly page
for a signed link), never a 500.
"""

from __future__ import annotations

from functools import cache
from typing import Annotated
from zoneinfo import ZoneInfo, available_timezones

from fastapi import Path
from pydantic import AfterValidator, WithJsonSchema

from engine.links import MAX_ROW_ID, row_id

__all__ = ["MAX_ROW_ID", "RowId", "Text", "row_id"]


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("NUL character not allowed")
    return value


#: Text that a database column can hold (PostgreSQL refuses NUL characters).
Text = Annotated[str, AfterValidator(_no_nul)]

#: A row id in a path: larger ids are a 422, not a 500.
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]


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
