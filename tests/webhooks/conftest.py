"""Web app fixtures: an app on the shared store (sqlite + PostgreSQL) with an in-memory
enqueue, an httpx client and a seeder. Tests import helpers from ``tests.support.web_support``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.services.bootstrap import build_runtime, close_runtime
from engine.services.runtime import Runtime
from engine.settings import Settings
from tests.support.seed import SENT_QUIZ, Seed
from tests.support.web_support import NOW, Recorder, make_settings
from webhooks.app import create_app


@pytest.fixture
def settings(store_url: str, tmp_path: Path) -> Settings:
    return make_settings(store_url, tmp_path)


@pytest.fixture
async def rt(settings: Settings) -> AsyncIterator[Runtime]:
    runtime = await build_runtime(settings)
    runtime.clock = lambda: NOW
    try:
        yield runtime
    finally:
        await close_runtime(runtime)


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def app(settings: Settings, rt: Runtime, recorder: Recorder) -> AsyncIterator[FastAPI]:
    application = create_app(settings, runtime=rt, enqueue=recorder)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
def seed(session_maker: async_sessionmaker[AsyncSession]) -> Seed:
    return Seed(session_maker, SENT_QUIZ)
