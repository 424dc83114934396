"""Send windows: when a message may reach a learner, in the learner's own time zone.

A :class:`~engine.campaign.schema.SendWindow` opens on its listed weekdays
(and, unless ``holidays`` is set, not on French public holidays) from ``from``
included to ``to`` excluded, read on the learner's wall clock. Wall clocks jump
at DST changes, so an opening or closing time may not exist (02:30 on the last
Sunday of March in Paris) or exist twice (02:30 on the last Sunday of October).
The functions here reason on instants: the window opens at the first instant
whose wall time reaches ``from``, which is the end of the gap when ``from``
falls inside one, and closes at the first later instant whose wall time
reaches ``to``.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from engine.campaign.schema import WEEKDAYS, SendWindow
from engine.core.calendar import holiday_name

SEARCH_DAYS = 400
_UTC = ZoneInfo("UTC")


def as_zone(tz: ZoneInfo | str) -> ZoneInfo:
    """Accepts a zone or its IANA name (``Europe/Paris``), as campaigns and learners store it."""
    return tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)


def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(
            f"{moment.isoformat()} has no time zone; the engine only takes aware times"
        )


def day_is_open(day: date, window: SendWindow) -> bool:
    """Whether the window opens at all on this local date (weekday listed, not a barred holiday)."""
    if WEEKDAYS[day.weekday()] not in window.days:
        return False
    return window.holidays or holiday_name(day) is None


def hours_contain(wall: time, window: SendWindow) -> bool:
    """Whether a wall-clock time lies within the window's hours (``from`` included, ``to`` not)."""
    return window.from_ <= wall.replace(tzinfo=None) < window.to


def is_open(moment: datetime, window: SendWindow, tz: ZoneInfo | str) -> bool:
    """Whether a message may be sent at ``moment`` to someone living in ``tz``."""
    _require_aware(moment)
    local = moment.astimezone(as_zone(tz))
    return day_is_open(local.date(), window) and hours_contain(local.time(), window)


def closed_reason(moment: datetime, window: SendWindow, tz: ZoneInfo | str) -> str | None:
    """Why the window is closed at ``moment`` (shown in previews and delivery logs); None if open."""
    _require_aware(moment)
    local = moment.astimezone(as_zone(tz))
    day = local.date()
    weekday = WEEKDAYS[day.weekday()]
    if weekday not in window.days:
        return "weekend" if weekday in ("sat", "sun") else f"closed day ({weekday})"
    name = holiday_name(day)
    if name is not None and not window.holidays:
        return f"public holiday: {name}"
    if local.time() < window.from_:
        return "before window"
    if local.time() >= window.to:
        return "after window"
    return None


def _readings(day: date, wall: time, zone: ZoneInfo) -> list[datetime]:
    """Both readings (fold 0 and 1) of a wall time as UTC instants; they differ around DST."""
    naive = datetime.combine(day, wall)
    return [naive.replace(tzinfo=zone, fold=fold).astimezone(_UTC) for fold in (0, 1)]


def _transition(day: date, zone: ZoneInfo) -> datetime | None:
    """The instant the zone's UTC offset changes during this local day, if it does (to the second)."""
    start = datetime.combine(day, time()).replace(tzinfo=zone).astimezone(_UTC)
    end = datetime.combine(day + timedelta(days=1), time()).replace(tzinfo=zone).astimezone(_UTC)
    before = start.astimezone(zone).utcoffset()
    if end.astimezone(zone).utcoffset() == before:
        return None
    low, high = int(start.timestamp()), int(end.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == before:
            low = middle
        else:
            high = middle
    return datetime.fromtimestamp(high, _UTC)


def _candidates(day: date, wall: time, zone: ZoneInfo) -> list[datetime]:
    """Instants where a wall time is reached on ``day``: its readings and any DST jump."""
    found = _readings(day, wall, zone)
    jump = _transition(day, zone)
    if jump is not None:
        found.append(jump)
    return found


def next_open(moment: datetime, window: SendWindow, tz: ZoneInfo | str) -> datetime:
    """``moment`` if the window is open then, else the window's next opening; aware, in ``tz``.

    Raises ValueError when the window does not open within :data:`SEARCH_DAYS`
    days (it always does for a valid window; the bound only guards the loop).
    """
    zone = as_zone(tz)
    if is_open(moment, window, zone):
        return moment.astimezone(zone)
    first_day = moment.astimezone(zone).date()
    for offset in range(SEARCH_DAYS + 1):
        day = first_day + timedelta(days=offset)
        if not day_is_open(day, window):
            continue
        openings = [
            instant
            for instant in _candidates(day, window.from_, zone)
            if instant >= moment and is_open(instant, window, zone)
        ]
        if openings:
            return min(openings).astimezone(zone)
    raise ValueError(f"the send window does not open within {SEARCH_DAYS} days of {moment}")


def window_end(moment: datetime, window: SendWindow, tz: ZoneInfo | str) -> datetime:
    """When the window open at ``moment`` closes (for a closed moment: the next window's close).

    Used to expire a send that could not go out in its window, aware, in ``tz``.
    """
    zone = as_zone(tz)
    opened = next_open(moment, window, zone)
    day = opened.date()
    closings = [
        instant
        for instant in _candidates(day, window.to, zone)
        if instant > opened and not is_open(instant, window, zone)
    ]
    if not closings:  # ``to`` is never reached this day (e.g. a DST jump past midnight)
        midnight = datetime.combine(day + timedelta(days=1), time()).replace(tzinfo=zone)
        closings = [midnight.astimezone(_UTC)]
    return min(closings).astimezone(zone)
