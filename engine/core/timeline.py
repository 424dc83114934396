"""Timelines: the dated sends a campaign plans for one learner from one anchor.

The anchor (session end, session start or enrolment) is an aware instant; every
offset is applied on the learner's wall clock, then pushed into the step's send
window. The result is plain data the store turns into ``Delivery`` rows and the
CLI ``preview`` prints, so it must be deterministic: same campaign, anchor and
zone, same list.

Rules worth knowing:

- ``+1d 09:30`` pins the time of day: when the day is closed (weekend, public
  holiday) the send moves to the next open day *at 09:30*, not to the opening.
  Offsets without a time of day move to the window's next opening.
- Occurrences of a repeated step never collapse onto one another: an
  occurrence pushed onto (or before) the previous one is re-planned one
  ``every`` after it, so ``every: 1d, count: 5`` starting on a Saturday still
  gives five sends on five days.
- Review slots are spread over the open days of each 7-day block starting at
  ``from`` (``per_week: 2`` -> about every 3.5 days), on distinct days, up to
  ``until`` included.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from engine.campaign.schema import Campaign, SendWindow, Step
from engine.core.calendar import add_working_days
from engine.core.offsets import Duration, Offset, add_months, localize
from engine.core.windows import (
    SEARCH_DAYS,
    as_zone,
    closed_reason,
    day_is_open,
    hours_contain,
    is_open,
    next_open,
)

_UTC = ZoneInfo("UTC")
_ONE_DAY = Offset(Duration(days=1))


def _utc(moment: datetime) -> datetime:
    """For comparisons: two datetimes in one zone compare by wall time, ignoring DST folds."""
    return moment.astimezone(_UTC)


@dataclass(frozen=True, slots=True)
class PlannedSend:
    """One planned send (or trainer task) of one step, before any reply changes the plan."""

    step_id: str
    occurrence: int
    kind: str
    content_ref: str | None
    recipient: str
    channels: tuple[str, ...]
    nominal_at: datetime
    due_at: datetime
    local_due_at: datetime
    shifted_reason: str | None


def apply_offset(anchor: datetime, offset: Offset, tz: ZoneInfo | str) -> datetime:
    """Where an offset lands from ``anchor`` on the learner's wall clock (aware, in ``tz``).

    Calendar units (months, weeks, days, working days) move the local date and
    keep the wall time; hours and minutes are elapsed time (``+2h`` across a
    DST change is two real hours); ``at_time`` then pins the wall time, moved
    forward when a DST gap swallows it.
    """
    if anchor.tzinfo is None or anchor.utcoffset() is None:
        raise ValueError(f"anchor {anchor.isoformat()} has no time zone")
    zone = as_zone(tz)
    local = anchor.astimezone(zone)
    span = offset.duration
    day = add_months(local.date(), span.months) + timedelta(days=7 * span.weeks + span.days)
    day = add_working_days(day, span.working_days)
    moved = local if day == local.date() else localize(datetime.combine(day, local.time()), zone)
    elapsed = timedelta(hours=span.hours, minutes=span.minutes)
    moved = (moved.astimezone(_UTC) + elapsed).astimezone(zone)
    if offset.at_time is not None:
        moved = localize(datetime.combine(moved.date(), offset.at_time), zone)
    return moved


def _at_wall_time(start: datetime, wall: time, window: SendWindow, zone: ZoneInfo) -> datetime:
    """The first open instant at or after ``start`` whose wall time is exactly ``wall``."""
    first_day = start.astimezone(zone).date()
    for offset in range(SEARCH_DAYS + 1):
        candidate = localize(datetime.combine(first_day + timedelta(days=offset), wall), zone)
        if _utc(candidate) >= _utc(start) and is_open(candidate, window, zone):
            return candidate
    raise ValueError(f"the send window never opens at {wall:%H:%M} within {SEARCH_DAYS} days")


def _place(
    nominal: datetime,
    window: SendWindow,
    zone: ZoneInfo,
    *,
    keep_time: time | None,
    not_before: datetime | None = None,
) -> tuple[datetime, str | None]:
    """Pushes a nominal time into the window; returns the local due time and why it moved."""
    start = nominal if not_before is None or _utc(not_before) <= _utc(nominal) else not_before
    if keep_time is not None and hours_contain(keep_time, window):
        due = _at_wall_time(start, keep_time, window, zone)
    else:
        due = next_open(start, window, zone)
    reason = closed_reason(nominal, window, zone)
    if reason is None and _utc(due) != _utc(nominal):
        reason = "after previous occurrence"
    return due.astimezone(zone), reason


def plan_action_time(
    event_time: datetime, offset: Offset | None, window: SendWindow, tz: ZoneInfo | str
) -> datetime:
    """When a branch action fires: ``at`` after the event (at once if None), inside the window."""
    zone = as_zone(tz)
    if offset is None:
        return next_open(event_time, window, zone)
    nominal = apply_offset(event_time, offset, zone)
    return _place(nominal, window, zone, keep_time=offset.at_time)[0]


def _content_ref(step: Step, occurrence: int) -> str | None:
    value = getattr(step, step.kind)
    if isinstance(value, list):
        return str(value[occurrence])
    return None if value is None else str(value)


def _occurrence_nominals(step: Step, anchor: datetime, zone: ZoneInfo) -> Iterator[datetime]:
    first = anchor.astimezone(zone) if step.at is None else apply_offset(anchor, step.at, zone)
    yield first
    if step.repeat is not None:
        every = Offset(step.repeat.every)
        current = first
        for _ in range(step.repeat.count - 1):
            current = apply_offset(current, every, zone)
            yield current


def _spans_days(duration: Duration) -> bool:
    return bool(duration.months or duration.weeks or duration.days or duration.working_days)


def _collides(due: datetime, previous: datetime | None, *, distinct_days: bool) -> bool:
    if previous is None:
        return False
    return _utc(due) <= _utc(previous) or (distinct_days and due.date() == previous.date())


def _repeated_times(
    step: Step, window: SendWindow, anchor: datetime, zone: ZoneInfo
) -> list[tuple[datetime, datetime, str | None]]:
    keep_time = step.at.at_time if step.at is not None else None
    every = Offset(step.repeat.every) if step.repeat is not None else _ONE_DAY
    distinct_days = _spans_days(every.duration)
    if not distinct_days:
        keep_time = None  # several a day: the wall time moves with each occurrence
    times: list[tuple[datetime, datetime, str | None]] = []
    previous: datetime | None = None
    for nominal in _occurrence_nominals(step, anchor, zone):
        due, reason = _place(nominal, window, zone, keep_time=keep_time)
        if _collides(due, previous, distinct_days=distinct_days):
            assert previous is not None
            after = apply_offset(previous, every, zone)
            due, reason = _place(nominal, window, zone, keep_time=keep_time, not_before=after)
        times.append((nominal, due, reason))
        previous = due
    return times


def _review_days(
    first: date, last: date, per_week: int, window: SendWindow
) -> Iterator[tuple[date, date]]:
    """(ideal day, chosen open day) pairs: ``per_week`` distinct open days per 7-day block."""
    block = first
    while block <= last:
        open_days = [
            day
            for day in (block + timedelta(days=i) for i in range(7))
            if day <= last and day_is_open(day, window)
        ]
        chosen: list[tuple[date, date]] = []
        for slot in range(per_week):
            ideal = block + timedelta(days=slot * 7 // per_week)
            if ideal > last:
                break
            free = [day for day in open_days if day not in {pick for _, pick in chosen}]
            later = [day for day in free if day >= ideal]
            earlier = [day for day in free if day < ideal]
            if later or earlier:
                chosen.append((ideal, later[0] if later else earlier[-1]))
        yield from sorted(chosen, key=lambda pair: pair[1])
        block += timedelta(days=7)


def _review_times(
    step: Step, window: SendWindow, anchor: datetime, zone: ZoneInfo
) -> list[tuple[datetime, datetime, str | None]]:
    assert step.from_ is not None and step.until is not None
    start = apply_offset(anchor, step.from_, zone)
    end = apply_offset(anchor, step.until, zone)
    wall = start.time()
    times: list[tuple[datetime, datetime, str | None]] = []
    previous: datetime | None = None
    for ideal, chosen in _review_days(start.date(), end.date(), step.per_week, window):
        nominal = localize(datetime.combine(ideal, wall), zone)
        slot = localize(datetime.combine(chosen, wall), zone)
        due, reason = _place(slot, window, zone, keep_time=step.from_.at_time)
        if _collides(due, previous, distinct_days=True):
            assert previous is not None
            after = apply_offset(previous, _ONE_DAY, zone)
            due, reason = _place(slot, window, zone, keep_time=step.from_.at_time, not_before=after)
        if chosen != ideal:
            reason = closed_reason(nominal, window, zone) or "spread over open days"
        times.append((nominal, due, reason))
        previous = due
    return times


def plan_step(
    campaign: Campaign, step: Step, *, anchor: datetime, tz: ZoneInfo | str
) -> list[PlannedSend]:
    """The sends of one step from ``anchor`` (the campaign's start, or a branch's event time)."""
    zone = as_zone(tz)
    window = campaign.window_for(step)
    timer = _review_times if step.kind == "review" else _repeated_times
    channels = tuple(campaign.channels_for(step))
    return [
        PlannedSend(
            step_id=step.id,
            occurrence=occurrence,
            kind=step.kind,
            content_ref=_content_ref(step, occurrence),
            recipient=step.to,
            channels=channels,
            nominal_at=nominal,
            due_at=due.astimezone(_UTC),
            local_due_at=due,
            shifted_reason=reason,
        )
        for occurrence, (nominal, due, reason) in enumerate(timer(step, window, anchor, zone))
    ]


def plan_timeline(
    campaign: Campaign,
    *,
    anchor: datetime,
    tz: ZoneInfo | str,
    include_branched: bool = False,
) -> list[PlannedSend]:
    """Every planned send of a campaign for one learner, sorted by due time (ties: file order)."""
    order = {step.id: index for index, step in enumerate(campaign.steps)}
    sends = [
        send
        for step in campaign.steps
        if step.when == "planned" or include_branched
        for send in plan_step(campaign, step, anchor=anchor, tz=tz)
    ]
    return sorted(sends, key=lambda send: (send.due_at, order[send.step_id], send.occurrence))
