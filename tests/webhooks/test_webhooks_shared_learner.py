"""A learner followed by two trainers: one record per trainer's roster, no takeover, no oracle.

Trainer B's key posting the phone, e-mail or external id of trainer A's learner
gets a new learner of its own (``created: true``, like any unknown number), A's
record is untouched, and B can neither read A's progress or tickets nor act on
A's enrolments. The CSV import matches exactly like the API.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.services.attendees import add_attendees
from engine.store.models import (
    Attendance,
    Enrollment,
    Learner,
    LearnerCreate,
    Ticket,
    Trainer,
    TrainingSession,
)
from engine.store.queries import find_learner_by_phone
from tests.support.seed import Seed
from tests.support.web_support import NOW
from webhooks.deps import create_api_key

SESSION = {"title": "Manager coach", "starts_at": "2025-03-03T09:00:00",
           "ends_at": "2025-03-05T17:00:00", "timezone": "Europe/Paris", "campaigns": []}
ANNE_ROW = {"first_name": "Camille", "last_name": "Martin", "phone": "06 12 34 56 78",
            "email": "camille@example.org", "external_id": "EMP-7"}


@dataclass
class Trainers:
    anne: dict[str, str]
    bruno: dict[str, str]
    anne_session: int
    bruno_session: int


@pytest.fixture
async def two(client: httpx.AsyncClient,
              session_maker: async_sessionmaker[AsyncSession]) -> Trainers:
    keys = []
    async with session_maker() as session:
        for name in ("anne", "bruno"):
            trainer = Trainer(name=name, email=f"{name}@example.org", password_hash="x")
            session.add(trainer)
            await session.flush()
            keys.append({"X-Api-Key": await create_api_key(session, name, trainer_id=trainer.id)})
        await session.commit()
    ids = []
    for key, external in zip(keys, ("A-1", "B-1"), strict=True):
        response = await client.post("/api/v1/sessions", headers=key,
                                     json={**SESSION, "external_id": external})
        assert response.status_code == 201, response.text
        ids.append(int(response.json()["id"]))
    return Trainers(keys[0], keys[1], ids[0], ids[1])


async def _post(client: httpx.AsyncClient, key: dict[str, str], session_id: int,
                rows: list[dict[str, str]]) -> list[dict[str, object]]:
    response = await client.post(f"/api/v1/sessions/{session_id}/attendees", headers=key,
                                 json=rows)
    assert response.status_code == 200, response.text
    attendees: list[dict[str, object]] = response.json()["attendees"]
    return attendees


@pytest.mark.parametrize("field", ["phone", "email", "external_id"])
async def test_another_trainers_key_never_matches_or_changes_a_learner(
        client: httpx.AsyncClient, two: Trainers, field: str,
        session_maker: async_sessionmaker[AsyncSession]) -> None:
    (anne_row,) = await _post(client, two.anne, two.anne_session, [ANNE_ROW])
    bruno_row = {"first_name": "Intrus", "last_name": "Bruno", "phone": "06 99 99 99 99",
                 "email": "bruno-side@example.org", field: ANNE_ROW[field]}
    (answer,) = await _post(client, two.bruno, two.bruno_session, [bruno_row])
    assert answer["created"] is True  # exactly what an unknown number gets: no oracle
    assert answer["learner_id"] != anne_row["learner_id"]
    async with session_maker() as session:
        anne = await session.get(Learner, anne_row["learner_id"])
        assert anne is not None
        assert (anne.first_name, anne.phone, anne.email, anne.external_id) == (
            "Camille", "+33612345678", "camille@example.org", "EMP-7")
        sessions = (await session.exec(select(Attendance.session_id).where(
            col(Attendance.learner_id) == anne.id))).all()
        assert list(sessions) == [two.anne_session]
    again = await _post(client, two.anne, two.anne_session, [{**ANNE_ROW, "first_name": "Cam"}])
    assert again == [{"row": 1, "learner_id": anne_row["learner_id"], "created": False}]


async def test_a_trainer_key_reads_and_acts_only_within_its_sessions(
        client: httpx.AsyncClient, two: Trainers, seed: Seed,
        session_maker: async_sessionmaker[AsyncSession]) -> None:
    (anne_row,) = await _post(client, two.anne, two.anne_session, [ANNE_ROW])
    learner_id = int(str(anne_row["learner_id"]))
    async with session_maker() as session:
        learner = await session.get(Learner, learner_id)
        assert learner is not None
    theirs = await seed.enrollment(learner=learner, session_id=two.anne_session)
    await seed.delivery(enrollment=theirs)
    ticket = await seed.save(Ticket(learner_id=learner_id, session_id=two.anne_session,
                                    body="Question", due_by=NOW))
    # The person also attends Bruno's session (a session moved between trainers, say).
    await seed.save(Attendance(session_id=two.bruno_session, learner_id=learner_id))
    mine = await seed.enrollment(learner=learner, session_id=two.bruno_session)

    progress = await client.get(f"/api/v1/learners/{learner_id}/progress", headers=two.bruno)
    assert progress.status_code == 200
    # Anne's delivery and the question asked in her session are not Bruno's to see.
    assert progress.json()["steps_total"] == 0 and progress.json()["open_tickets"] == []
    anne_view = (await client.get(f"/api/v1/learners/{learner_id}/progress",
                                  headers=two.anne)).json()
    assert anne_view["steps_total"] == 1 and len(anne_view["open_tickets"]) == 1
    for method, path, body in (
            ("GET", f"/api/v1/enrollments/{theirs.id}/progress", None),
            ("POST", f"/api/v1/enrollments/{theirs.id}/actions", {"action": "stop"}),
            ("POST", f"/api/v1/tickets/{ticket.id}/answer", {"text": "Bonjour"})):
        response = await client.request(method, path, json=body, headers=two.bruno)
        assert response.status_code == 404, (path, response.text)
    async with session_maker() as session:
        row = await session.get(Enrollment, theirs.id)
        assert row is not None and row.status == "active"
    paused = await client.post(f"/api/v1/enrollments/{mine.id}/actions", headers=two.bruno,
                               json={"action": "pause"})
    assert paused.status_code == 200 and paused.json()["status"] == "paused"


async def test_erased_learners_and_external_ids_match_alike_for_api_and_csv(
        session_maker: async_sessionmaker[AsyncSession]) -> None:
    def rows(email: str) -> list[LearnerCreate]:
        return [LearnerCreate(first_name="A", last_name="B", external_id="EMP-1", email=email),
                LearnerCreate(first_name="C", last_name="D", phone="+33611111111")]

    async with session_maker() as session:
        training = TrainingSession(title="S", starts_at=NOW, ends_at=NOW)
        session.add(training)
        await session.flush()
        first = await add_attendees(session, training=training, now=NOW,
                                    learners=rows("a@example.org"))
        erased = first[1].learner
        erased.erased_at = NOW
        session.add(erased)
        await session.flush()
        second = await add_attendees(session, training=training, now=NOW,
                                     learners=rows("new@example.org"))
        assert second[0].learner.id == first[0].learner.id and not second[0].created
        assert second[0].learner.email == "new@example.org"
        assert second[1].created and second[1].learner.id != erased.id
        await session.rollback()


async def test_a_shared_number_replies_to_the_record_with_the_open_question(
        seed: Seed, session_maker: async_sessionmaker[AsyncSession]) -> None:
    phone = "+33655555555"
    older = await seed.learner(phone=phone)
    newer = await seed.learner(phone=phone)
    async with session_maker() as session:
        found = await find_learner_by_phone(session, phone=phone)
        assert found is not None and found.id == newer.id  # nothing open: newest record
    older_enrolment = await seed.enrollment(learner=older)
    async with session_maker() as session:
        found = await find_learner_by_phone(session, phone=phone)
        assert found is not None and found.id == older.id  # the one enrolled most recently
    delivery = await seed.delivery(enrollment=await seed.enrollment(learner=newer), channel="sms")
    await seed.prompt(delivery=delivery, channel="sms")
    async with session_maker() as session:
        found = await find_learner_by_phone(session, phone=phone)
        assert found is not None and found.id == newer.id  # the open SMS question wins
        found = await find_learner_by_phone(session, phone=phone, channel="whatsapp")
        assert found is not None and found.id == newer.id  # enrolled last: newer again
    assert older_enrolment.id is not None


async def test_stop_from_a_shared_number_stops_every_record_of_it(
        seed: Seed, session_maker: async_sessionmaker[AsyncSession]) -> None:
    from engine.store.queries import record_opt_in, record_opt_out

    phone = "+33677777777"
    anne_side, bruno_side = await seed.learner(phone=phone), await seed.learner(phone=phone)
    other = await seed.learner(phone="+33688888888")
    async with session_maker() as session:
        assert await record_opt_out(session, learner_id=bruno_side.id or 0, channel="sms", at=NOW)
        await session.commit()
    async with session_maker() as session:
        rows = {row.id: row for row in (await session.exec(select(Learner))).all()}
        assert rows[anne_side.id].opted_out_sms_at is not None
        assert rows[bruno_side.id].opted_out_sms_at is not None
        assert rows[other.id].opted_out_sms_at is None
        assert await record_opt_in(session, learner_id=anne_side.id or 0, channel="sms", at=NOW)
        await session.commit()
    async with session_maker() as session:
        rows = {row.id: row for row in (await session.exec(select(Learner))).all()}
        assert rows[anne_side.id].opted_out_sms_at is None
        assert rows[bruno_side.id].opted_out_sms_at is None
