"""Never a 500: NUL characters and ids beyond the database's integers are refused at the edge."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.links import sign
from engine.services.compose import ANSWER_LINK_PURPOSE, UNSUBSCRIBE_PURPOSE
from engine.settings import Settings
from engine.store.models import Ticket
from tests.support.seed import Seed
from tests.support.web_support import NOW
from webhooks.deps import create_api_key

HUGE = (2**31, 2**40, 2**63, 2**70)


async def test_nul_characters_in_text_fields_are_a_422(
        client: httpx.AsyncClient, seed: Seed,
        session_maker: async_sessionmaker[AsyncSession]) -> None:
    async with session_maker() as session:
        key = {"X-Api-Key": await create_api_key(session, "LMS")}
        await session.commit()
    enrollment = await seed.enrollment()
    ticket = await seed.save(Ticket(learner_id=enrollment.learner_id, body="Question",
                                    due_by=NOW + timedelta(hours=48)))
    for path, body in (
            (f"/api/v1/tickets/{ticket.id}/answer", {"text": "Bonjour\x00"}),
            (f"/api/v1/enrollments/{enrollment.id}/actions",
             {"action": "stop", "reason": "a\x00b"})):
        response = await client.post(path, json=body, headers=key)
        assert response.status_code == 422, (path, response.text)
        assert isinstance(response.json()["detail"], list)


async def test_ids_beyond_the_databases_integers_in_signed_links_are_no_500(
        client: httpx.AsyncClient, settings: Settings) -> None:
    until = NOW + timedelta(days=30)
    for huge in HUGE:
        answer = sign(settings.secret_key, purpose=ANSWER_LINK_PURPOSE, expires_at=until,
                      data={"d": huge, "q": "management/quiz-sbi#q1"})
        for method in ("GET", "POST"):
            response = await client.request(method, f"/r/{answer}", data={"answer": "A"})
            assert response.status_code == 404, (huge, method, response.status_code)
        unsubscribe = sign(settings.secret_key, purpose=UNSUBSCRIBE_PURPOSE, expires_at=until,
                           data={"l": huge, "c": "email"})
        for method in ("GET", "POST"):
            assert (await client.request(method, f"/u/{unsubscribe}")).status_code == 400
        app = sign(settings.secret_key, purpose="app", expires_at=until, data={"l": huge})
        response = await client.get("/api/v1/app/messages",
                                    headers={"Authorization": f"Bearer {app}"})
        assert response.status_code == 401, (huge, response.text)


async def test_ids_beyond_the_databases_integers_in_paths_are_a_422(
        client: httpx.AsyncClient) -> None:
    for huge in HUGE:
        for method, path in (("GET", f"/sandbox/phone/{huge}"),
                             ("POST", f"/sandbox/phone/{huge}")):
            response = await client.request(method, path, data={"body": "B"})
            assert response.status_code == 422, (path, response.status_code)
