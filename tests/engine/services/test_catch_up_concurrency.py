"""Two ticks catching up at once take disjoint learners (PostgreSQL): none waits, none deadlocks."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlmodel import select

from engine.channels.base import MemoryChannel
from engine.services.scheduler import catch_up_overdue
from engine.store.models import Delivery
from tests.engine.services.test_engine_sends import DAILY
from tests.support.engine_harness import add_session, make_engine, write_campaign

PARIS = ZoneInfo("Europe/Paris")
ENDED = datetime(2026, 4, 14, 17, 0, tzinfo=PARIS)
LEARNERS = [{"first_name": f"L{n}", "last_name": "Test", "phone": f"+3361234{n:04d}"} for n in range(6)]


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
async def test_a_second_pass_skips_the_learners_a_first_one_holds(store_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "campaigns"
    write_campaign(folder, DAILY)
    engine = await make_engine(store_url, tmp_path, folder, start=ENDED - timedelta(minutes=1),
                               channels={"sms": MemoryChannel("sms")})
    await add_session(engine, title="Trois jours", ends_at=ENDED, campaigns=["daily"], learners=LEARNERS)
    engine.clock.set(ENDED)
    await engine.tick()  # enrols; then the engine is down until Friday 09:30
    now = datetime(2026, 4, 17, 9, 30, tzinfo=PARIS)
    async with engine.rt.sessions() as first, first.begin():
        taken = await catch_up_overdue(first, now=now, limit=4)
        assert taken == 8  # four learners, two overdue messages each
        async with engine.rt.sessions() as second, second.begin():
            # Not a wait on the first pass's rows (it used to block, then deadlock): the other two.
            assert await asyncio.wait_for(catch_up_overdue(second, now=now), timeout=5) == 4
    async with engine.rt.sessions() as session:
        rows = (await session.exec(select(Delivery).where(Delivery.step_id == "two"))).all()
    # Every learner's overdue "two" was spread to Monday, once.
    assert len(rows) == 6
    assert {row.due_at.astimezone(PARIS).strftime("%a %H:%M") for row in rows} == {"Mon 09:00"}
    async with engine.rt.sessions() as session, session.begin():
        assert await catch_up_overdue(session, now=now) == 0
