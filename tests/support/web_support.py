"""Web app fixtures: the shared store fixtures (sqlite + PostgreSQL), an app on that
store with an in-memory enqueue, an httpx client and Twilio signing (the seeder: ``tests.support.seed``)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
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
from engine.store.models import InboundEvent
from tests.support.seed import NOW as NOW  # the web tests' "now", also imported from here
from tests.support.seed import Seed as Seed  # the one seeder (web defaults: seed.SENT_QUIZ)

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
