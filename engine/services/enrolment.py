"""Enrolling learners into campaigns, and changing an enrolment's course later.

The plan (timeline maths) comes from the pure core; this module only loads,
saves and keeps the unsent part of the plan in step with pauses, stops and
time-zone moves.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import insert, text, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.campaign.schema import Campaign
from engine.content.library import ContentLibrary
from engine.core import catchup
from engine.core.catchup import OverdueItem, catch_up
from engine.core.timeline import PlannedSend, plan_timeline
from engine.services.catalog import load_pinned, pin_version
from engine.store.base import DeliveryOrigin, DeliveryStatus, EnrollmentStatus, Recipient
from engine.store.models import (
    Attendance,
    AuditEvent,
    Delivery,
    Enrollment,
    Learner,
    TrainingSession,
)
from engine.store.types import utc_now


def _anchor(campaign: Campaign, training: TrainingSession | None, now: datetime) -> datetime:
    if training is None or campaign.starts == "enrollment":
        return now
    return training.starts_at if campaign.starts == "session_start" else training.ends_at


#: What ``--start`` may say for a session that has already ended.
START_CHOICES = ("session-end", "now")


@dataclass(frozen=True)
class StartPlan:
    """When the campaigns of a session's attendees start, decided once and said in one sentence.

    ``anchor`` None means the campaign's own anchor (the session's end); ``refused``
    says why nothing may be enrolled without the operator's explicit choice.
    """

    enrol_now: bool
    anchor: datetime | None
    message: str
    refused: str | None = None


def late_start(*, ends_at: datetime, tz: ZoneInfo, now: datetime, limit_days: int, choice: str | None,
               forced: bool = False) -> StartPlan:
    """How an enrolment into this session starts: at its end, now, or refused (ended too long ago).

    A session that ended within ``limit_days`` keeps its dates (the messages
    already past their date follow their step's overdue rule: next window, skip
    or expire); older, the operator must choose ``now`` (the campaign plays from
    today, as if the session had just ended) or ``session-end``. ``forced``
    (an explicit campaign) enrols a session that has not ended yet at once.
    """
    local_end = f"{ends_at.astimezone(tz):%d/%m/%Y %H:%M} {tz.key}"
    if ends_at > now:
        if not forced:
            return StartPlan(False, None, f"campaigns will start when the session ends, {local_end}")
        return StartPlan(True, None, f"campaigns start from the session's end, {local_end}")
    if choice == "now":
        return StartPlan(True, now, f"campaigns start now ({now.astimezone(tz):%d/%m/%Y %H:%M}), as if the "
                                    f"session had just ended (it ended {local_end})")
    days = (now.astimezone(tz).date() - ends_at.astimezone(tz).date()).days
    keeps = (f"campaigns start from the session's end, {local_end}; messages whose date has passed "
             f"follow their step's overdue rule (next window, skip or expire), never all at once")
    if choice == "session-end" or days <= limit_days:
        return StartPlan(True, None, keeps)
    return StartPlan(False, None, keeps, refused=(
        f"the session ended {days} days ago ({local_end}), more than the {limit_days}-day limit "
        f"(ANCRAGE_LATE_ENROLMENT_DAYS): nothing imported. Say when its campaigns start: --start now "
        f"(from today, as if the session had just ended) or --start session-end (keep its dates; "
        f"past messages follow their step's overdue rule)"))


async def enrol(session: AsyncSession, *, learner: Learner, campaign: Campaign, library: ContentLibrary,
                training: TrainingSession | None, now: datetime) -> tuple[Enrollment, bool]:
    """Enrols one learner (idempotent per learner, session and campaign); True when new."""
    assert learner.id is not None
    session_id = training.id if training is not None else None
    existing = (await session.exec(select(Enrollment).where(
        Enrollment.learner_id == learner.id, Enrollment.session_id == session_id,
        Enrollment.campaign_name == campaign.campaign))).first()
    if existing is not None:
        return existing, False
    version = await pin_version(session, campaign=campaign, library=library)
    assert version.id is not None
    enrollment = Enrollment(learner_id=learner.id, session_id=session_id, campaign_name=campaign.campaign,
                            anchor_at=_anchor(campaign, training, now), campaign_version_id=version.id)
    session.add(enrollment)
    await session.flush()
    session.add_all(plan_deliveries(campaign, enrollment=enrollment, learner=learner))
    session.add(AuditEvent(entity="enrollment", entity_id=enrollment.id or 0, action="enrolled",
                           to_state=EnrollmentStatus.ACTIVE, at=now,
                           detail={"campaign": campaign.campaign, "version": version.id}))
    return enrollment, True


#: Ids per ``IN (...)`` (drivers cap bound parameters near 32,767).
_IDS_PER_QUERY = 5000


async def enrol_many(session: AsyncSession, *, learners: list[Learner], campaign: Campaign,
                     library: ContentLibrary, training: TrainingSession | None, now: datetime,
                     anchor: datetime | None = None, progress: Progress | None = None) -> list[int]:
    """:func:`enrol` for many learners at once; returns the new enrolments' ids, in the learners' order.

    Same rows as one :func:`enrol` per learner (idempotent per learner, session
    and campaign), in a handful of round trips: one lookup of the existing
    enrolments, the version pinned once, then per batch of learners one INSERT
    of the enrolments, one of their audit rows and one of their deliveries. On
    PostgreSQL the deliveries are an ``INSERT ... SELECT`` of the enrolments
    crossed with the timeline (computed once per time zone), so what travels is
    a list of ids and ~27 timeline rows, not 270,000 rows. ``anchor`` overrides
    the campaign's start (see :func:`late_start`); ``progress`` is told of each batch.
    """
    session_id = training.id if training is not None else None
    wanted: dict[int, Learner] = {}
    for learner in learners:
        assert learner.id is not None
        wanted.setdefault(learner.id, learner)
    ids = list(wanted)
    existing: set[int] = set()
    for start in range(0, len(ids), _IDS_PER_QUERY):
        existing.update((await session.exec(select(Enrollment.learner_id).where(
            col(Enrollment.learner_id).in_(ids[start:start + _IDS_PER_QUERY]),
            Enrollment.session_id == session_id, Enrollment.campaign_name == campaign.campaign))).all())
    fresh = [learner for learner_id, learner in wanted.items() if learner_id not in existing]
    if not fresh:
        return []
    version = await pin_version(session, campaign=campaign, library=library)
    assert version.id is not None
    start_at = anchor or _anchor(campaign, training, now)
    timelines: dict[str, list[PlannedSend]] = {}
    by_zone: dict[str, list[int]] = {}
    for learner in fresh:
        if learner.timezone not in timelines:
            timelines[learner.timezone] = plan_timeline(campaign, anchor=start_at, tz=ZoneInfo(learner.timezone))
        by_zone.setdefault(learner.timezone, []).append(learner.id or 0)
    created: dict[int, int] = {}
    done = 0
    for zone, zone_learners in by_zone.items():
        for first in range(0, len(zone_learners), ENROL_BATCH):
            batch = zone_learners[first:first + ENROL_BATCH]
            pairs = await _insert_enrollments(session, learner_ids=batch, session_id=session_id,
                                              campaign=campaign.campaign, anchor=start_at,
                                              version_id=version.id, now=now)
            created.update(pairs)
            await _insert_deliveries(session, pairs, timelines[zone], now=now)
            done += len(batch)
            if progress is not None:
                progress(done, len(fresh))
    return [created[learner.id or 0] for learner in fresh]


#: Learners per batch: one round trip each for their enrolments, audit rows and deliveries.
ENROL_BATCH = 2_000

#: Called with (done, total) after each batch, for a progress bar.
Progress = Callable[[int, int], None]


async def _insert_enrollments(session: AsyncSession, *, learner_ids: list[int], session_id: int | None,
                              campaign: str, anchor: datetime, version_id: int, now: datetime) -> dict[int, int]:
    """Inserts one enrolment per learner and their audit rows; {learner id: enrolment id}."""
    table = Enrollment.__table__  # type: ignore[attr-defined]
    result = await session.exec(insert(table).returning(table.c.id, table.c.learner_id), params=[
        {"learner_id": learner_id, "session_id": session_id, "campaign_name": campaign, "anchor_at": anchor,
         "campaign_version_id": version_id, "status": EnrollmentStatus.ACTIVE, "created_at": now,
         "updated_at": now} for learner_id in learner_ids])
    pairs = {int(learner_id): int(enrollment_id) for enrollment_id, learner_id in result.all()}
    await session.exec(insert(AuditEvent.__table__), params=[  # type: ignore[attr-defined]
        {"entity": "enrollment", "entity_id": enrollment_id, "action": "enrolled",
         "to_state": EnrollmentStatus.ACTIVE, "at": now, "detail": {"campaign": campaign, "version": version_id}}
        for enrollment_id in pairs.values()])
    return pairs


_TIMELINE_DELIVERIES = text(
    "INSERT INTO delivery (enrollment_id, learner_id, step_id, occurrence, kind, recipient, content_ref, channels,"
    " due_at, origin, status_reason, status, attempts, created_at, updated_at)"
    " SELECT e.e, e.l, t.s, t.o, t.k, t.r, t.c, CAST(t.ch AS jsonb), t.d, :origin, t.sr, :status, 0, :now, :now"
    " FROM unnest(CAST(:e AS integer[]), CAST(:l AS integer[])) AS e(e, l)"
    " CROSS JOIN unnest(CAST(:s AS text[]), CAST(:o AS integer[]), CAST(:k AS text[]), CAST(:r AS text[]),"
    " CAST(:c AS text[]), CAST(:ch AS text[]), CAST(:d AS timestamptz[]), CAST(:sr AS text[]))"
    " AS t(s, o, k, r, c, ch, d, sr)")


async def _insert_deliveries(session: AsyncSession, pairs: dict[int, int], sends: list[PlannedSend], *,
                             now: datetime) -> None:
    """The planned deliveries of these enrolments (one timeline shared by all) in one statement."""
    if not sends or not pairs:
        return
    if session.get_bind().dialect.name != "postgresql":
        await session.exec(insert(Delivery.__table__), params=[  # type: ignore[attr-defined]
            {"enrollment_id": enrollment_id, "learner_id": learner_id, "step_id": send.step_id,
             "occurrence": send.occurrence, "kind": send.kind, "recipient": send.recipient,
             "content_ref": send.content_ref, "channels": list(send.channels), "due_at": send.due_at,
             "origin": DeliveryOrigin.PLAN, "status_reason": send.shifted_reason}
            for learner_id, enrollment_id in pairs.items() for send in sends])
        return
    await session.exec(_TIMELINE_DELIVERIES, params={  # type: ignore[call-overload]
        "origin": DeliveryOrigin.PLAN.value, "status": DeliveryStatus.PLANNED.value, "now": utc_now(),
        "e": list(pairs.values()), "l": list(pairs.keys()),
        "s": [send.step_id for send in sends], "o": [send.occurrence for send in sends],
        "k": [send.kind for send in sends], "r": [str(send.recipient) for send in sends],
        "c": [send.content_ref for send in sends], "ch": [json.dumps(list(send.channels)) for send in sends],
        "d": [send.due_at.astimezone(UTC) for send in sends], "sr": [send.shifted_reason for send in sends]})


def plan_deliveries(campaign: Campaign, *, enrollment: Enrollment, learner: Learner) -> list[Delivery]:
    """Delivery rows for every planned send of the campaign, in the learner's time zone."""
    assert enrollment.id is not None and learner.id is not None
    zone = ZoneInfo(learner.timezone)
    return [
        Delivery(enrollment_id=enrollment.id, learner_id=learner.id, step_id=send.step_id,
                 occurrence=send.occurrence, kind=send.kind, recipient=send.recipient,
                 content_ref=send.content_ref, channels=list(send.channels), due_at=send.due_at,
                 origin=DeliveryOrigin.PLAN, status_reason=send.shifted_reason)
        for send in plan_timeline(campaign, anchor=enrollment.anchor_at, tz=zone)
    ]


#: Later messages the catch-up looks at to keep the learner's order (a campaign has a few dozen).
UPCOMING = 60


async def end_session(session: AsyncSession, *, training: TrainingSession, campaigns: dict[str, Campaign],
                      library: ContentLibrary, now: datetime) -> list[int]:
    """Enrols every attendee of a session that has ended into its campaigns (once); the new enrolments' ids."""
    if training.ended_processed_at is not None:
        return []
    # Claim the session first (compare-and-set): of several ticks, exactly one enrols.
    claimed = await session.exec(update(TrainingSession).where(
        col(TrainingSession.id) == training.id, col(TrainingSession.ended_processed_at).is_(None),
    ).values(ended_processed_at=now))
    if not claimed.rowcount:
        return []
    learners = (await session.exec(select(Learner).join(Attendance, col(Attendance.learner_id) == col(Learner.id))
                                   .where(Attendance.session_id == training.id))).all()
    created: list[int] = []
    for name in training.campaign_names:
        campaign = campaigns.get(name)
        if campaign is None:
            raise LookupError(f"session '{training.title}' names an unknown campaign '{name}'")
        created += await enrol_many(session, learners=[learner for learner in learners if learner.erased_at is None],
                                    campaign=campaign, library=library, training=training, now=now)
    training.ended_processed_at = now
    return created


async def _set_status(session: AsyncSession, enrollment: Enrollment, status: str, now: datetime,
                      reason: str | None = None) -> None:
    session.add(AuditEvent(entity="enrollment", entity_id=enrollment.id or 0, action="status",
                           from_state=enrollment.status, to_state=status, at=now,
                           detail={"reason": reason} if reason else {}))
    enrollment.status = status
    enrollment.updated_at = now
    session.add(enrollment)


async def pause(session: AsyncSession, *, enrollment: Enrollment, now: datetime) -> None:
    """Stops sending until resumed; planned messages stay planned (the tick skips paused enrolments)."""
    if enrollment.status == EnrollmentStatus.ACTIVE:
        enrollment.paused_at = now
        await _set_status(session, enrollment, EnrollmentStatus.PAUSED, now)


async def resume(session: AsyncSession, *, enrollment: Enrollment, learner: Learner, now: datetime) -> int:
    """Resumes a paused enrolment; overdue messages follow their step's policy. Returns how many moved."""
    if enrollment.status != EnrollmentStatus.PAUSED:
        return 0
    await _set_status(session, enrollment, EnrollmentStatus.ACTIVE, now)
    enrollment.paused_at = None
    return await apply_catch_up(session, enrollment=enrollment, learner=learner, now=now)


async def apply_catch_up(session: AsyncSession, *, enrollment: Enrollment, learner: Learner, now: datetime) -> int:
    """Applies the catch-up rule to this enrolment's overdue planned messages.

    Returns how many overdue messages were decided on; the learner's later
    messages moved out of their way (:func:`~engine.core.catchup.catch_up`) are
    not counted. Rows are read without a lock and changed by compare-and-set
    (still ``planned``): one a claim took meanwhile is going out, and keeps its
    time. (Locking every planned row of each enrolment a pass looks at wrote to
    thousands of rows per tick.)
    """
    overdue = (await session.exec(select(Delivery).where(
        Delivery.enrollment_id == enrollment.id, Delivery.status == DeliveryStatus.PLANNED,
        col(Delivery.due_at) < now - catchup.LATE_AFTER))).all()
    if not overdue:
        return 0
    pinned = await load_pinned(session, enrollment.campaign_version_id)
    campaign = pinned.campaign

    def as_item(delivery: Delivery) -> OverdueItem:
        step = campaign.step(delivery.step_id)
        policy = campaign.overdue_for(step) if step else "skip"
        expire_after = (step.expire_after if step and step.expire_after else campaign.defaults.expire_after)
        window = campaign.window_for(step) if step else campaign.defaults.window
        return OverdueItem(delivery.id or 0, delivery.due_at, policy, expire_after.approx_timedelta(), window)

    zone = ZoneInfo(learner.timezone)
    items = [as_item(d) for d in overdue]
    decisions = catch_up(items, now=now, tz=zone)
    if any(d.due_at is not None and d.due_at > now for d in decisions):
        # Spread over later days: the learner's later messages (as the claim's hold sees them)
        # that the spread would overtake move after it.
        later = (await session.exec(select(Delivery).where(
            Delivery.enrollment_id == enrollment.id, Delivery.status == DeliveryStatus.PLANNED,
            col(Delivery.due_at) >= now - catchup.LATE_AFTER, Delivery.recipient == Recipient.LEARNER,
            Delivery.origin != DeliveryOrigin.FEEDBACK).order_by(col(Delivery.due_at)).limit(UPCOMING))).all()
        decisions = catch_up(items, now=now, tz=zone, upcoming=[as_item(d) for d in later])
    for decision in decisions:
        if decision.action == "send" and decision.due_at is not None:
            values: dict[str, object] = {"due_at": decision.due_at}
        else:
            values = {"status": DeliveryStatus.SKIPPED if decision.action == "skip" else DeliveryStatus.EXPIRED,
                      "finished_at": now}
        await session.exec(update(Delivery).where(
            col(Delivery.id) == decision.key, col(Delivery.status) == DeliveryStatus.PLANNED,
        ).values(status_reason=decision.reason, updated_at=now, **values).execution_options(synchronize_session=False))
    return len(overdue)


async def stop(session: AsyncSession, *, enrollment: Enrollment, reason: str, now: datetime) -> int:
    """Stops an enrolment for good: every unsent message is cancelled with the reason."""
    if enrollment.status in (EnrollmentStatus.STOPPED, EnrollmentStatus.COMPLETED):
        return 0
    enrollment.stopped_reason = reason
    await _set_status(session, enrollment, EnrollmentStatus.STOPPED, now, reason)
    result = await session.exec(update(Delivery).where(
        col(Delivery.enrollment_id) == enrollment.id, col(Delivery.status) == DeliveryStatus.PLANNED,
    ).values(status=DeliveryStatus.CANCELLED, status_reason=f"enrolment stopped: {reason}", finished_at=now))
    return int(result.rowcount or 0)


async def move_timezone(session: AsyncSession, *, learner: Learner, timezone: str, now: datetime) -> int:
    """Moves a learner to another zone and re-plans every message not yet sent. Returns how many."""
    ZoneInfo(timezone)  # raises on an unknown zone
    learner.timezone = timezone
    session.add(learner)
    moved = 0
    enrollments = (await session.exec(select(Enrollment).where(
        Enrollment.learner_id == learner.id, col(Enrollment.status).in_(
            [EnrollmentStatus.ACTIVE, EnrollmentStatus.PAUSED])))).all()
    for enrollment in enrollments:
        pinned = await load_pinned(session, enrollment.campaign_version_id)
        fresh = {(d.step_id, d.occurrence): d.due_at
                 for d in plan_deliveries(pinned.campaign, enrollment=enrollment, learner=learner)}
        pending = (await session.exec(select(Delivery).where(
            Delivery.enrollment_id == enrollment.id, Delivery.status == DeliveryStatus.PLANNED,
            Delivery.origin == DeliveryOrigin.PLAN))).all()
        for delivery in pending:
            due = fresh.get((delivery.step_id, delivery.occurrence))
            if due is not None and due != delivery.due_at and due > now:
                delivery.due_at = due
                delivery.status_reason = f"re-planned for time zone {timezone}"
                session.add(delivery)
                moved += 1
    return moved
