"""Relative offsets and durations as designers write them: ``+2h``, ``+1d 09:30``, ``+3mo``.

An :class:`Offset` is applied to an anchor in the learner's local time: months and
days move the calendar date, hours and minutes move the clock, and an optional
time of day pins the wall-clock time afterwards. A :class:`Duration` (``3d``,
``48h``) is the same grammar without the sign or time of day, used for
``reply_within``, ``every`` and the like.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_UNITS = {
    "mo": "months",
    "w": "weeks",
    "wd": "working_days",
    "d": "days",
    "h": "hours",
    "min": "minutes",
}
_PART = re.compile(r"(\d+)\s*(mo|wd|w|d|h|min)", re.IGNORECASE)


class OffsetError(ValueError):
    """Raised when an offset or duration cannot be parsed; the message says why."""


@dataclass(frozen=True, slots=True)
class Duration:
    """A span of time in calendar units (months, weeks, days, working days) and clock units."""

    months: int = 0
    weeks: int = 0
    working_days: int = 0
    days: int = 0
    hours: int = 0
    minutes: int = 0

    @property
    def is_zero(self) -> bool:
        return not any(
            (self.months, self.weeks, self.working_days, self.days, self.hours, self.minutes)
        )

    def approx_timedelta(self) -> timedelta:
        """A fixed-length approximation (a month is 30 days), for horizons and comparisons."""
        return timedelta(
            days=self.months * 30 + self.weeks * 7 + self.days + self.working_days * 7 / 5,
            hours=self.hours,
            minutes=self.minutes,
        )

    def __str__(self) -> str:
        out = []
        for unit, name in _UNITS.items():
            value = getattr(self, name)
            if value:
                out.append(f"{value}{unit}")
        return "".join(out) or "0d"


@dataclass(frozen=True, slots=True)
class Offset:
    """Where a step falls relative to its anchor: a duration and an optional local time of day."""

    duration: Duration
    at_time: time | None = None

    def __str__(self) -> str:
        text = "+" + str(self.duration)
        if self.at_time is not None:
            text += f" {self.at_time:%H:%M}"
        return text


def _parse_parts(text: str) -> Duration:
    values: dict[str, int] = {}
    consumed = ""
    for match in _PART.finditer(text):
        name = _UNITS[match.group(2).lower()]
        if name in values:
            raise OffsetError(f"unit '{match.group(2)}' appears twice")
        values[name] = int(match.group(1))
        consumed += match.group(0)
    if re.sub(r"\s", "", consumed) != re.sub(r"\s", "", text):
        raise OffsetError("units are mo, w, wd, d, h, min (for example 2h, 1d, 3mo, 10wd)")
    return Duration(**values)


# French words designers write for units, longest first: ``+2 jours`` means ``+2d``.
_FRENCH_UNITS = (
    (r"jours?\s+ouvr[ée]s?|jo", "wd"), (r"semaines?|sem", "w"), (r"mois", "mo"), (r"jours?|j", "d"),
    (r"heures?", "h"), (r"minutes?|mn", "min"),
)


def _in_english_units(body: str) -> str | None:
    """``2 jours`` -> ``2d`` when the French reading parses, else None (for a 'did you mean')."""
    text = body
    for words, unit in _FRENCH_UNITS:
        text = re.sub(rf"(\d+)\s*(?:{words})\b", rf"\g<1>{unit}", text, flags=re.IGNORECASE)
    if text == body:
        return None
    try:
        _parse_parts(text)
    except OffsetError:
        return None
    return re.sub(r"\s+", " ", text).strip()


def parse_duration(text: str) -> Duration:
    """Parses ``3d``, ``48h``, ``1w 2d``, ``30min``; raises :class:`OffsetError` with a hint."""
    cleaned = str(text).strip()
    if not cleaned:
        raise OffsetError("empty duration; write for example 3d, 48h or 30min")
    if cleaned.startswith(("+", "-")):
        raise OffsetError(f"'{text}' is a duration: write it without a sign (e.g. 3d)")
    try:
        duration = _parse_parts(cleaned)
    except OffsetError as exc:
        english = _in_english_units(cleaned)
        hint = f"; did you mean '{english}'?" if english else ""
        raise OffsetError(f"cannot read duration '{text}': {exc}{hint}") from None
    if duration.is_zero:
        raise OffsetError(f"duration '{text}' is zero")
    return duration


_TIME_OF_DAY = re.compile(r"(?<!\d)(\d{1,2})([:hH])(\d{2})$")


def _check_time_separation(text: str, units: str, match: re.Match[str]) -> None:
    """A time of day stands alone or after a space: ``+2h30`` could mean 2.5 hours or 02:30.

    ``+09:30`` (today at 09:30) and ``+1d 9h30`` are clear; ``+2h30`` and ``+1d09:30``
    are refused rather than guessed, because a wrong guess sends at 02:30.
    """
    if units and units[-1].isspace():
        return
    hour, separator, minute = match.group(1), match.group(2), match.group(3)
    if not units and separator == ":":
        return
    prefix = units.strip()
    if separator == ":":
        raise OffsetError(
            f"cannot read offset '{text}': put a space before the time of day, "
            f"e.g. '+{prefix} {int(hour):02d}:{minute}'"
        )
    duration = f"+{prefix}{' ' if prefix else ''}{int(hour)}h {int(minute)}min"
    time_of_day = f"+{prefix or '0d'} {int(hour):02d}:{minute}"
    raise OffsetError(
        f"cannot read offset '{text}': ambiguous: write '{duration}' for a duration "
        f"or '{time_of_day}' for a time of day"
    )


def parse_offset(text: str) -> Offset:
    """Parses ``+2h``, ``+1d 09:30``, ``+7d``, ``+3mo``, ``+09:30``; raises :class:`OffsetError`.

    A time of day follows the units after a space (``+1d 09:30``, ``+1d 9h30``) or
    stands alone with a colon (``+09:30``: the anchor's day at 09:30).
    """
    cleaned = str(text).strip()
    if not cleaned.startswith("+"):
        raise OffsetError(
            f"cannot read offset '{text}': an offset starts with '+' (e.g. +2h, +1d 09:30, +3mo)"
        )
    body = cleaned[1:].strip()
    at_time: time | None = None
    time_match = _TIME_OF_DAY.search(body)
    if time_match:
        _check_time_separation(text, body[: time_match.start()], time_match)
        hour, minute = int(time_match.group(1)), int(time_match.group(3))
        if hour > 23 or minute > 59:
            raise OffsetError(f"cannot read offset '{text}': {hour:02d}:{minute:02d} is not a time")
        at_time = time(hour, minute)
        body = body[: time_match.start()].strip()
    if not body:
        if at_time is None:
            raise OffsetError(f"cannot read offset '{text}': nothing after '+'")
        return Offset(Duration(), at_time)
    try:
        duration = _parse_parts(body)
    except OffsetError as exc:
        english = _in_english_units(body)
        suffix = f" {at_time:%H:%M}" if at_time is not None else ""
        hint = f"; did you mean '+{english}{suffix}'?" if english else ""
        raise OffsetError(f"cannot read offset '{text}': {exc}{hint}") from None
    return Offset(duration, at_time)


def add_months(day: date, months: int) -> date:
    """Adds calendar months, clamping to the month's last day (31 Jan + 1mo = 28/29 Feb)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    for last in (31, 30, 29, 28):
        try:
            return day.replace(year=year, month=month, day=min(day.day, last))
        except ValueError:
            continue
    raise AssertionError("unreachable")


def localize(naive: datetime, zone: ZoneInfo) -> datetime:
    """Attaches a zone to a local wall time, moving a time skipped by DST forward by the gap."""
    aware = naive.replace(tzinfo=zone, fold=0)
    roundtrip = aware.astimezone(ZoneInfo("UTC")).astimezone(zone)
    if roundtrip.replace(tzinfo=None) != naive:
        # Wall time does not exist (spring forward). PEP 495 reads a gap time with
        # fold=0 at the offset in force before the gap, so its round trip lands
        # after the gap by exactly the gap's length (02:30 -> 03:30 in Paris).
        return roundtrip
    return aware
