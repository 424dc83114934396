"""The PostgreSQL pool pings only connections that sat idle, and replaces a dead one."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from engine.store import db


@pytest.fixture
def pg_url(pg_database_url: str) -> str:
    return pg_database_url


async def _backend_pid(engine: db.AsyncEngine) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def test_a_connection_killed_while_idle_is_replaced(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db, "PING_IDLE_SECONDS", 0.2)
    engine = db.create_engine(pg_url)
    try:
        first = await _backend_pid(engine)
        assert await _backend_pid(engine) == first  # reused from the pool
        admin = await asyncpg.connect(make_url(pg_url).set(drivername="postgresql").render_as_string(False))
        try:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", first)
        finally:
            await admin.close()
        await asyncio.sleep(0.3)  # idle past the threshold: pinged, found dead, replaced
        assert await _backend_pid(engine) != first
    finally:
        await engine.dispose()


async def test_a_busy_connection_is_not_pinged(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection

    pings: list[int] = []
    original = AsyncAdapt_asyncpg_connection.ping
    monkeypatch.setattr(AsyncAdapt_asyncpg_connection, "ping", lambda self: pings.append(1) or original(self))
    monkeypatch.setattr(db, "PING_IDLE_SECONDS", 60.0)
    engine = db.create_engine(pg_url)
    try:
        for _ in range(5):
            await _backend_pid(engine)
        assert pings == []
        monkeypatch.setattr(db, "PING_IDLE_SECONDS", 0.0)  # idle for any time at all: pinged
        await _backend_pid(engine)
        assert pings == [1]
    finally:
        await engine.dispose()
