"""The tick's silence pass skips questions another transaction holds (found by bench/soak.py).

Two ticks at once, or a tick and a reply, waited on each other's prompt rows and
deadlocked; the failed tick job then also skipped its inbound sweep. With
``FOR UPDATE SKIP LOCKED`` a held question is left for the next tick.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from sqlmodel import select

from engine.channels.base import MemoryChannel
from engine.services.silence import expire_prompts
from engine.store.models import Prompt
from tests.support.engine_harness import add_session, make_engine, write_campaign

PARIS = ZoneInfo("Europe/Paris")
SESSION_END = datetime(2026, 3, 30, 10, 0, tzinfo=PARIS)  # a Monday
CAMPAIGN = """
campaign: silence-locks
title: Silence locks
defaults:
  channels: [sms]
  window: {days: [mon, tue, wed, thu, fri, sat, sun], from: "00:00", to: "23:59", holidays: true}
  reply_within: 1d
steps:
  - id: quiz
    at: +1h
    quiz: management/quiz-sbi
    ask: 1
"""


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
async def test_a_question_held_elsewhere_is_skipped_not_waited_for(store_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "campaigns"
    write_campaign(folder, CAMPAIGN)
    engine = await make_engine(store_url, tmp_path, folder, start=SESSION_END, channels={"sms": MemoryChannel()})
    await add_session(engine, title="Manager coach", ends_at=SESSION_END, campaigns=["silence-locks"],
                      learners=[{"first_name": "Camille", "last_name": "Martin", "phone": "+33612345678"},
                                {"first_name": "Yanis", "last_name": "Benali", "phone": "+33781234567"}])
    await engine.run_until(SESSION_END + timedelta(hours=2), step=timedelta(minutes=20))
    async with engine.rt.sessions() as session:
        prompts = (await session.exec(select(Prompt).order_by(Prompt.id))).all()  # type: ignore[arg-type]
    assert [p.status for p in prompts] == ["open", "open"]
    url = make_url(store_url)
    other = await asyncpg.connect(user=url.username, host=url.host, port=url.port, database=url.database)
    try:
        transaction = other.transaction()
        await transaction.start()
        await other.execute("SELECT id FROM prompt WHERE id = $1 FOR UPDATE", prompts[0].id)  # a reply being processed
        later = SESSION_END + timedelta(days=3)
        changed = await asyncio.wait_for(expire_prompts(engine.rt, now=later), timeout=10)
        assert changed == 1
        await transaction.rollback()
    finally:
        await other.close()
    async with engine.rt.sessions() as session:
        statuses = [p.status for p in (await session.exec(select(Prompt).order_by(Prompt.id))).all()]  # type: ignore[arg-type]
    assert statuses == ["open", "expired"]
    assert await expire_prompts(engine.rt, now=later) == 1  # the next tick takes it
