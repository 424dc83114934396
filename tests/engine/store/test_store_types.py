"""UTCDateTime and JSONType behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.exc import StatementError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.store import Learner, TrainingSession
from tests.support.seed import Seed

PARIS = ZoneInfo("Europe/Paris")


async def test_aware_datetimes_come_back_as_the_same_instant_in_utc(
    session: AsyncSession,
) -> None:
    starts = datetime(2025, 7, 1, 9, 30, 15, 123456, tzinfo=PARIS)  # summer time, +02:00
    ends = datetime(2025, 12, 1, 23, 30, tzinfo=timezone(timedelta(hours=-5)))
    training = TrainingSession(title="Feedback SBI", starts_at=starts, ends_at=ends)
    session.add(training)
    await session.commit()
    session.expunge_all()

    loaded = (await session.exec(select(TrainingSession))).one()
    assert loaded.starts_at == starts
    assert loaded.starts_at.tzinfo is UTC
    assert loaded.starts_at.hour == 7
    assert loaded.ends_at == ends
    assert loaded.ends_at.tzinfo is UTC
    assert loaded.ends_at.day == 2  # 23:30 at -05:00 is 04:30 UTC the next day


async def test_naive_datetimes_are_refused(session: AsyncSession) -> None:
    session.add(
        TrainingSession(title="x", starts_at=datetime(2025, 1, 1), ends_at=datetime.now(UTC))
    )
    with pytest.raises(StatementError, match="naive datetime"):
        await session.flush()


async def test_comparisons_use_the_instant_not_the_wall_time(session: AsyncSession) -> None:
    at = datetime(2025, 3, 3, 12, 0, tzinfo=UTC)
    session.add(TrainingSession(title="x", starts_at=at, ends_at=at))
    await session.commit()

    just_before_in_paris = datetime(2025, 3, 3, 12, 59, tzinfo=PARIS)  # 11:59 UTC
    just_after_in_paris = datetime(2025, 3, 3, 13, 1, tzinfo=PARIS)  # 12:01 UTC
    ended = select(TrainingSession.id).where(col(TrainingSession.ends_at) <= just_before_in_paris)
    assert (await session.exec(ended)).all() == []
    ended = select(TrainingSession.id).where(col(TrainingSession.ends_at) <= just_after_in_paris)
    assert len((await session.exec(ended)).all()) == 1


async def test_json_columns_round_trip_lists_dicts_and_null(
    session: AsyncSession, seed: Seed
) -> None:
    names = ["suivi-standard", "relance-manager", "évaluation à froid « J+90 »"]
    session.add(
        TrainingSession(
            title="t",
            starts_at=datetime.now(UTC),
            ends_at=datetime.now(UTC),
            campaign_names=names,
        )
    )
    await session.commit()
    session.expunge_all()
    assert (await session.exec(select(TrainingSession))).one().campaign_names == names

    enrollment = await seed.enrollment()
    delivery = await seed.delivery(enrollment=enrollment, rendered=None)
    rendered = {"channel": "sms", "text": "Bonjour Camille ! Réponse A, B ou C", "segments": 1}
    delivery_with_text = await seed.delivery(enrollment=enrollment, rendered=rendered)
    session.expunge_all()

    from engine.store import Delivery

    is_sql_null = select(Delivery.id).where(col(Delivery.rendered).is_(None))
    assert (await session.exec(is_sql_null)).all() == [delivery.id]
    loaded = await session.get(Delivery, delivery_with_text.id)
    assert loaded is not None and loaded.rendered == rendered
    assert loaded.channels == ["sms", "email"]


async def test_learner_defaults(session: AsyncSession) -> None:
    learner = Learner(first_name="Léa", last_name="Dupont", phone="+33612345678")
    session.add(learner)
    await session.commit()
    session.expunge_all()
    loaded = await session.get(Learner, learner.id)
    assert loaded is not None
    assert (loaded.locale, loaded.timezone) == ("fr", "Europe/Paris")
    assert loaded.consent_sms and loaded.consent_email and not loaded.at_risk
    assert loaded.created_at.tzinfo is UTC
