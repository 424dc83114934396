"""Send windows on the learner's wall clock, across weekends, holidays and DST changes."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from engine.campaign.schema import WEEKDAYS, SendWindow
from engine.core.windows import closed_reason, is_open, next_open, window_end

PARIS = ZoneInfo("Europe/Paris")
UTC = ZoneInfo("UTC")
ZONES = (
    "Europe/Paris",
    "America/Montreal",
    "Pacific/Noumea",
    "Indian/Reunion",
    "Australia/Lord_Howe",
)
WORKDAYS = SendWindow()  # mon-fri 08:00-20:00, no public holidays
EVERY_DAY = SendWindow(days=list(WEEKDAYS), **{"from": "09:00", "to": "19:00"}, holidays=True)
NIGHT_OWL = SendWindow(days=["sun"], **{"from": "02:00", "to": "03:00"})  # holds a DST gap
FOLDED = SendWindow(days=["sun"], **{"from": "01:00", "to": "02:30"}, holidays=True)


def paris(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=PARIS)


@pytest.mark.parametrize(
    ("moment", "window", "expected"),
    [
        (paris(2026, 3, 27, 18, 0), WORKDAYS, True),
        (paris(2026, 3, 27, 8, 0), WORKDAYS, True),  # 'from' is included
        (paris(2026, 3, 27, 20, 0), WORKDAYS, False),  # 'to' is not
        (paris(2026, 3, 27, 7, 59), WORKDAYS, False),
        (paris(2026, 3, 28, 10, 0), WORKDAYS, False),  # Saturday
        (paris(2026, 4, 6, 10, 0), WORKDAYS, False),  # Easter Monday
        (paris(2026, 4, 6, 10, 0), EVERY_DAY, True),  # holidays allowed
        (paris(2026, 7, 14, 10, 0), WORKDAYS, False),
        (paris(2026, 11, 11, 10, 0), WORKDAYS, False),
        (paris(2026, 3, 30, 10, 0), WORKDAYS, True),  # first Monday of summer time
    ],
)
def test_is_open(moment: datetime, window: SendWindow, expected: bool) -> None:
    assert is_open(moment, window, PARIS) is expected


def test_is_open_reads_the_learner_zone() -> None:
    moment = paris(2026, 3, 30, 10, 0)
    assert not is_open(moment, WORKDAYS, "America/Montreal")  # 04:00 there
    assert is_open(moment + timedelta(hours=6), WORKDAYS, "America/Montreal")


@pytest.mark.parametrize(
    ("moment", "window", "tz", "expected_local", "expected_utc"),
    [
        # Friday before the DST switch: closed at 20:00, opens Monday 08:00 summer time.
        (paris(2026, 3, 27, 20, 0), WORKDAYS, "Europe/Paris", "2026-03-30 08:00+02:00", "06:00"),
        (paris(2026, 3, 27, 9, 0), WORKDAYS, "Europe/Paris", "2026-03-27 09:00+01:00", "08:00"),
        (paris(2026, 3, 27, 6, 0), WORKDAYS, "Europe/Paris", "2026-03-27 08:00+01:00", "07:00"),
        # Easter weekend: Saturday -> Tuesday.
        (paris(2026, 4, 4, 12, 0), WORKDAYS, "Europe/Paris", "2026-04-07 08:00+02:00", "06:00"),
        # Ascension bridge: Wednesday evening -> Friday.
        (paris(2026, 5, 13, 21, 0), WORKDAYS, "Europe/Paris", "2026-05-15 08:00+02:00", "06:00"),
        # Christmas Eve evening -> Monday 28.
        (paris(2026, 12, 24, 20, 30), WORKDAYS, "Europe/Paris", "2026-12-28 08:00+01:00", "07:00"),
        # Window opening inside the March gap: 02:00 never shows, the window opens at 03:00.
        (paris(2026, 3, 29, 0, 0), NIGHT_OWL, "Europe/Paris", "2026-04-05 02:00+02:00", "00:00"),
        (paris(2026, 3, 22, 4, 0), NIGHT_OWL, "Europe/Paris", "2026-04-05 02:00+02:00", "00:00"),
        # Montreal learner: 18:00 Paris on Friday is 13:00 there, open.
        (
            paris(2026, 3, 27, 18, 0),
            WORKDAYS,
            "America/Montreal",
            "2026-03-27 13:00-04:00",
            "17:00",
        ),
        (
            paris(2026, 3, 28, 2, 30),
            WORKDAYS,
            "America/Montreal",
            "2026-03-30 08:00-04:00",
            "12:00",
        ),
        # Noumea (UTC+11, no DST) and Reunion (UTC+4).
        (paris(2026, 3, 27, 18, 0), WORKDAYS, "Pacific/Noumea", "2026-03-30 08:00+11:00", "21:00"),
        (paris(2026, 3, 27, 18, 0), WORKDAYS, "Indian/Reunion", "2026-03-30 08:00+04:00", "04:00"),
    ],
)
def test_next_open(
    moment: datetime, window: SendWindow, tz: str, expected_local: str, expected_utc: str
) -> None:
    opened = next_open(moment, window, tz)
    assert opened.isoformat(" ", "minutes") == expected_local
    assert f"{opened.astimezone(UTC):%H:%M}" == expected_utc
    assert opened.tzinfo == ZoneInfo(tz)


def test_window_inside_the_gap_opens_at_the_gap_end() -> None:
    # 02:00-03:00 on Sunday 29 March 2026 does not exist; a 02:00-03:30 window opens at 03:00.
    window = SendWindow(days=["sun"], **{"from": "02:00", "to": "03:30"})
    opened = next_open(paris(2026, 3, 29, 0, 0), window, PARIS)
    assert opened.isoformat(" ", "minutes") == "2026-03-29 03:00+02:00"
    assert window_end(opened, window, PARIS).isoformat(" ", "minutes") == "2026-03-29 03:30+02:00"


def test_folded_hour_reopens_the_window() -> None:
    # 25 October 2026: 02:00-03:00 summer time, then 02:00-03:00 winter time again.
    first_close = window_end(paris(2026, 10, 25, 1, 0), FOLDED, PARIS)
    assert first_close.isoformat(" ", "minutes") == "2026-10-25 02:30+02:00"
    reopened = next_open(first_close, FOLDED, PARIS)
    assert reopened.isoformat(" ", "minutes") == "2026-10-25 02:00+01:00"
    second_close = window_end(reopened, FOLDED, PARIS)
    assert second_close.isoformat(" ", "minutes") == "2026-10-25 02:30+01:00"


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (paris(2026, 3, 27, 9, 0), "2026-03-27 20:00+01:00"),
        (paris(2026, 3, 30, 19, 59), "2026-03-30 20:00+02:00"),
        (paris(2026, 3, 28, 9, 0), "2026-03-30 20:00+02:00"),  # closed: the next window's end
    ],
)
def test_window_end(moment: datetime, expected: str) -> None:
    assert window_end(moment, WORKDAYS, PARIS).isoformat(" ", "minutes") == expected


@pytest.mark.parametrize(
    ("moment", "reason"),
    [
        (paris(2026, 3, 27, 9, 0), None),
        (paris(2026, 3, 27, 7, 0), "before window"),
        (paris(2026, 3, 27, 20, 0), "after window"),
        (paris(2026, 3, 28, 9, 0), "weekend"),
        (paris(2026, 4, 6, 9, 0), "public holiday: Lundi de Pâques"),
        (paris(2026, 5, 14, 9, 0), "public holiday: Ascension"),
        (paris(2026, 11, 11, 9, 0), "public holiday: Armistice"),
    ],
)
def test_closed_reason(moment: datetime, reason: str | None) -> None:
    assert closed_reason(moment, WORKDAYS, PARIS) == reason


def test_closed_day_reason_names_the_day() -> None:
    window = SendWindow(days=["mon", "tue"])
    assert closed_reason(paris(2026, 4, 1, 9, 0), window, PARIS) == "closed day (wed)"


def test_naive_moment_is_refused() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        is_open(datetime(2026, 3, 27, 9, 0), WORKDAYS, PARIS)


# --- properties -----------------------------------------------------------------------------

_times = st.sampled_from([time(h, m) for h in range(24) for m in (0, 30)])


@st.composite
def windows(draw: st.DrawFn) -> SendWindow:
    days = draw(st.lists(st.sampled_from(WEEKDAYS), min_size=1, max_size=7, unique=True))
    start = draw(_times)
    end = draw(_times.filter(lambda t: t > start))
    holidays_ok = draw(st.booleans())
    return SendWindow(days=days, **{"from": start, "to": end}, holidays=holidays_ok)


moments = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2040, 12, 31), timezones=st.just(UTC)
)
zones = st.sampled_from(ZONES)


@settings(max_examples=300, deadline=None)
@given(moment=moments, window=windows(), tz=zones)
def test_next_open_is_open_later_and_idempotent(
    moment: datetime, window: SendWindow, tz: str
) -> None:
    opened = next_open(moment, window, tz)
    assert opened >= moment
    assert is_open(opened, window, tz)
    assert next_open(opened, window, tz) == opened
    assert opened.tzinfo == ZoneInfo(tz)


@settings(max_examples=200, deadline=None)
@given(moment=moments, window=windows(), tz=zones)
def test_nothing_opens_before_next_open(moment: datetime, window: SendWindow, tz: str) -> None:
    # Arithmetic and comparisons in UTC: within one zone Python compares wall times.
    opened = next_open(moment, window, tz).astimezone(UTC)
    probe = moment
    while probe < opened:  # sample every 20 minutes, and the minute before the opening
        assert not is_open(probe, window, tz)
        probe += timedelta(minutes=20)
    if opened - timedelta(minutes=1) >= moment:
        assert not is_open(opened - timedelta(minutes=1), window, tz)


@settings(max_examples=200, deadline=None)
@given(moment=moments, window=windows(), tz=zones)
@example(  # opens at 02:30 summer time, closes at 03:00 winter time, an hour and a half later
    moment=datetime(2036, 10, 20, 1, 0, tzinfo=UTC),
    window=SendWindow(days=["mon", "sun"], **{"from": "02:30", "to": "03:00"}),
    tz="Europe/Paris",
)
def test_window_end_closes_an_open_stretch(moment: datetime, window: SendWindow, tz: str) -> None:
    opened = next_open(moment, window, tz).astimezone(UTC)
    closes = window_end(opened, window, tz).astimezone(UTC)
    assert closes > opened
    assert not is_open(closes, window, tz)
    assert is_open(closes - timedelta(microseconds=1), window, tz)
    probe = opened
    while probe < closes:
        assert is_open(probe, window, tz)
        probe += timedelta(minutes=10)
