"""The benchmark's organisation seeding: a template played by the engine, copied in bulk with
every foreign key moved along (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func
from sqlmodel import col, select

from engine.demo.org import seed_org
from engine.services.bootstrap import build_runtime, close_runtime
from engine.services.catalog import Catalog
from engine.settings import Settings
from engine.store.models import (
    Attendance,
    Delivery,
    Enrollment,
    InboundEvent,
    Learner,
    Prompt,
    Reply,
    ReviewCard,
    TrainingSession,
)

UNTIL = datetime(2026, 11, 27, 15, 20, tzinfo=UTC)


async def test_two_sessions_of_copied_histories(store_url: str, tmp_path: object) -> None:
    settings = Settings(database_url=store_url, sandbox=True)
    rt = await build_runtime(settings)
    try:
        catalog = Catalog.load(settings.campaigns_dir, settings.content_dir)
        report = await seed_org(rt, catalog, sessions=2, learners=4, until=UNTIL, trainers=2,
                                template_sessions=2, template_learners=2, seed=5)
        assert report.sessions == 2 and report.learners == 8 and report.rows > 0
        async with rt.sessions() as db:
            sessions = (await db.exec(select(TrainingSession.id, TrainingSession.trainer_id))).all()
            assert len(sessions) == 2 and len({trainer for _, trainer in sessions}) == 2
            per_session = dict((await db.exec(select(Attendance.session_id, func.count())
                                              .group_by(col(Attendance.session_id)))).all())
            assert sorted(per_session.values()) == [4, 4]
            enrolled = dict((await db.exec(select(Enrollment.session_id, func.count())
                                           .group_by(col(Enrollment.session_id)))).all())
            assert enrolled == per_session
            # A copy's thread is its original's, shifted: same steps, states and dates.
            learners = sorted((await db.exec(select(Learner.id))).all())
            assert len(learners) == 8

            async def thread(learner_id: int | None) -> list[tuple[object, ...]]:
                rows = (await db.exec(select(Delivery.step_id, Delivery.occurrence, Delivery.status, Delivery.due_at)
                                      .where(Delivery.learner_id == learner_id)
                                      .order_by(col(Delivery.id)))).all()
                return [tuple(row) for row in rows]

            originals = [await thread(lid) for lid in learners[:4]]
            copies = [await thread(lid) for lid in learners[4:]]
            assert originals == copies and any(originals)
            for model in (Delivery, Prompt, Reply, ReviewCard, InboundEvent):
                count = (await db.exec(select(func.count()).select_from(model))).one()
                assert count > 0 and count % 2 == 0, model.__name__
            # Copied replies point at the copied prompts and learners, not at the template's.
            orphans = (await db.exec(select(func.count()).select_from(Reply).join(
                Prompt, col(Prompt.id) == col(Reply.prompt_id)).where(
                col(Prompt.learner_id) != col(Reply.learner_id)))).one()
            assert orphans == 0
            senders = (await db.exec(select(func.count(func.distinct(InboundEvent.sender))))).one()
            assert senders >= 4
    finally:
        await close_runtime(rt)
