"""Input types shared by every route, so that no input can reach the database and fail there.

PostgreSQL refuses NUL characters in text and integers beyond its column
types; both are checked here, at the edge, once: a 422 (or a friendly page
for a signed link), never a 500. The pydantic-only types (``Text``, time zone
names) live in :mod:`engine.services.api_models`, which services share.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

from engine.links import MAX_ROW_ID, row_id
from engine.services.api_models import RowTimeZoneName, Text, TimeZoneName, time_zone_names

__all__ = ["MAX_ROW_ID", "RowId", "RowTimeZoneName", "Text", "TimeZoneName", "row_id", "time_zone_names"]

#: A row id in a path: larger ids are a 422, not a 500.
RowId = Annotated[int, Path(ge=1, le=MAX_ROW_ID)]
