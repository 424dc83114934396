"""The engine end to end, in-process: enrol, let the clock run, see what reaches each channel when."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from engine.channels.base import MemoryChannel, SendResult
from engine.services import enrolment
from engine.store.models import AuditEvent, Enrollment, Learner, Prompt
from tests.support.engine_harness import add_session, make_engine, write_campaign

PARIS = ZoneInfo("Europe/Paris")
# Friday before the spring DST change (Sunday 29 March 2026).
SESSION_END = datetime(2026, 3, 27, 17, 0, tzinfo=PARIS)

CAMPAIGN = """
campaign: e2e
title: Test e2e
defaults:
  channels: [sms, email]
  window: {days: [mon, tue, wed, thu, fri], from: "09:00", to: "18:00"}
steps:
  - id: welcome
    at: +2h
    message: "Bonjour {{ learner.first_name }}, merci pour {{ session.title }}."
  - id: tip
    at: +1d 09:30
    lesson: management/astuce-01
  - id: quiz
    at: +2d
    quiz: management/quiz-sbi
    ask: 2
"""

LEARNERS = [
    {"first_name": "Camille", "last_name": "Martin", "phone": "+33612345678", "email": "camille@example.fr"},
    {"first_name": "Yanis", "last_name": "Benali", "email": "yanis@example.fr"},
    {"first_name": "Léa", "last_name": "Roux", "phone": "+15145550123", "timezone": "America/Montreal"},
]


def _channels() -> dict[str, MemoryChannel]:
    return {"sms": MemoryChannel("sms"), "email": MemoryChannel("email"), "push": MemoryChannel("push")}


async def _engine(store_url: str, tmp_path: Path, channels: dict[str, MemoryChannel]):  # type: ignore[no-untyped-def]
    folder = tmp_path / "campaigns"
    write_campaign(folder, CAMPAIGN)
    engine = await make_engine(store_url, tmp_path, folder, start=SESSION_END - timedelta(minutes=1),
                               channels=dict(channels))
    await add_session(engine, title="Manager coach", ends_at=SESSION_END, campaigns=["e2e"], learners=LEARNERS)
    return engine


async def test_messages_reach_each_channel_at_local_times(store_url: str, tmp_path: Path) -> None:
    channels = _channels()
    engine = await _engine(store_url, tmp_path, channels)
    await engine.run_until(datetime(2026, 3, 30, 8, 59, tzinfo=PARIS))
    # Only Léa, in Montreal, got her welcome on Friday (14:00 there, inside her window).
    assert [m.to for m in channels["sms"].sent] == ["+15145550123"] and channels["email"].sent == []
    await engine.run_until(datetime(2026, 3, 30, 9, 0, tzinfo=PARIS), step=timedelta(minutes=1))
    # Monday 09:00 Paris (after the weekend and the DST change): the welcome message, and the
    # quiz (+2d falls on Sunday, so it opens with the window).
    assert [m.to for m in channels["sms"].sent] == ["+15145550123", "+33612345678", "+33612345678"]
    assert channels["sms"].sent[1].body == "Bonjour Camille, merci pour Manager coach."
    assert channels["sms"].sent[2].body.startswith("Quiz 1/2 : ")
    assert [m.to for m in channels["email"].sent] == ["yanis@example.fr", "yanis@example.fr"]
    await engine.run_until(datetime(2026, 3, 30, 18, 0, tzinfo=PARIS), step=timedelta(minutes=15))
    await engine.run_until(datetime(2026, 3, 31, 18, 0, tzinfo=PARIS), step=timedelta(minutes=15))
    deliveries = await engine.deliveries()
    by_learner: dict[int, list[str]] = {}
    for delivery in deliveries:
        by_learner.setdefault(delivery.learner_id, []).append(
            f"{delivery.step_id}:{delivery.status}:{delivery.channel}")
    camille, yanis, lea = sorted(by_learner)
    assert by_learner[camille] == ["welcome:sent:sms", "quiz:sent:sms", "tip:sent:sms"]
    assert by_learner[yanis] == ["welcome:sent:email", "quiz:sent:email", "tip:sent:email"]
    # Montreal: the session ended at 12:00 there, so +2h is Friday 14:00 local.
    lea_rows = [d for d in deliveries if d.learner_id == lea]
    assert [d.status for d in lea_rows] == ["sent", "sent", "sent"]
    welcome_at = lea_rows[0].sent_at
    assert welcome_at is not None
    assert lea_rows[0].due_at.astimezone(ZoneInfo("America/Montreal")).strftime("%a %H:%M") == "Fri 14:00"
    assert timedelta(0) <= welcome_at - lea_rows[0].due_at <= timedelta(minutes=30)
    # Every send happened inside the learner's window, at the planned local time.
    sent_local = {d.step_id: d.sent_at.astimezone(PARIS) for d in deliveries if d.learner_id == camille}
    assert sent_local["tip"].strftime("%a %H:%M %Z") == "Mon 09:30 CEST"
    assert sent_local["quiz"].strftime("%a %H:%M") == "Mon 09:00"
    # The quiz opened one question, with the second queued behind it.
    async with engine.rt.sessions() as session:
        prompts = (await session.exec(select(Prompt).where(Prompt.learner_id == camille))).all()
    # Welcome and quiz share 09:00: the quiz still opened exactly one question.
    assert len(prompts) == 1 and len(prompts[0].expectation["queue"]) == 1


async def test_permanent_failure_falls_back_to_next_channel(store_url: str, tmp_path: Path) -> None:
    channels = _channels()
    channels["sms"].fail_for("+33612345678", SendResult("failed_permanent", error_code="21211", error="invalid"))
    engine = await _engine(store_url, tmp_path, channels)
    await engine.run_until(datetime(2026, 3, 30, 8, 55, tzinfo=PARIS), step=timedelta(hours=1))
    await engine.run_until(datetime(2026, 3, 30, 9, 5, tzinfo=PARIS), step=timedelta(minutes=5))
    welcome = [d for d in await engine.deliveries(step_id="welcome") if d.channel in ("sms", "email")]
    camille = next(d for d in welcome if (d.rendered or {}).get("tried") == ["sms", "email"])
    assert camille.status == "sent" and camille.channel == "email"
    assert [m.delivery_id for m in channels["email"].sent].count(camille.id) == 1
    assert [m.delivery_id for m in channels["sms"].attempts].count(camille.id) == 1


async def test_failure_on_the_last_channel_ends_failed_with_reason(store_url: str, tmp_path: Path) -> None:
    channels = _channels()
    # Léa has a phone only: when SMS refuses her number, nothing is left.
    channels["sms"].fail_for("+15145550123", SendResult("failed_permanent", error_code="21614", error="landline"))
    engine = await _engine(store_url, tmp_path, channels)
    await engine.run_until(datetime(2026, 3, 28, 12, 0, tzinfo=PARIS), step=timedelta(minutes=30))
    welcome = [d for d in await engine.deliveries(step_id="welcome") if d.status == "failed"]
    assert len(welcome) == 1
    assert welcome[0].error_code == "21614" and "every channel failed (sms)" in (welcome[0].status_reason or "")


async def test_transient_errors_retry_with_backoff_and_send_once(store_url: str, tmp_path: Path) -> None:
    channels = _channels()
    channels["sms"].fail_next(SendResult("failed_transient", error_code="20429", error="rate", retry_after=60),
                              SendResult("failed_transient", error_code="20500", error="boom"))
    engine = await _engine(store_url, tmp_path, channels)
    await engine.run_until(datetime(2026, 3, 30, 8, 55, tzinfo=PARIS), step=timedelta(hours=1))
    await engine.run_until(datetime(2026, 3, 30, 9, 30, tzinfo=PARIS), step=timedelta(minutes=1))
    welcome = [d for d in await engine.deliveries(step_id="welcome") if d.channel == "sms"]
    sent_to = [m.to for m in channels["sms"].sent if m.body.startswith("Bonjour")]
    assert sorted(sent_to) == sorted(set(sent_to)), "a message went out twice"
    assert all(d.status == "sent" for d in welcome)
    assert max(d.attempts for d in welcome) >= 2
    # The audit trail keeps when the retried message was meant to go, and when it was retried.
    retried = max(welcome, key=lambda d: d.attempts)
    async with engine.rt.sessions() as session:
        retries = (await session.exec(select(AuditEvent).where(
            AuditEvent.entity == "delivery", AuditEvent.entity_id == retried.id,
            AuditEvent.to_state == "planned").order_by(AuditEvent.id))).all()  # type: ignore[arg-type]
    assert len(retries) == retried.attempts - 1
    planned_for = datetime.fromisoformat(retries[0].detail["was_due_at"])
    assert planned_for == SESSION_END + timedelta(hours=2)  # "at: +2h", as planned
    assert all(datetime.fromisoformat(r.detail["due_at"]) > planned_for for r in retries)


async def test_opt_out_between_planning_and_sending_skips_that_channel(store_url: str, tmp_path: Path) -> None:
    channels = _channels()
    engine = await _engine(store_url, tmp_path, channels)
    engine.clock.set(SESSION_END)
    await engine.tick()  # session ends, enrolment planned
    async with engine.rt.sessions() as session, session.begin():
        camille = (await session.exec(select(Learner).where(Learner.first_name == "Camille"))).one()
        camille.opted_out_sms_at = engine.clock.now
        camille.email = None
        session.add(camille)
    await engine.run_until(datetime(2026, 3, 30, 8, 55, tzinfo=PARIS), step=timedelta(hours=1))
    await engine.run_until(datetime(2026, 3, 30, 9, 5, tzinfo=PARIS), step=timedelta(minutes=5))
    assert "+33612345678" not in [m.to for m in channels["sms"].sent]
    welcome = next(d for d in await engine.deliveries(step_id="welcome") if d.learner_id == camille.id)
    assert welcome.status == "skipped" and "opted out" in (welcome.status_reason or "")


async def test_pause_then_resume_does_not_fire_the_backlog(store_url: str, tmp_path: Path) -> None:
    channels = _channels()
    engine = await _engine(store_url, tmp_path, channels)
    engine.clock.set(SESSION_END)
    await engine.tick()
    async with engine.rt.sessions() as session, session.begin():
        rows = (await session.exec(select(Enrollment))).all()
        assert len(rows) == 3
        for row in rows:
            await enrolment.pause(session, enrollment=row, now=engine.clock.now)
    await engine.run_until(datetime(2026, 4, 2, 10, 0, tzinfo=PARIS), step=timedelta(hours=6))
    assert channels["sms"].sent == [] and channels["email"].sent == []
    async with engine.rt.sessions() as session, session.begin():
        for row in (await session.exec(select(Enrollment))).all():
            learner = await session.get(Learner, row.learner_id)
            assert learner is not None
            await enrolment.resume(session, enrollment=row, learner=learner, now=engine.clock.now)
    await engine.tick()
    await engine.tick()
    # Three overdue messages each, but only one goes out now; the rest are spread over the next days.
    per_learner: dict[str, int] = {}
    for message in channels["sms"].sent + channels["email"].sent:
        per_learner[message.to] = per_learner.get(message.to, 0) + 1
    assert per_learner and max(per_learner.values()) == 1
    async with engine.rt.sessions() as session:
        reasons = (await session.exec(select(AuditEvent.detail).where(AuditEvent.action == "status"))).all()
    assert reasons


DAILY = """
campaign: daily
title: Trois jours
defaults:
  channels: [sms]
  window: {days: [mon, tue, wed, thu, fri], from: "09:00", to: "18:00"}
steps:
  - {id: one, at: +1d 10:00, message: "Un."}
  - {id: two, at: +2d 10:00, message: "Deux."}
  - {id: three, at: +3d 10:00, message: "Trois."}
"""


async def test_after_a_pause_the_spread_backlog_keeps_the_campaigns_order(store_url: str, tmp_path: Path) -> None:
    # Ended Tuesday 14 April; paused at once, back on Friday at 09:30: "one" (Wednesday) and
    # "two" (Thursday) are overdue, "three" (Friday 10:00) is not. "one" goes now, "two" is
    # spread to Monday, and "three" waits behind it (Tuesday) instead of overtaking it.
    channels = {"sms": MemoryChannel("sms")}
    folder = tmp_path / "campaigns"
    write_campaign(folder, DAILY)
    ended = datetime(2026, 4, 14, 17, 0, tzinfo=PARIS)
    engine = await make_engine(store_url, tmp_path, folder, start=ended - timedelta(minutes=1),
                               channels=dict(channels))
    await add_session(engine, title="Trois jours", ends_at=ended, campaigns=["daily"], learners=LEARNERS[:1])
    engine.clock.set(ended)
    await engine.tick()
    async with engine.rt.sessions() as session, session.begin():
        row = (await session.exec(select(Enrollment))).one()
        await enrolment.pause(session, enrollment=row, now=engine.clock.now)
    back = datetime(2026, 4, 17, 9, 30, tzinfo=PARIS)
    engine.clock.set(back)
    async with engine.rt.sessions() as session, session.begin():
        row = (await session.exec(select(Enrollment))).one()
        learner = await session.get(Learner, row.learner_id)
        assert learner is not None
        assert await enrolment.resume(session, enrollment=row, learner=learner, now=engine.clock.now) == 2
    await engine.tick()
    await engine.run_until(back + timedelta(days=6))
    sent = sorted((d.sent_at, d.step_id, d.status_reason) for d in await engine.deliveries() if d.sent_at)
    assert [(step, when.astimezone(PARIS).strftime("%a %H:%M")) for when, step, _ in sent] == [
        ("one", "Fri 09:30"), ("two", "Mon 09:00"), ("three", "Tue 09:00")]
    assert sent[2][2] == "moved after an earlier overdue message"
    assert [m.body for m in channels["sms"].sent] == ["Un.", "Deux.", "Trois."]


@pytest.mark.parametrize("zone", ["Pacific/Noumea", "Europe/Paris"])
async def test_moving_time_zone_replans_unsent(store_url: str, tmp_path: Path, zone: str) -> None:
    channels = _channels()
    engine = await _engine(store_url, tmp_path, channels)
    engine.clock.set(SESSION_END)
    await engine.tick()
    async with engine.rt.sessions() as session, session.begin():
        camille = (await session.exec(select(Learner).where(Learner.first_name == "Camille"))).one()
        moved = await enrolment.move_timezone(session, learner=camille, timezone=zone, now=engine.clock.now)
    tip = next(d for d in await engine.deliveries(step_id="tip") if d.learner_id == camille.id)
    local = tip.due_at.astimezone(ZoneInfo(zone))
    assert (local.hour, local.minute) == (9, 30)
    assert (moved > 0) == (zone != "Europe/Paris")
