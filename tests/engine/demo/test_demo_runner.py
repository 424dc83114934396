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


def test_the_warped_clock_starts_after_redis_and_the_warm_up(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """On a loaded machine, starting Redis, importing the app and parsing the library took longer
    than the startup grace: the first tick came a virtual day late. They now come first."""
    import engine.demo.runner as runner

    order: list[str] = []

    async def prepared(*args, **kwargs):  # type: ignore[no-untyped-def]
        return 1, {}

    async def played(settings, clock, **kwargs):  # type: ignore[no-untyped-def]
        order.append("play")
        assert clock.origin - runner.time.time() > runner.STARTUP_GRACE_SECONDS - 1.0  # the grace is still ahead

    monkeypatch.setattr(runner, "_prepare", prepared)
    monkeypatch.setattr(runner, "resolve_redis", lambda settings: (order.append("redis"), ("redis://x", None))[1])
    monkeypatch.setattr(runner, "_warm_up", lambda settings: order.append("warm-up"))
    real_clock = runner.WarpedClock
    monkeypatch.setattr(runner, "WarpedClock", lambda **kw: (order.append("clock"), real_clock(**kw))[1])
    monkeypatch.setattr(runner, "_main", played)
    for name in ("ANCRAGE_CLOCK_START", "ANCRAGE_CLOCK_ORIGIN", "ANCRAGE_CLOCK_SPEED"):
        monkeypatch.setenv(name, "")  # restored after the test: run_demo exports its clock
    assert runner.run_demo(speed=3600, days=1, port=1, campaign="suivi-standard", fresh=True,
                           data_dir=tmp_path / "demo") == 0
    assert order == ["redis", "warm-up", "clock", "play"]

