"""Integration API: API keys, idempotent sessions, all-or-nothing attendees, end, progress."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.core.spaced import new_state, record_answer
from engine.store.models import (
    Alert,
    Attendance,
    Learner,
    Reply,
    ReviewCard,
    Ticket,
    Trainer,
    TrainingSession,
)
from tests.support.seed import Seed
from tests.support.web_support import NOW
from webhooks.deps import create_api_key

SESSION = {"external_id": "LMS-42", "title": "Manager coach — session 3",
           "starts_at": "2025-03-03T09:00:00", "ends_at": "2025-03-05T17:00:00",
           "timezone": "Europe/Paris", "location": "Lyon", "campaigns": ["suivi-standard"]}


@pytest.fixture
async def key(session_maker: async_sessionmaker[AsyncSession]) -> dict[str, str]:
    async with session_maker() as session:
        plaintext = await create_api_key(session, "LMS")
        await session.commit()
    return {"X-Api-Key": plaintext}


async def make_session(client: httpx.AsyncClient, key: dict[str, str], **changes: object) -> int:
    response = await client.post("/api/v1/sessions", json={**SESSION, **changes}, headers=key)
    assert response.status_code in (200, 201), response.text
    return int(response.json()["id"])


async def test_an_api_key_is_required(client: httpx.AsyncClient,
                                      session_maker: async_sessionmaker[AsyncSession]) -> None:
    for headers in ({}, {"X-Api-Key": "anc_wrong"}):
        for method, path in (("POST", "/api/v1/sessions"), ("GET", "/api/v1/sessions/1"),
                             ("GET", "/api/v1/learners/1/progress")):
            response = await client.request(method, path, json=SESSION, headers=headers)
            assert response.status_code == 401, (method, path, headers)
    async with session_maker() as session:
        assert (await session.exec(select(func.count()).select_from(TrainingSession))).one() == 0


async def test_sessions_are_idempotent_on_external_id(
        client: httpx.AsyncClient, key: dict[str, str]) -> None:
    first = await client.post("/api/v1/sessions", json=SESSION, headers=key)
    again = await client.post("/api/v1/sessions", json={**SESSION, "title": "Renamed"},
                              headers=key)
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    body = again.json()
    assert body["title"] == "Renamed" and body["campaigns"] == ["suivi-standard"]
    assert body["ends_at"].startswith("2025-03-05T16:00:00")  # 17:00 Paris, stored in UTC
    fetched = await client.get(f"/api/v1/sessions/{body['id']}", headers=key)
    assert fetched.json()["attendees"] == 0
    unknown = await client.post("/api/v1/sessions", headers=key,
                                json={**SESSION, "external_id": "x", "campaigns": ["nope"]})
    assert unknown.status_code == 422 and "nope" in unknown.json()["detail"][0]["msg"]
    backwards = await client.post("/api/v1/sessions", headers=key,
                                  json={**SESSION, "ends_at": "2025-03-01T00:00:00"})
    assert backwards.status_code == 422
    assert (await client.get("/api/v1/sessions/999", headers=key)).status_code == 404


async def test_attendees_are_all_or_nothing_with_row_errors(
        client: httpx.AsyncClient, key: dict[str, str],
        session_maker: async_sessionmaker[AsyncSession]) -> None:
    session_id = await make_session(client, key)
    rows = [
        {"first_name": "Léa", "last_name": "Petit", "phone": "06 12 34 56 78"},
        {"first_name": "Hugo", "last_name": "Roux", "phone": "12"},
        {"first_name": "", "last_name": "Blanc", "email": "blanc@example.org"},
        {"first_name": "Inès", "last_name": "Morel", "phone": "+33 6 12 34 56 78"},
        {"first_name": "Noé", "last_name": "Faure", "email": "pas-un-email",
         "timezone": "Mars/Olympus"},
    ]
    response = await client.post(f"/api/v1/sessions/{session_id}/attendees", json=rows,
                                 headers=key)
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert {(e["row"], e["field"]) for e in errors} == {
        (2, "phone"), (3, "first_name"), (4, "phone"), (5, "email"), (5, "timezone")}
    assert "already on row 1" in next(e["message"] for e in errors if e["row"] == 4)
    async with session_maker() as session:
        assert (await session.exec(select(func.count()).select_from(Learner))).one() == 0
    good = [rows[0], {"first_name": "Hugo", "last_name": "Roux", "email": "hugo@example.org",
                      "manager_email": "chef@example.org", "locale": "en"}]
    ok = await client.post(f"/api/v1/sessions/{session_id}/attendees", json=good, headers=key)
    assert ok.status_code == 200, ok.text
    assert [a["created"] for a in ok.json()["attendees"]] == [True, True]
    again = await client.post(f"/api/v1/sessions/{session_id}/attendees", json=good[:1],
                              headers=key)
    assert again.json()["attendees"][0]["created"] is False
    assert again.json()["total_attendees"] == 2
    async with session_maker() as session:
        phones = (await session.exec(select(Learner.phone).order_by(Learner.id))).all()
        assert phones == ["+33612345678", None]
        assert (await session.exec(select(func.count()).select_from(Attendance))).one() == 2


async def test_end_moves_the_end_to_now_and_leaves_enrolment_to_the_tick(
        client: httpx.AsyncClient, key: dict[str, str]) -> None:
    session_id = await make_session(client, key, starts_at="2025-03-04T08:00:00+00:00",
                                     ends_at="2025-03-06T17:00:00+00:00")
    ended = await client.post(f"/api/v1/sessions/{session_id}/end", headers=key)
    assert ended.status_code == 200
    assert ended.json()["ends_at"].startswith(NOW.strftime("%Y-%m-%dT%H:%M"))
    assert ended.json()["ended_processed_at"] is None


async def test_trainer_keys_see_only_their_sessions(
        client: httpx.AsyncClient, key: dict[str, str],
        session_maker: async_sessionmaker[AsyncSession]) -> None:
    session_id = await make_session(client, key)
    async with session_maker() as session:
        trainer = Trainer(name="Anne", email="anne@example.org", password_hash="x")
        session.add(trainer)
        session.add(Trainer(name="Bruno", email="someone-else@example.org", password_hash="x"))
        await session.flush()
        theirs = {"X-Api-Key": await create_api_key(session, "Anne", trainer_id=trainer.id)}
        await session.commit()
    assert (await client.get(f"/api/v1/sessions/{session_id}", headers=theirs)).status_code == 404
    own = await client.post("/api/v1/sessions", headers=theirs,
                            json={**SESSION, "external_id": "ANNE-1"})
    assert own.status_code == 201 and own.json()["trainer_id"] == trainer.id
    # The organisation's LMS-42 is unknown to Anne's key: her own LMS-42 is a new session,
    # exactly as for an id nobody uses (no "belongs to another trainer" oracle).
    hers = await client.post("/api/v1/sessions", headers=theirs, json=SESSION)
    assert hers.status_code == 201 and hers.json()["id"] != session_id
    assert hers.json()["trainer_id"] == trainer.id
    again = await client.post("/api/v1/sessions", headers=theirs, json=SESSION)
    assert again.status_code == 200 and again.json()["id"] == hers.json()["id"]
    mine = await client.post("/api/v1/sessions", headers=key, json=SESSION)
    assert mine.status_code == 200 and mine.json()["id"] == session_id
    for email in ("someone-else@example.org", "nobody@example.org"):
        other = await client.post("/api/v1/sessions", headers=theirs,
                                  json={**SESSION, "trainer_email": email})
        assert other.status_code == 403  # the same whether that trainer exists or not


async def test_progress_shape(client: httpx.AsyncClient, key: dict[str, str], seed: Seed,
                              session_maker: async_sessionmaker[AsyncSession]) -> None:
    learner = await seed.learner()
    enrollment = await seed.enrollment(learner=learner)
    delivery = await seed.delivery(enrollment=enrollment, content_ref="management/quiz-sbi")
    await seed.delivery(enrollment=enrollment, status="planned", sent_at=None)
    prompt = await seed.prompt(delivery=delivery, kind="survey", question_ref="satisfaction#q1")
    state = record_answer(new_state("q1", now=NOW - timedelta(days=3)), correct=True,
                          at=NOW - timedelta(days=3), horizon_days=30)
    async with session_maker() as session:
        session.add_all([
            Reply(learner_id=learner.id, enrollment_id=enrollment.id, kind="quiz",
                  raw_text="B", value=1, correct=True),
            Reply(learner_id=learner.id, enrollment_id=enrollment.id, kind="quiz",
                  raw_text="A", value=0, correct=False),
            Reply(learner_id=learner.id, enrollment_id=enrollment.id, kind="survey",
                  prompt_id=prompt.id, raw_text="9", value=9),
            ReviewCard(learner_id=learner.id, bank_ref="management/quiz-sbi", item_id="q1",
                       state=state.to_dict(), due_at=state.due, retired=True),
            Ticket(learner_id=learner.id, body="Question ?", due_by=NOW + timedelta(days=2)),
            Alert(learner_id=learner.id, enrollment_id=enrollment.id, kind="at_risk",
                  reason="3 relances sans réponse"),
        ])
        await session.commit()
    by_learner = await client.get(f"/api/v1/learners/{learner.id}/progress", headers=key)
    by_enrollment = await client.get(f"/api/v1/enrollments/{enrollment.id}/progress",
                                     headers=key)
    assert by_learner.status_code == by_enrollment.status_code == 200
    body = by_enrollment.json()
    assert body["steps"] == {"sent": 1, "planned": 1} and body["steps_total"] == 2
    assert body["quiz"] == {"answered": 2, "correct": 1, "accuracy": 0.5}
    assert (body["items_total"], body["items_retired"]) == (1, 1)
    assert 0.0 < body["retention_now"] <= 1.0
    assert [(s["question_ref"], s["value"]) for s in body["satisfaction"]] == [
        ("satisfaction#q1", 9)]
    assert len(body["open_tickets"]) == 1 and body["alerts"][0]["kind"] == "at_risk"
    assert by_learner.json()["quiz"] == body["quiz"]
    for path in ("/api/v1/learners/999/progress", "/api/v1/enrollments/999/progress",
                 f"/api/v1/learners/{2**40}/progress"):
        assert (await client.get(path, headers=key)).status_code in (404, 422)
