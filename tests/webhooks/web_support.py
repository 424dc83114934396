"""Web app fixtures: the shared store fixtures (sqlite + PostgreSQL), an app on that
store with an in-memory enqueue, an httpx client, a seeder and Twilio signing."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import uvicorn
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from twilio.request_validator import RequestValidator

from engine.settings import Settings
from engine.store.models import (
    CampaignVersion,
    Delivery,
    Enrollment,
    InboundEvent,
    Learner,
    Prompt,
)

NOW = datetime(2025, 3, 4, 9, 30, tzinfo=UTC)
PUBLIC_URL = "https://example.org"
AUTH_TOKEN = "twilio-test-auth-token"
SECRET = "test-secret-key"


class Recorder:
    """In-memory enqueue: what the app handed to the worker, in order."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []
        self.fail = False

    async def __call__(self, function: str, argument: int) -> None:
        if self.fail:
            raise ConnectionError("redis down")
        self.calls.append((function, argument))


def make_settings(store_url: str, tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "DATABASE_URL": store_url,
        "REDIS_URL": None,
        "data_dir": tmp_path,
        "public_url": PUBLIC_URL,
        "secret_key": SECRET,
        "twilio_auth_token": AUTH_TOKEN,
        "sandbox": True,
    }
    values.update(overrides)
    return Settings(**values)


def twilio_signature(url: str, params: dict[str, str], token: str = AUTH_TOKEN) -> str:
    return str(RequestValidator(token).compute_signature(url, params))


async def post_signed(
    client: httpx.AsyncClient,
    path: str,
    params: dict[str, str],
    *,
    signed_url: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """POST a form signed the way Twilio signs it: for the public URL of ``path``."""
    signature = twilio_signature(signed_url or PUBLIC_URL + path, params)
    return await client.post(
        path,
        content=urlencode(params).encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
            **(headers or {}),
        },
    )


def inbound_form(
    sid: str = "SM" + "a" * 32, sender: str = "+33612345678", body: str = "B"
) -> dict[str, str]:
    return {
        "MessageSid": sid,
        "AccountSid": "AC" + "0" * 32,
        "From": sender,
        "To": "+33700000000",
        "Body": body,
        "NumMedia": "0",
    }


async def inbound_events(maker: async_sessionmaker[AsyncSession]) -> list[InboundEvent]:
    async with maker() as session:
        return list((await session.exec(select(InboundEvent).order_by(col(InboundEvent.id)))).all())


class Seed:
    """Creates and commits rows with sensible defaults, so tests state only what matters."""

    def __init__(self, maker: async_sessionmaker[AsyncSession]) -> None:
        self.maker = maker
        self._counter = itertools.count(1)

    async def save(self, row: Any) -> Any:
        async with self.maker() as session:
            session.add(row)
            await session.commit()
            return row

    async def learner(self, **fields: Any) -> Learner:
        n = next(self._counter)
        values: dict[str, Any] = {
            "first_name": f"Camille{n}",
            "last_name": "Martin",
            "phone": f"+3361234{n:04d}",
            "email": f"c{n}@example.org",
        }
        values.update(fields)
        learner: Learner = await self.save(Learner(**values))
        return learner

    async def enrollment(self, *, learner: Learner | None = None, **fields: Any) -> Enrollment:
        learner = learner or await self.learner()
        n = next(self._counter)
        version = await self.save(
            CampaignVersion(
                name="suivi-standard",
                content_hash=hashlib.sha256(f"v{n}".encode()).hexdigest(),
                definition={"campaign": "suivi-standard", "steps": []},
            )
        )
        enrollment: Enrollment = await self.save(
            Enrollment(
                learner_id=learner.id,
                campaign_name=f"suivi-standard-{n}",
                campaign_version_id=version.id,
                anchor_at=NOW - timedelta(days=2),
                **fields,
            )
        )
        return enrollment

    async def delivery(self, *, enrollment: Enrollment, **fields: Any) -> Delivery:
        values: dict[str, Any] = {
            "enrollment_id": enrollment.id,
            "learner_id": enrollment.learner_id,
            "step_id": f"step-{next(self._counter)}",
            "kind": "quiz",
            "channels": ["email"],
            "due_at": NOW - timedelta(hours=1),
            "status": "sent",
            "channel": "email",
            "sent_at": NOW - timedelta(hours=1),
            "rendered": {
                "body": "Quiz : Quelle est la première étape du feedback SBI ?",
                "subject": "Quiz management",
            },
        }
        values.update(fields)
        delivery: Delivery = await self.save(Delivery(**values))
        return delivery

    async def prompt(self, *, delivery: Delivery, **fields: Any) -> Prompt:
        values: dict[str, Any] = {
            "delivery_id": delivery.id,
            "learner_id": delivery.learner_id,
            "enrollment_id": delivery.enrollment_id,
            "step_id": delivery.step_id,
            "channel": "email",
            "kind": "quiz",
            "question_ref": "management/quiz-sbi#q1",
            "expectation": {
                "kind": "choice",
                "choices": ["Situation", "Jugement", "Solution"],
                "values": [],
                "scale": None,
            },
            "opened_at": NOW - timedelta(hours=1),
            "expires_at": NOW + timedelta(days=3),
        }
        values.update(fields)
        prompt: Prompt = await self.save(Prompt(**values))
        return prompt


@contextlib.asynccontextmanager
async def served(app: Any, **config: Any) -> AsyncIterator[tuple[str, uvicorn.Server]]:
    """The app behind a real uvicorn server on a free loopback port (its lifespan not run)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, lifespan="off", **config))
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", server
    finally:
        server.should_exit = True
        await serving
        sock.close()
