"""Replies processed in batches: every event once, one per learner per batch, the same result as
one at a time. In-process, on both backends."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from engine.channels.base import MemoryChannel
from engine.services import inbound
from engine.services.inbound import process_inbound, process_inbound_batch
from engine.store.inbound import store_inbound_event
from engine.store.models import Delivery, InboundEvent, Reply
from tests.support.engine_harness import Engine, add_session, make_engine, write_campaign

PARIS = ZoneInfo("Europe/Paris")
SESSION_END = datetime(2026, 3, 24, 17, 0, tzinfo=PARIS)  # Tuesday
PHONES = [f"+3361234567{i}" for i in range(4)]
CAMPAIGN = """
campaign: batches
title: Batches
defaults: {channels: [sms], window: {from: "09:00", to: "19:00"}}
steps:
  - id: quiz
    at: +1d 10:00
    quiz: management/quiz-sbi
    ask: 3
"""


async def _engine(store_url: str, tmp_path: Path) -> Engine:
    write_campaign(tmp_path / "campaigns", CAMPAIGN)
    engine = await make_engine(store_url, tmp_path, tmp_path / "campaigns", start=SESSION_END,
                               channels={"sms": MemoryChannel("sms")})
    await add_session(engine, title="Manager coach", ends_at=SESSION_END, campaigns=["batches"],
                      learners=[{"first_name": f"L{i}", "last_name": "Martin", "phone": p}
                                for i, p in enumerate(PHONES)])
    await engine.run_until(datetime(2026, 3, 25, 10, 0, tzinfo=PARIS), step=timedelta(hours=1))
    return engine


async def _store(engine: Engine, replies: list[tuple[str, str]]) -> list[int]:
    ids = []
    async with engine.rt.sessions() as session, session.begin():
        for n, (phone, body) in enumerate(replies):
            event, _ = await store_inbound_event(session, provider="twilio", provider_id=f"SM{phone}-{n}",
                                                 channel="sms", sender=phone, received_at=engine.clock.now,
                                                 body=body)
            ids.append(event.id or 0)
    return ids


async def _rows(engine: Engine, model: type) -> list:  # type: ignore[type-arg]
    async with engine.rt.sessions() as session:
        return list((await session.exec(select(model))).all())


async def test_one_job_processes_the_waiting_replies_once_each(store_url: str, tmp_path: Path) -> None:
    engine = await _engine(store_url, tmp_path)
    # The first learner writes twice: the second message is processed after the first one's commit.
    ids = await _store(engine, [(PHONES[0], "B"), (PHONES[1], "A"), (PHONES[2], "C"), (PHONES[0], "merci"),
                                ("+33799999999", "B")])
    outcomes = await process_inbound_batch(engine.rt, ids[0])
    assert set(outcomes) == set(ids)
    assert outcomes[ids[4]] == "unknown sender"
    assert all(outcomes[i].startswith("answered") for i in ids[:3]), outcomes
    assert [await process_inbound(engine.rt, i) for i in ids[1:]] == ["already processed"] * 4
    events = {e.id: e for e in await _rows(engine, InboundEvent)}
    assert {events[i].status for i in ids} == {"processed", "ignored"}
    replies = Counter(r.inbound_event_id for r in await _rows(engine, Reply))
    assert replies == Counter(ids[:3])
    feedback = Counter(d.occurrence for d in await _rows(engine, Delivery) if d.origin == "feedback")
    assert feedback == Counter(ids[:3])


async def test_concurrent_jobs_process_each_reply_exactly_once(store_url: str, tmp_path: Path,
                                                               caplog: pytest.LogCaptureFixture) -> None:
    engine = await _engine(store_url, tmp_path)
    ids = await _store(engine, [(phone, "B") for phone in PHONES])
    with caplog.at_level(logging.ERROR, logger="ancrage.inbound"):
        outcomes = await asyncio.gather(*(process_inbound(engine.rt, i) for i in ids * 2))
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == [], "no batch failed"
    assert sum(o.startswith("answered") for o in outcomes) <= len(ids)
    replies = Counter(r.inbound_event_id for r in await _rows(engine, Reply))
    assert replies == Counter(ids), "every reply recorded exactly once"
    feedback = Counter(d.occurrence for d in await _rows(engine, Delivery) if d.origin == "feedback")
    assert feedback == Counter(ids), "one feedback per reply"


async def test_a_batch_and_a_job_reading_the_same_reply_together_process_it_once(
        store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    """The demo's IntegrityError: a job's batch took a waiting reply whose own job was processing it.

    Both jobs have read their events before either writes (nothing held them on SQLite), so each
    applied the same reply and the second insert of its feedback hit the unique key. Each reply
    must be applied once, in one transaction that commits, and no batch may fail.
    """
    engine = await _engine(store_url, tmp_path)
    ids = await _store(engine, [(PHONES[0], "B"), (PHONES[1], "A")])
    handled: Counter[int] = Counter()
    real_handle, real_others = inbound._handle, inbound._others

    async def counting(session, rt, event, *args, **kwargs):  # type: ignore[no-untyped-def]
        handled[event.id or 0] += 1
        return await real_handle(session, rt, event, *args, **kwargs)

    arrived: list[int] = []
    both = asyncio.Event()

    async def meeting(*args, **kwargs):  # type: ignore[no-untyped-def]
        found = await real_others(*args, **kwargs)
        arrived.append(1)
        if len(arrived) == 2:
            both.set()
        with contextlib.suppress(TimeoutError):  # PostgreSQL: the second job may find its reply held
            await asyncio.wait_for(both.wait(), 2)
        return found

    monkeypatch.setattr(inbound, "_handle", counting)
    monkeypatch.setattr(inbound, "_others", meeting)
    with caplog.at_level(logging.ERROR, logger="ancrage.inbound"):
        outcomes = await asyncio.gather(process_inbound_batch(engine.rt, ids[0]),
                                        process_inbound_batch(engine.rt, ids[1]))
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert handled == Counter(ids), "each reply applied once, none in a transaction rolled back"
    answered = Counter(i for done in outcomes for i, what in done.items() if what.startswith("answered"))
    assert answered == Counter(ids), outcomes
    assert Counter(r.inbound_event_id for r in await _rows(engine, Reply)) == Counter(ids)
    feedback = Counter(d.occurrence for d in await _rows(engine, Delivery) if d.origin == "feedback")
    assert feedback == Counter(ids)
