"""The attendees API takes the employer and the training's own outcome; a later call with the
outcome (the training has ended) updates the attendance."""

from __future__ import annotations

import httpx
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.store.models import Attendance, Learner
from webhooks.deps import create_api_key

SESSION = {"external_id": "LMS-7", "title": "Gestion du temps", "starts_at": "2025-03-03T09:00:00",
           "ends_at": "2025-03-05T17:00:00", "timezone": "Europe/Paris", "campaigns": ["suivi-standard"]}


async def test_company_and_completion_through_the_api(client: httpx.AsyncClient,
                                                      session_maker: async_sessionmaker[AsyncSession]) -> None:
    async with session_maker() as session:
        key = {"X-Api-Key": await create_api_key(session, "LMS")}
        await session.commit()
    session_id = (await client.post("/api/v1/sessions", json=SESSION, headers=key)).json()["id"]
    rows = [{"first_name": "Léa", "last_name": "Petit", "phone": "06 12 34 56 78", "company": "Acme SA"},
            {"first_name": "Hugo", "last_name": "Roux", "email": "hugo@example.org", "company": "Beta"}]
    assert (await client.post(f"/api/v1/sessions/{session_id}/attendees", json=rows, headers=key)).status_code == 200
    later = [{**rows[0], "training_completion": "completed"}, {**rows[1], "training_completion": "abandoned"}]
    assert (await client.post(f"/api/v1/sessions/{session_id}/attendees", json=later, headers=key)).status_code == 200
    bad = [{**rows[0], "training_completion": "peut-être"}]
    assert (await client.post(f"/api/v1/sessions/{session_id}/attendees", json=bad, headers=key)).status_code == 422
    async with session_maker() as session:
        found = (await session.exec(select(Learner.company, Attendance.training_completion)
                                    .join(Attendance, col(Attendance.learner_id) == col(Learner.id))
                                    .order_by(col(Learner.id)))).all()
    assert [tuple(r) for r in found] == [("Acme SA", "completed"), ("Beta", "abandoned")]
