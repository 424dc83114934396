"""The offset grammar designers write (``+1d 09:30``) and the calendar helpers beside it."""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from engine.core.offsets import (
    Duration,
    Offset,
    OffsetError,
    add_months,
    localize,
    parse_duration,
    parse_offset,
)

PARIS = ZoneInfo("Europe/Paris")
MONTREAL = ZoneInfo("America/Montreal")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+2h", Offset(Duration(hours=2))),
        ("+1d 09:30", Offset(Duration(days=1), time(9, 30))),
        ("+1d 9h30", Offset(Duration(days=1), time(9, 30))),
        ("+7d", Offset(Duration(days=7))),
        ("+3mo", Offset(Duration(months=3))),
        ("+10wd", Offset(Duration(working_days=10))),
        ("+1w 2d", Offset(Duration(weeks=1, days=2))),
        ("+30min", Offset(Duration(minutes=30))),
        ("+1d2h", Offset(Duration(days=1, hours=2))),
        ("+0d 18:00", Offset(Duration(), time(18, 0))),
        ("+ 18:00", Offset(Duration(), time(18, 0))),
        ("  +2H  ", Offset(Duration(hours=2))),
        ("+1mo 2w 3wd 4d 5h 6min", Offset(Duration(1, 2, 3, 4, 5, 6))),
        # A time of day alone (colon form) is the anchor's day at that time.
        ("+09:30", Offset(Duration(), time(9, 30))),
        ("+2h30min", Offset(Duration(hours=2, minutes=30))),
        ("+1d 2h30", Offset(Duration(days=1), time(2, 30))),
    ],
)
def test_parse_offset(text: str, expected: Offset) -> None:
    assert parse_offset(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("2h", "starts with '+'"),
        ("-2h", "starts with '+'"),
        ("", "starts with '+'"),
        ("+", "nothing after '+'"),
        ("+2x", "units are"),
        ("+2 hours", "units are"),
        ("+1d 25:00", "is not a time"),
        ("+1d 10:75", "is not a time"),
        ("+1d1d", "appears twice"),
        ("+1.5d", "units are"),
        ("+25:00", "is not a time"),
        # "+2h30" could be two and a half hours or 02:30: refused, never guessed.
        ("+2h30", "ambiguous: write '+2h 30min' for a duration or '+0d 02:30' for a time of day"),
        ("+9h30", "ambiguous: write '+9h 30min' for a duration or '+0d 09:30' for a time of day"),
        ("+1d2h30", "ambiguous: write '+1d 2h 30min' for a duration or '+1d 02:30' for a time"),
        ("+1d09:30", "put a space before the time of day, e.g. '+1d 09:30'"),
    ],
)
def test_parse_offset_errors(text: str, message: str) -> None:
    with pytest.raises(OffsetError, match=re.escape(message)):
        parse_offset(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3d", Duration(days=3)),
        ("48h", Duration(hours=48)),
        ("1w 2d", Duration(weeks=1, days=2)),
        ("30min", Duration(minutes=30)),
        ("1wd", Duration(working_days=1)),
        ("2MO", Duration(months=2)),
    ],
)
def test_parse_duration(text: str, expected: Duration) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty duration"),
        ("+3d", "without a sign"),
        ("0d", "is zero"),
        ("3 days", "units are"),
        ("3", "units are"),
    ],
)
def test_parse_duration_errors(text: str, message: str) -> None:
    with pytest.raises(OffsetError, match=re.escape(message)):
        parse_duration(text)


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (Offset(Duration(days=1), time(9, 30)), "+1d 09:30"),
        (Offset(Duration(hours=2)), "+2h"),
        (Offset(Duration(), time(18, 0)), "+0d 18:00"),
        (Duration(months=1, working_days=2), "1mo2wd"),
    ],
)
def test_str_round_trips(value: Offset | Duration, text: str) -> None:
    assert str(value) == text
    parse = parse_offset if isinstance(value, Offset) else parse_duration
    assert parse(text) == value


@pytest.mark.parametrize(
    ("duration", "expected"),
    [
        (Duration(months=1), timedelta(days=30)),
        (Duration(working_days=5), timedelta(days=7)),
        (Duration(weeks=1, hours=2), timedelta(days=7, hours=2)),
    ],
)
def test_approx_timedelta(duration: Duration, expected: timedelta) -> None:
    assert duration.approx_timedelta() == expected


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2026, 1, 31), 1, date(2026, 2, 28)),
        (date(2028, 1, 31), 1, date(2028, 2, 29)),
        (date(2026, 3, 31), 1, date(2026, 4, 30)),
        (date(2026, 11, 15), 3, date(2027, 2, 15)),
        (date(2026, 12, 31), 2, date(2027, 2, 28)),
        (date(2026, 5, 10), 0, date(2026, 5, 10)),
        (date(2026, 5, 10), 24, date(2028, 5, 10)),
    ],
)
def test_add_months_clamps_to_month_end(day: date, months: int, expected: date) -> None:
    assert add_months(day, months) == expected


@pytest.mark.parametrize(
    ("naive", "zone", "expected_utc"),
    [
        # Ordinary times.
        (datetime(2026, 3, 27, 18, 0), PARIS, datetime(2026, 3, 27, 17, 0)),
        (datetime(2026, 3, 30, 9, 30), PARIS, datetime(2026, 3, 30, 7, 30)),
        # Spring-forward gap: 02:30 does not exist, it moves forward by the gap to 03:30.
        (datetime(2026, 3, 29, 2, 30), PARIS, datetime(2026, 3, 29, 1, 30)),
        (datetime(2026, 3, 8, 2, 30), MONTREAL, datetime(2026, 3, 8, 7, 30)),
        # Fall-back: 02:30 happens twice, the first (summer time) reading is kept.
        (datetime(2026, 10, 25, 2, 30), PARIS, datetime(2026, 10, 25, 0, 30)),
        (datetime(2026, 11, 1, 1, 30), MONTREAL, datetime(2026, 11, 1, 5, 30)),
    ],
)
def test_localize(naive: datetime, zone: ZoneInfo, expected_utc: datetime) -> None:
    result = localize(naive, zone)
    assert result.tzinfo is zone
    assert result.astimezone(ZoneInfo("UTC")).replace(tzinfo=None) == expected_utc


@pytest.mark.parametrize(
    ("text", "suggestion"),
    [("+2 jours", "+2d"), ("+7j", "+7d"), ("+2 semaines", "+2w"), ("+3 mois", "+3mo"),
     ("+1 jour 09:30", "+1d 09:30"), ("+10 jours ouvrés", "+10wd"), ("+4 heures", "+4h")],
)
def test_french_units_get_a_did_you_mean(text: str, suggestion: str) -> None:
    with pytest.raises(OffsetError) as caught:
        parse_offset(text)
    assert str(caught.value).endswith(f"did you mean '{suggestion}'?")
    parse_offset(suggestion)  # and the suggestion itself is valid


def test_french_duration_gets_a_did_you_mean() -> None:
    with pytest.raises(OffsetError, match=r"did you mean '3d'\?$"):
        parse_duration("3 jours")
