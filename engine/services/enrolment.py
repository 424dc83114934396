"""Enrolling learners into campaigns, and changing an enrolment's course later.

The plan (timeline maths) comes from the pure core; this module only loads,
saves and keeps the unsent part of the plan in step with pauses, stops and
time-zone moves.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert, text, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.campaign.schema import Campaign
from engine.content.library import ContentLibrary
from engine.core.catchup import OverdueItem, catch_up
from engine.core.timeline import PlannedSend, plan_timeline
from engine.services.catalog import load_pinned, pin_version
from engine.store.base import DeliveryOrigin, DeliveryStatus, EnrollmentStatus
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
                     library: ContentLibrary, training: TrainingSession | None,
                     now: datetime) -> list[Enrollment]:
    """:func:`enrol` for many learners at once; returns the new enrolments, in the learners' order.

    Same rows as one :func:`enrol` per learner (idempotent per learner, session
    and campaign), in a handful of statements: one lookup of the existing
    enrolments, the version pinned once, the enrolments inserted together, the
    timeline computed once per time zone, the deliveries in bulk (one
    ``INSERT ... SELECT FROM unnest`` per 50,000 on PostgreSQL) and the audit rows
    in one executemany: a session of 10,000 attendees ends in seconds, not minutes.
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
    anchor = _anchor(campaign, training, now)
    enrollments = [Enrollment(learner_id=learner.id or 0, session_id=session_id, campaign_name=campaign.campaign,
                              anchor_at=anchor, campaign_version_id=version.id) for learner in fresh]
    session.add_all(enrollments)
    await session.flush()
    timelines: dict[str, list[PlannedSend]] = {}
    rows: list[dict[str, Any]] = []
    for enrollment, learner in zip(enrollments, fresh, strict=True):
        sends = timelines.get(learner.timezone)
        if sends is None:
            sends = timelines[learner.timezone] = plan_timeline(campaign, anchor=anchor, tz=ZoneInfo(learner.timezone))
        rows.extend({"enrollment_id": enrollment.id, "learner_id": learner.id, "step_id": send.step_id,
                     "occurrence": send.occurrence, "kind": send.kind, "recipient": send.recipient,
                     "content_ref": send.content_ref, "channels": list(send.channels), "due_at": send.due_at,
                     "origin": DeliveryOrigin.PLAN, "status_reason": send.shifted_reason} for send in sends)
    if rows:
        await _insert_deliveries(session, rows)
    await session.exec(insert(AuditEvent.__table__), params=[  # type: ignore[attr-defined]
        {"entity": "enrollment", "entity_id": enrollment.id or 0, "action": "enrolled",
         "to_state": EnrollmentStatus.ACTIVE, "at": now, "detail": {"campaign": campaign.campaign, "version": version.id}}
        for enrollment in enrollments])
    return enrollments


_UNNEST_DELIVERIES = text(
    "INSERT INTO delivery (enrollment_id, learner_id, step_id, occurrence, kind, recipient, content_ref, channels,"
    " due_at, origin, status_reason, status, attempts, created_at, updated_at)"
    " SELECT e, l, s, o, k, r, c, CAST(ch AS jsonb), d, g, sr, :status, 0, :now, :now"
    " FROM unnest(CAST(:e AS integer[]), CAST(:l AS integer[]), CAST(:s AS text[]), CAST(:o AS integer[]),"
    " CAST(:k AS text[]), CAST(:r AS text[]), CAST(:c AS text[]), CAST(:ch AS text[]),"
    " CAST(:d AS timestamptz[]), CAST(:g AS text[]), CAST(:sr AS text[])) AS t(e, l, s, o, k, r, c, ch, d, g, sr)")
_UNNEST_ROWS = 50_000


async def _insert_deliveries(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Planned deliveries in bulk: on PostgreSQL one ``INSERT ... SELECT FROM unnest(arrays)`` per
    50,000 rows (the server plans and runs one statement, not one per row); elsewhere an executemany."""
    if session.get_bind().dialect.name != "postgresql":
        await session.exec(insert(Delivery.__table__), params=rows)  # type: ignore[attr-defined]
        return
    now = utc_now()
    for start in range(0, len(rows), _UNNEST_ROWS):
        chunk = rows[start:start + _UNNEST_ROWS]
        await session.exec(_UNNEST_DELIVERIES, params={  # type: ignore[call-overload]
            "status": DeliveryStatus.PLANNED.value, "now": now,
            "e": [row["enrollment_id"] for row in chunk], "l": [row["learner_id"] for row in chunk],
            "s": [row["step_id"] for row in chunk], "o": [row["occurrence"] for row in chunk],
            "k": [row["kind"] for row in chunk], "r": [str(row["recipient"]) for row in chunk],
            "c": [row["content_ref"] for row in chunk], "ch": [json.dumps(row["channels"]) for row in chunk],
            "d": [row["due_at"].astimezone(UTC) for row in chunk], "g": [str(row["origin"]) for row in chunk],
            "sr": [row["status_reason"] for row in chunk]})


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


async def end_session(session: AsyncSession, *, training: TrainingSession, campaigns: dict[str, Campaign],
                      library: ContentLibrary, now: datetime) -> list[Enrollment]:
    """Enrols every attendee of a session that has ended into its campaigns (once)."""
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
    created = []
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
    """Applies the catch-up rule to this enrolment's overdue planned messages."""
    overdue = (await session.exec(select(Delivery).where(
        Delivery.enrollment_id == enrollment.id, Delivery.status == DeliveryStatus.PLANNED,
        col(Delivery.due_at) < now - timedelta(hours=1)))).all()
    if not overdue:
        return 0
    pinned = await load_pinned(session, enrollment.campaign_version_id)
    campaign = pinned.campaign
    items = []
    for delivery in overdue:
        step = campaign.step(delivery.step_id)
        policy = campaign.overdue_for(step) if step else "skip"
        expire_after = (step.expire_after if step and step.expire_after else campaign.defaults.expire_after)
        window = campaign.window_for(step) if step else campaign.defaults.window
        items.append(OverdueItem(delivery.id or 0, delivery.due_at, policy, expire_after.approx_timedelta(), window))
    by_id = {d.id: d for d in overdue}
    for decision in catch_up(items, now=now, tz=ZoneInfo(learner.timezone)):
        delivery = by_id[decision.key]
        if decision.action == "send" and decision.due_at is not None:
            delivery.due_at = decision.due_at
            delivery.status_reason = decision.reason
        else:
            delivery.status = DeliveryStatus.SKIPPED if decision.action == "skip" else DeliveryStatus.EXPIRED
            delivery.status_reason = decision.reason
            delivery.finished_at = now
        session.add(delivery)
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
