"""A learner's reply end to end: the quiz reaches the fake Twilio through the real twilio client,
a Twilio-signed "b)" is posted to the running app (uvicorn on loopback), a real arq worker
processes it, the feedback SMS goes out, the item's next review moves, and progress shows it.
Runs on SQLite + a private Redis and on PostgreSQL + the Redis at 127.0.0.1:6379."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import uvicorn
from arq.connections import RedisSettings, create_pool
from arq.worker import Worker
from sqlmodel import select
from twilio.request_validator import RequestValidator

from engine.channels.registry import build_channels
from engine.fakes.fake_twilio import FakeTwilio
from engine.fakes.server import run_in_thread
from engine.jobs import batch_enqueuer, queue_name
from engine.redis_server import PrivateRedis
from engine.services.bootstrap import close_runtime
from engine.services.scheduler import claim_batches
from engine.store.models import Delivery, Prompt, Reply, ReviewCard
from engine.worker import process_inbound_job, send_batch_job
from tests.support.engine_harness import Engine, add_session, make_engine, write_campaign
from tests.support.overlap import overlap_campaign
from webhooks.app import create_app
from webhooks.deps import create_api_key
from webhooks.queue import arq_enqueue

PARIS = ZoneInfo("Europe/Paris")
SESSION_END = datetime(2026, 3, 24, 17, 0, tzinfo=PARIS)  # a Tuesday
PHONE = "+33612345678"
CAMPAIGN = """
campaign: reply-e2e
title: Reply e2e
defaults: {channels: [sms], window: {from: "09:00", to: "19:00"}}
steps:
  - id: quiz
    at: +1d 10:00
    quiz: management/quiz-sbi
    ask: 2
  - id: revisions
    review: management/quiz-sbi
    from: +8d
    until: +60d
"""


@pytest.fixture
def fake_twilio() -> Iterator[tuple[FakeTwilio, str]]:
    fake = FakeTwilio(send_callbacks=False)
    with run_in_thread(fake.app) as url:
        yield fake, url


@pytest.fixture
def redis_url(store_url: str, tmp_path: Path) -> Iterator[str]:
    """PostgreSQL runs with the shared Redis, SQLite with the embedded one (as deployed)."""
    if store_url.startswith("postgresql"):
        yield "redis://127.0.0.1:6379/0"
        return
    with PrivateRedis(tmp_path / "redis") as private:
        yield private.url


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def _serve(app: Any, port: int) -> AsyncIterator[str]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def _engine(store_url: str, tmp_path: Path, twilio_url: str, public_url: str, redis_url: str,
                  prefix: str, campaign: str = CAMPAIGN) -> Engine:
    channels = build_channels({"mode": "live", "twilio": {
        "account_sid": FakeTwilio.account_sid, "auth_token": FakeTwilio.auth_token,
        "from_number": "+33700000000", "api_base": twilio_url}})
    folder = tmp_path / "campaigns"
    write_campaign(folder, campaign)
    engine = await make_engine(store_url, tmp_path, folder, start=SESSION_END, channels=dict(channels),
                               twilio_auth_token=FakeTwilio.auth_token, redis_url=redis_url,
                               redis_prefix=prefix)
    engine.rt.settings = engine.rt.settings.model_copy(update={"public_url": public_url})
    name = campaign.split("campaign:", 1)[1].split()[0]
    await add_session(engine, title="Manager coach", ends_at=SESSION_END, campaigns=[name],
                      learners=[{"first_name": "Camille", "last_name": "Martin", "phone": PHONE}])
    return engine


def _signed(public_url: str, body: str) -> tuple[dict[str, str], str]:
    """A learner's inbound SMS as Twilio posts it, and its signature for the public URL."""
    form = {"MessageSid": "SM" + secrets.token_hex(16), "AccountSid": FakeTwilio.account_sid,
            "From": PHONE, "To": "+33700000000", "Body": body, "NumMedia": "0"}
    return form, RequestValidator(FakeTwilio.auth_token).compute_signature(f"{public_url}/webhooks/twilio/sms", form)


async def _drain(engine: Engine, redis_url: str, prefix: str,
                 functions: tuple[Any, ...] = (process_inbound_job, send_batch_job)) -> None:
    """Runs a real arq worker (burst) on this test's queue with the test's runtime and clock."""
    settings = engine.rt.settings
    pool = await create_pool(RedisSettings.from_dsn(redis_url))

    enqueue = batch_enqueuer(pool, settings)

    async def startup(ctx: dict[str, Any]) -> None:
        ctx.update(rt=engine.rt, enqueue=enqueue)

    worker = Worker(functions=list(functions), on_startup=startup, burst=True,
                    redis_settings=RedisSettings.from_dsn(redis_url), queue_name=queue_name(settings),
                    poll_delay=0.05, handle_signals=False, keep_result=0)
    try:
        await worker.main()
    finally:
        await worker.close()
        await pool.aclose()


async def _cleanup(redis_url: str, prefix: str) -> None:
    pool = await create_pool(RedisSettings.from_dsn(redis_url))
    try:
        keys = [key async for key in pool.scan_iter(match=f"*{prefix}*")]
        if keys:
            await pool.delete(*keys)
    finally:
        await pool.aclose()


async def test_signed_reply_is_graded_fed_back_and_moves_the_review(
        store_url: str, tmp_path: Path, fake_twilio: tuple[FakeTwilio, str], redis_url: str) -> None:
    fake, twilio_url = fake_twilio
    prefix = f"test-reply-{uuid.uuid4().hex[:8]}"
    port = _free_port()
    public_url = f"https://ancrage.example.org:{port}"  # behind a TLS proxy: signed for this URL
    engine = await _engine(store_url, tmp_path, twilio_url, public_url, redis_url, prefix)
    try:
        await engine.run_until(datetime(2026, 3, 25, 10, 0, tzinfo=PARIS), step=timedelta(hours=1))
        quiz = [m for m in fake.messages if m["to"] == PHONE]
        assert len(quiz) == 1 and quiz[0]["body"].startswith("Quiz 1/2 : ")
        first_item_text = quiz[0]["body"]

        pool = await create_pool(RedisSettings.from_dsn(redis_url))
        app = create_app(engine.rt.settings, runtime=engine.rt, enqueue=arq_enqueue(pool, engine.rt.settings))
        async with _serve(app, port) as local_url, httpx.AsyncClient() as client:
            form, signature = _signed(public_url, "b)")
            for _ in range(3):  # Twilio retries: the same message three times is one reply
                response = await client.post(f"{local_url}/webhooks/twilio/sms", data=form,
                                             headers={"X-Twilio-Signature": signature})
                assert response.status_code == 200
            forged = await client.post(f"{local_url}/webhooks/twilio/sms", data={**form, "Body": "C"},
                                       headers={"X-Twilio-Signature": "forged"})
            assert forged.status_code == 403
            engine.clock.advance(minutes=1)
            await _drain(engine, redis_url, prefix)
            await claim_batches(engine.rt, now=engine.clock.now, enqueue=_direct_send(engine))

            feedback = [m for m in fake.messages if m["to"] == PHONE][1:]
            assert len(feedback) == 1, [m["body"] for m in fake.messages]
            body = feedback[0]["body"]
            assert body.startswith(("Bravo", "Pas tout à fait")) and "Répondez A, B" in body
            assert body.split("\n\n", 1)[1] != first_item_text

            async with engine.rt.sessions() as session, session.begin():
                replies = (await session.exec(select(Reply))).all()
                cards = (await session.exec(select(ReviewCard))).all()
                key = await create_api_key(session, "test")
            assert len(replies) == 1 and replies[0].raw_text == "b)" and replies[0].correct is not None
            assert len(cards) == 1 and cards[0].due_at >= engine.clock.now + timedelta(days=1)

            progress = await client.get(f"{local_url}/api/v1/learners/{replies[0].learner_id}/progress",
                                        headers={"X-Api-Key": key})
            assert progress.status_code == 200
            data = progress.json()
            assert data["quiz"]["answered"] == 1
            assert data["quiz"]["accuracy"] in (0.0, 1.0)
        await pool.aclose()
    finally:
        await _cleanup(redis_url, prefix)
        await close_runtime(engine.rt)


async def test_the_reply_job_sends_its_feedback_itself(
        store_url: str, tmp_path: Path, fake_twilio: tuple[FakeTwilio, str], redis_url: str) -> None:
    """The feedback goes out from the reply's own job (no send job queued behind other replies):
    a worker that runs reply jobs only has sent it when its job ends, and nothing is left queued."""
    fake, twilio_url = fake_twilio
    prefix = f"test-inline-{uuid.uuid4().hex[:8]}"
    port = _free_port()
    public_url = f"https://ancrage.example.org:{port}"
    engine = await _engine(store_url, tmp_path, twilio_url, public_url, redis_url, prefix)
    pool = await create_pool(RedisSettings.from_dsn(redis_url))
    try:
        await engine.run_until(datetime(2026, 3, 25, 10, 0, tzinfo=PARIS), step=timedelta(hours=1))
        assert len([m for m in fake.messages if m["to"] == PHONE]) == 1
        app = create_app(engine.rt.settings, runtime=engine.rt, enqueue=arq_enqueue(pool, engine.rt.settings))
        async with _serve(app, port) as local_url, httpx.AsyncClient() as client:
            form, signature = _signed(public_url, "a")
            response = await client.post(f"{local_url}/webhooks/twilio/sms", data=form,
                                         headers={"X-Twilio-Signature": signature})
            assert response.status_code == 200
        engine.clock.advance(minutes=1)
        await _drain(engine, redis_url, prefix, functions=(process_inbound_job,))

        feedback = [m["body"] for m in fake.messages if m["to"] == PHONE][1:]
        assert len(feedback) == 1 and feedback[0].startswith(("Bravo", "Pas tout à fait")), feedback
        assert await pool.zcard(queue_name(engine.rt.settings)) == 0  # no send job was queued
        async with engine.rt.sessions() as session:
            rows = (await session.exec(select(Delivery).where(Delivery.origin == "feedback"))).all()
        assert [(row.status, row.attempts) for row in rows] == [("sent", 1)]
    finally:
        await pool.aclose()
        await _cleanup(redis_url, prefix)
        await close_runtime(engine.rt)


def _direct_send(engine: Engine):  # type: ignore[no-untyped-def]
    from engine.services.dispatch import send_batch

    async def enqueue(key: str, ids: list[int]) -> bool:
        await send_batch(engine.rt, ids)
        return True

    return enqueue


OVERLAP_CAMPAIGN = overlap_campaign("overlap-e2e")


async def test_the_reported_scenario_end_to_end_loses_no_answer(
        store_url: str, tmp_path: Path, fake_twilio: tuple[FakeTwilio, str], redis_url: str) -> None:
    """Quiz Q3 answered "zut" (clarification), a review due an hour later waits, the learner's
    last letter is graded for the quiz: signed webhooks into the running app, a real arq worker."""
    fake, twilio_url = fake_twilio
    prefix = f"test-overlap-{uuid.uuid4().hex[:8]}"
    port = _free_port()
    public_url = f"https://ancrage.example.org:{port}"
    engine = await _engine(store_url, tmp_path, twilio_url, public_url, redis_url, prefix, OVERLAP_CAMPAIGN)
    settings = engine.rt.settings
    pool = await create_pool(RedisSettings.from_dsn(redis_url))

    through_worker = batch_enqueuer(pool, settings)

    def to_learner() -> list[str]:
        return [m["body"] for m in fake.messages if m["to"] == PHONE]

    try:
        await engine.run_until(datetime(2026, 3, 25, 10, 0, tzinfo=PARIS), step=timedelta(hours=1))
        app = create_app(settings, runtime=engine.rt, enqueue=arq_enqueue(pool, settings))
        async with _serve(app, port) as local_url, httpx.AsyncClient() as client:

            async def reply(body: str) -> None:
                form, signature = _signed(public_url, body)
                response = await client.post(f"{local_url}/webhooks/twilio/sms", data=form,
                                             headers={"X-Twilio-Signature": signature})
                assert response.status_code == 200
                engine.clock.advance(minutes=1)
                await _drain(engine, redis_url, prefix)  # the worker processes the reply
                await claim_batches(engine.rt, now=engine.clock.now, enqueue=through_worker)
                await _drain(engine, redis_url, prefix)  # and sends what it queued

            await reply("A")
            await reply("B")
            assert len(to_learner()) == 3 and "\n\n" in to_learner()[-1]
            await engine.run_until(datetime(2026, 3, 25, 14, 0, tzinfo=PARIS), step=timedelta(hours=1))
            await reply("zut")
            assert to_learner()[-1].startswith("Je n'ai pas bien compris")

            await engine.run_until(datetime(2026, 3, 25, 15, 30, tzinfo=PARIS), step=timedelta(minutes=30))
            assert not any(body.startswith("Révision") for body in to_learner())
            async with engine.rt.sessions() as session:
                [q3] = (await session.exec(select(Prompt).where(Prompt.status == "open"))).all()
                waiting = (await session.exec(select(Delivery).where(Delivery.step_id == "revisions"))).all()
            assert q3.kind == "quiz" and q3.clarification_sent
            assert any("answering another question" in (d.status_reason or "") for d in waiting)

            letter = "ABCDEF"[len(q3.expectation["choices"]) - 1]  # "D" when the item has four choices
            await reply(letter)
            assert to_learner()[-1].startswith(("Bravo", "Pas tout à fait"))
            await engine.run_until(datetime(2026, 3, 25, 18, 0, tzinfo=PARIS), step=timedelta(minutes=30))
            assert to_learner()[-1].startswith("Révision")
            async with engine.rt.sessions() as session:
                replies = (await session.exec(select(Reply).order_by(Reply.id))).all()  # type: ignore[arg-type]
                prompts = (await session.exec(select(Prompt))).all()
            assert [(r.raw_text, r.kind) for r in replies] == [("A", "quiz"), ("B", "quiz"), (letter, "quiz")]
            assert sorted(p.status for p in prompts if p.kind == "quiz") == ["answered"] * 3
            assert not any(p.status == "superseded" for p in prompts)
    finally:
        await pool.aclose()
        await _cleanup(redis_url, prefix)
        await close_runtime(engine.rt)
