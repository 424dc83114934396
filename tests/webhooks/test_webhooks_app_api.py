"""The learner app API: bearer tokens, devices, answers (idempotent), recent messages."""

from __future__ import annotations

from datetime import timedelta

import httpx
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.settings import Settings
from engine.store.models import PushToken
from tests.support.seed import Seed
from tests.support.web_support import NOW, Recorder, inbound_events
from webhooks.deps import issue_app_token


def bearer(settings: Settings, learner_id: int, **kwargs: object) -> dict[str, str]:
    return {"Authorization": f"Bearer {issue_app_token(settings, learner_id, NOW, **kwargs)}"}


async def test_requests_without_a_valid_token_are_401(
        client: httpx.AsyncClient, settings: Settings, seed: Seed) -> None:
    learner = await seed.learner()
    expired = issue_app_token(settings, learner.id, NOW - timedelta(days=365),
                              validity=timedelta(days=1))
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": f"Bearer {expired}"},
                    {"Authorization": "Basic abc"}, bearer(settings, 987654)):
        response = await client.get("/api/v1/app/messages", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["www-authenticate"] == "Bearer"


async def test_devices_register_and_unregister_and_are_never_claimed(
        client: httpx.AsyncClient, settings: Settings, seed: Seed,
        session_maker: async_sessionmaker[AsyncSession]) -> None:
    alice, bob = await seed.learner(), await seed.learner()
    body = {"token": "fcm-token-1", "platform": "android"}
    assert (await client.post("/api/v1/app/devices", json=body,
                              headers=bearer(settings, alice.id))).status_code == 201
    async with session_maker() as session:
        [row] = (await session.exec(select(PushToken))).all()
        row.disabled_at = NOW
        session.add(row)
        await session.commit()
    # Bob cannot take Alice's token over (nor re-enable it): her pushes stay hers.
    claimed = await client.post("/api/v1/app/devices", json=body, headers=bearer(settings, bob.id))
    assert claimed.status_code == 409
    async with session_maker() as session:
        [row] = (await session.exec(select(PushToken))).all()
        assert row.learner_id == alice.id and row.disabled_at is not None
    bad = await client.post("/api/v1/app/devices", json={"token": "x", "platform": "nokia"},
                            headers=bearer(settings, bob.id))
    assert bad.status_code == 422
    # Bob cannot remove Alice's token; once she signs out there, the device is free for him.
    assert (await client.delete("/api/v1/app/devices/fcm-token-1",
                                headers=bearer(settings, bob.id))).status_code == 204
    async with session_maker() as session:
        assert len((await session.exec(select(PushToken))).all()) == 1
    for _ in range(2):
        assert (await client.delete("/api/v1/app/devices/fcm-token-1",
                                    headers=bearer(settings, alice.id))).status_code == 204
    async with session_maker() as session:
        assert (await session.exec(select(PushToken))).all() == []
    assert (await client.post("/api/v1/app/devices", json=body,
                              headers=bearer(settings, bob.id))).status_code == 201


async def test_answers_are_stored_once_and_enqueued(
        client: httpx.AsyncClient, settings: Settings, seed: Seed, recorder: Recorder,
        session_maker: async_sessionmaker[AsyncSession]) -> None:
    learner = await seed.learner()
    delivery = await seed.delivery(enrollment=await seed.enrollment(learner=learner),
                                   channel="push")
    prompt = await seed.prompt(delivery=delivery, channel="push")
    headers = bearer(settings, learner.id)
    body = {"delivery_id": delivery.id, "text": "B"}
    first = await client.post("/api/v1/app/answers", json=body, headers=headers)
    retry = await client.post("/api/v1/app/answers", json=body, headers=headers)
    assert first.status_code == retry.status_code == 202
    assert first.json()["duplicate"] is False and retry.json()["duplicate"] is True
    keyed = {"text": "Comment faire un TCD ?"}
    k1 = await client.post("/api/v1/app/answers", json=keyed,
                           headers={**headers, "Idempotency-Key": "q-1"})
    k2 = await client.post("/api/v1/app/answers", json=keyed,
                           headers={**headers, "Idempotency-Key": "q-1"})
    assert k1.json()["event_id"] == k2.json()["event_id"]
    events = await inbound_events(session_maker)
    assert len(events) == 2
    answer, question = events
    assert (answer.provider, answer.channel, answer.sender, answer.body) == (
        "app", "push", f"learner:{learner.id}", "B")
    assert answer.raw == {"delivery_id": delivery.id, "prompt_id": prompt.id,
                          "question_ref": prompt.question_ref}
    assert question.raw == {"delivery_id": None}
    assert recorder.calls == [("process_inbound_job", answer.id),
                              ("process_inbound_job", question.id)]


async def test_answers_to_someone_elses_delivery_or_malformed_are_rejected(
        client: httpx.AsyncClient, settings: Settings, seed: Seed,
        session_maker: async_sessionmaker[AsyncSession]) -> None:
    alice, bob = await seed.learner(), await seed.learner()
    delivery = await seed.delivery(enrollment=await seed.enrollment(learner=alice))
    headers = bearer(settings, bob.id)
    assert (await client.post("/api/v1/app/answers", json={"delivery_id": delivery.id, "text": "A"},
                              headers=headers)).status_code == 404
    for body in ({"text": ""}, {"text": "x" * 2001}, {"text": "a\x00b"},
                 {"delivery_id": 2**40, "text": "A"}, {"texte": "A"}):
        assert (await client.post("/api/v1/app/answers", json=body,
                                   headers=headers)).status_code == 422, body
    assert await inbound_events(session_maker) == []


async def test_messages_lists_sent_deliveries_with_open_questions(
        client: httpx.AsyncClient, settings: Settings, seed: Seed) -> None:
    learner = await seed.learner()
    enrollment = await seed.enrollment(learner=learner)
    older = await seed.delivery(enrollment=enrollment, kind="lesson", status="delivered",
                                sent_at=NOW - timedelta(days=2),
                                rendered={"body": "Leçon 1", "title": "Écoute active"})
    newer = await seed.delivery(enrollment=enrollment, channel="push", status="read")
    await seed.prompt(delivery=newer, channel="push")
    await seed.delivery(enrollment=enrollment, status="planned", sent_at=None)
    response = await client.get("/api/v1/app/messages", headers=bearer(settings, learner.id))
    assert response.status_code == 200
    messages = response.json()
    assert [m["delivery_id"] for m in messages] == [newer.id, older.id]
    assert messages[0]["open_question"]["expectation"]["kind"] == "choice"
    assert messages[1]["title"] == "Écoute active" and messages[1]["open_question"] is None
