"""Enrolment actions, time-zone moves and the trainers' inbox through the API."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.store.models import Delivery, Ticket, TicketMessage
from tests.support.seed import Seed
from tests.support.web_support import NOW
from webhooks.deps import create_api_key


async def _key(maker: async_sessionmaker[AsyncSession]) -> dict[str, str]:
    async with maker() as session:
        key = await create_api_key(session, "tests")
        await session.commit()
    return {"X-Api-Key": key}


async def test_pause_resume_stop(client: httpx.AsyncClient, seed: Seed,
                                 session_maker: async_sessionmaker[AsyncSession]) -> None:
    headers = await _key(session_maker)
    enrollment = await seed.enrollment()
    planned = await seed.delivery(enrollment=enrollment, status="planned", channel=None, sent_at=None,
                                  due_at=NOW + timedelta(days=1))
    url = f"/api/v1/enrollments/{enrollment.id}/actions"
    assert (await client.post(url, json={"action": "pause"})).status_code == 401
    paused = await client.post(url, json={"action": "pause"}, headers=headers)
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    resumed = await client.post(url, json={"action": "resume"}, headers=headers)
    assert resumed.json()["status"] == "active"
    stopped = await client.post(url, json={"action": "stop", "reason": "left the company"}, headers=headers)
    assert stopped.json() == {"id": enrollment.id, "status": "stopped", "changed": 1}
    async with session_maker() as session:
        row = await session.get(Delivery, planned.id)
        assert row is not None and row.status == "cancelled" and "left the company" in (row.status_reason or "")
    bad = await client.post(url, json={"action": "explode"}, headers=headers)
    assert bad.status_code == 422
    missing = await client.post("/api/v1/enrollments/999999/actions", json={"action": "pause"}, headers=headers)
    assert missing.status_code == 404


async def test_timezone_validation(client: httpx.AsyncClient, seed: Seed,
                                   session_maker: async_sessionmaker[AsyncSession]) -> None:
    headers = await _key(session_maker)
    learner = await seed.learner()
    bad = await client.put(f"/api/v1/learners/{learner.id}/timezone", json={"timezone": "Mars/Olympus"},
                           headers=headers)
    assert bad.status_code == 422 and "unknown time zone" in bad.text


async def test_inbox_overdue_and_answer(client: httpx.AsyncClient, seed: Seed,
                                        session_maker: async_sessionmaker[AsyncSession]) -> None:
    headers = await _key(session_maker)
    enrollment = await seed.enrollment()
    late = await seed.save(Ticket(learner_id=enrollment.learner_id, body="Où est mon attestation ?",
                                  created_at=NOW - timedelta(hours=50), due_by=NOW - timedelta(hours=2)))
    fresh = await seed.save(Ticket(learner_id=enrollment.learner_id, body="Merci !",
                                   created_at=NOW - timedelta(hours=1), due_by=NOW + timedelta(hours=47)))
    listing = (await client.get("/api/v1/tickets", headers=headers)).json()
    assert [(t["id"], t["overdue"]) for t in listing] == [(late.id, True), (fresh.id, False)]
    answer = await client.post(f"/api/v1/tickets/{late.id}/answer",
                               json={"text": "Elle part ce soir par e-mail.", "close": False}, headers=headers)
    assert answer.status_code == 200
    body = answer.json()
    assert body["status"] == "answered" and body["first_response_at"] is not None and not body["overdue"]
    async with session_maker() as session:
        messages = (await session.exec(select(TicketMessage))).all()
        sends = (await session.exec(select(Delivery).where(Delivery.step_id == "ticket"))).all()
    assert [m.author for m in messages] == ["trainer"]
    assert len(sends) == 1 and sends[0].rendered == {"body": "Elle part ce soir par e-mail."}
    remaining = (await client.get("/api/v1/tickets", headers=headers)).json()
    assert [t["id"] for t in remaining] == [fresh.id]


async def test_answer_is_idempotent(client: httpx.AsyncClient, seed: Seed,
                                    session_maker: async_sessionmaker[AsyncSession]) -> None:
    headers = await _key(session_maker)
    enrollment = await seed.enrollment()
    ticket = await seed.save(Ticket(learner_id=enrollment.learner_id, body="Une question",
                                    created_at=NOW - timedelta(hours=1), due_by=NOW + timedelta(hours=47)))
    url = f"/api/v1/tickets/{ticket.id}/answer"
    keyed = {**headers, "Idempotency-Key": "answer-7f3a"}
    first = await client.post(url, json={"text": "Voici la réponse."}, headers=keyed)
    again = await client.post(url, json={"text": "Voici la réponse."}, headers=keyed)
    retyped = await client.post(url, json={"text": "Voici la réponse."}, headers=headers)  # no key: derived
    other = await client.post(url, json={"text": "Et un complément."}, headers=headers)
    same_other = await client.post(url, json={"text": "Et un  complément. "}, headers=headers)
    bad_key = await client.post(url, json={"text": "x"}, headers={**headers, "Idempotency-Key": "k" * 129})
    assert [r.status_code for r in (first, again, retyped, other, same_other)] == [200] * 5
    assert "idempotent-replayed" not in first.headers and again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in retyped.headers  # a key, then no key: two requests the client tells apart
    assert same_other.headers["idempotent-replayed"] == "true"
    assert bad_key.status_code == 422
    async with session_maker() as session:
        answers = (await session.exec(select(TicketMessage).order_by(TicketMessage.id))).all()  # type: ignore[arg-type]
        sends = (await session.exec(select(Delivery).where(Delivery.step_id == "ticket"))).all()
    assert [m.body for m in answers] == ["Voici la réponse.", "Voici la réponse.", "Et un complément."]
    assert sorted(d.occurrence for d in sends) == sorted(m.id for m in answers)
