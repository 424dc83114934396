"""Column types that behave the same on SQLite and PostgreSQL.

Datetimes are always aware and in UTC inside the engine (see docs/CONTRACTS.md);
SQLite has no time zone type, so :class:`UTCDateTime` normalises on the way in
and re-attaches UTC on the way out. A naive datetime is a bug upstream (whose
clock? which zone?), so it is rejected rather than guessed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import JSON
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import DateTime, Interval, TypeDecorator, TypeEngine


def utc_now() -> datetime:
    """Wall-clock default for ``created_at``/``updated_at`` columns.

    Business timestamps (due dates, claims, transitions) take ``now`` from the
    caller's injectable clock instead.
    """
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware-UTC datetime column: ``timestamptz`` on PostgreSQL, text on SQLite.

    SQLite stores the UTC wall time without offset in a fixed-width format, so
    string comparison (``due_at <= :now``) stays chronological.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"UTCDateTime expects a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                "naive datetime refused: pass an aware datetime (UTC), e.g. datetime.now(UTC)"
            )
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def coerce_compared_value(self, op: Any, value: Any) -> TypeEngine[Any]:
        # ``column + timedelta`` must not go through the datetime bind processor.
        if isinstance(value, timedelta):
            return Interval()
        return self


class JSONType(TypeDecorator[Any]):
    """JSON document column: ``jsonb`` on PostgreSQL, JSON text on SQLite.

    A TypeDecorator (rather than ``JSON().with_variant``) so migrations render
    one stable name and both backends round-trip plain Python lists and dicts.
    """

    impl = JSON(none_as_null=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        # ``none_as_null``: Python ``None`` is SQL NULL, not the JSON literal null.
        if dialect.name == "postgresql":
            return dialect.type_descriptor(JSONB(none_as_null=True))
        return dialect.type_descriptor(JSON(none_as_null=True))
