"""The demo's ``--stop-at-end`` waits for an engine running behind the warped clock: the ended
session is enrolled, what was due by the last day is sent, and what was received is processed,
before it stops."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlmodel import select

from engine.channels.base import MemoryChannel
from engine.demo.runner import _still_due
from engine.services.inbound import process_inbound
from engine.store.inbound import store_inbound_event
from engine.store.models import Learner
from tests.support.engine_harness import add_session, make_engine, write_campaign
from tests.support.overlap import overlap_campaign

PARIS = ZoneInfo("Europe/Paris")
SESSION_END = datetime(2026, 3, 24, 17, 0, tzinfo=PARIS)  # a Tuesday
QUIZ_AT = datetime(2026, 3, 25, 10, 0, tzinfo=PARIS)  # the campaign's first step: +1d 10:00


async def test_still_due_until_the_engine_has_sent_and_processed_what_was_due(store_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "campaigns"
    write_campaign(folder, overlap_campaign("overlap"))
    engine = await make_engine(store_url, tmp_path, folder, start=SESSION_END, channels={"sms": MemoryChannel("sms")})
    await add_session(engine, title="Manager coach", ends_at=SESSION_END, campaigns=["overlap"],
                      learners=[{"first_name": "Camille", "last_name": "Martin", "phone": "+33612345678"}])
    async with engine.rt.sessions() as session:
        learners = {row.id or 0 for row in (await session.exec(select(Learner))).all()}
    # The engine has not ticked yet: nothing is planned, but her session has ended.
    assert not await _still_due(engine.rt, learners, SESSION_END - timedelta(minutes=1))
    assert await _still_due(engine.rt, learners, QUIZ_AT - timedelta(minutes=1))
    await engine.tick()  # the session's end enrols her: her quiz is planned for tomorrow 10:00
    assert not await _still_due(engine.rt, learners, QUIZ_AT - timedelta(minutes=1))
    assert await _still_due(engine.rt, learners, QUIZ_AT)  # the engine is behind: the quiz is not sent yet
    await engine.run_until(QUIZ_AT + timedelta(minutes=30))
    assert not await _still_due(engine.rt, learners, QUIZ_AT)
    async with engine.rt.sessions() as session, session.begin():
        event, _ = await store_inbound_event(session, provider="twilio", provider_id="SM-demo-1", channel="sms",
                                             sender="+33612345678", received_at=engine.clock.now, body="A")
    assert await _still_due(engine.rt, learners, QUIZ_AT)  # a reply received, not processed yet
    assert await process_inbound(engine.rt, event.id or 0) == "answered; next question"
    assert not await _still_due(engine.rt, learners, QUIZ_AT)
