"""Simulated learners answer a question only once its message has reached them."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlmodel import col, select

from engine.channels.base import MemoryChannel
from engine.core.personas import PERSONAS, PersonaReplies
from engine.demo.learners import SimulatedLearners
from engine.store.models import Delivery, Prompt
from tests.support.engine_harness import add_session, make_engine, write_campaign

PARIS = ZoneInfo("Europe/Paris")
ENDED = datetime(2026, 4, 14, 17, 0, tzinfo=PARIS)
QUIZ = """
campaign: quiz
title: Un quiz
defaults:
  channels: [sms]
  window: {days: [mon, tue, wed, thu, fri], from: "09:00", to: "18:00"}
steps:
  - {id: quiz, at: +1d 10:00, quiz: management/quiz-sbi, ask: 1}
"""


async def test_a_question_still_on_its_way_is_not_answered(store_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "campaigns"
    write_campaign(folder, QUIZ)
    engine = await make_engine(store_url, tmp_path, folder, start=ENDED - timedelta(minutes=1),
                               channels={"sms": MemoryChannel("sms")})
    await add_session(engine, title="Quiz", ends_at=ENDED, campaigns=["quiz"],
                      learners=[{"first_name": "Camille", "last_name": "Martin", "phone": "+33612345678"}])
    await engine.run_until(datetime(2026, 4, 15, 10, 30, tzinfo=PARIS))
    async with engine.rt.sessions() as session:
        prompt = (await session.exec(select(Prompt))).one()
    learners = SimulatedLearners(engine.rt, engine.clock, "http://127.0.0.1:9/webhooks",  # type: ignore[arg-type]
                                 "token", {prompt.learner_id: (PERSONAS["assidu"], "+33612345678")})
    # The send failed and waits for its retry: the prompt is open, the learner has nothing to answer.
    async with engine.rt.sessions() as session, session.begin():
        await session.exec(update(Delivery).where(col(Delivery.id) == prompt.delivery_id).values(status="planned"))
    async with engine.rt.sessions() as session:
        await learners._plan(session, [prompt], {})
    assert learners.pending == [] and learners.waiting == {prompt.id} and prompt.id not in learners.seen
    # The retry got through: now the learner answers it (once).
    async with engine.rt.sessions() as session, session.begin():
        await session.exec(update(Delivery).where(col(Delivery.id) == prompt.delivery_id).values(status="sent"))
    replies = {prompt.learner_id: PersonaReplies(PERSONAS["assidu"], prompt.learner_id)}
    async with engine.rt.sessions() as session:
        await learners._plan(session, [prompt], replies)
        await learners._plan(session, [prompt], replies)
    assert [item.prompt_id for item in learners.pending] == [prompt.id]
    assert learners.waiting == set() and prompt.id in learners.seen

