"""Attendees through the API carry consent per channel; where they say nothing, the setting decides."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.settings import Settings
from engine.store.models import Learner
from webhooks.deps import create_api_key

SESSION = {"external_id": "LMS-7", "title": "Manager coach", "starts_at": "2025-03-03T09:00:00",
           "ends_at": "2025-03-05T17:00:00", "timezone": "Europe/Paris", "campaigns": ["suivi-standard"]}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"default_consent": "email"})


async def test_consent_per_channel_and_default_from_the_setting(
        client: httpx.AsyncClient, session_maker: async_sessionmaker[AsyncSession]) -> None:
    async with session_maker() as session:
        key = {"X-Api-Key": await create_api_key(session, "LMS")}
        await session.commit()
    created = await client.post("/api/v1/sessions", json=SESSION, headers=key)
    session_id = created.json()["id"]
    rows = [{"first_name": "Léa", "last_name": "Petit", "phone": "06 12 34 56 78", "consent_sms": True},
            {"first_name": "Hugo", "last_name": "Roux", "phone": "07 81 23 45 67"},
            {"first_name": "Emma", "last_name": "Garnier", "email": "emma.garnier@exemple"}]
    refused = await client.post(f"/api/v1/sessions/{session_id}/attendees", json=rows, headers=key)
    assert refused.status_code == 422
    assert [(e["row"], e["field"]) for e in refused.json()["errors"]] == [(3, "email")]
    response = await client.post(f"/api/v1/sessions/{session_id}/attendees", json=rows[:2], headers=key)
    assert response.status_code == 200, response.text
    async with session_maker() as session:
        learners = {row.first_name: row for row in (await session.exec(select(Learner))).all()}
    assert (learners["Léa"].consent_sms, learners["Léa"].consent_email, learners["Léa"].consent_push) == (
        True, True, False)
    assert (learners["Hugo"].consent_sms, learners["Hugo"].consent_email) == (False, True)
    again = await client.post(f"/api/v1/sessions/{session_id}/attendees", headers=key,
                              json=[{**rows[1], "consent_sms": True}])
    assert again.status_code == 200
    async with session_maker() as session:
        hugo = (await session.exec(select(Learner).where(Learner.first_name == "Hugo"))).one()
    assert hugo.consent_sms is True and hugo.consent_email is True  # unchanged where not given
