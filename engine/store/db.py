"""Engines and sessions for the two supported backends.

SQLite (the embedded default) is tuned for a web process and several workers
sharing one file: WAL lets readers run while one writer writes, and
``busy_timeout`` makes a second writer wait instead of failing at once.
PostgreSQL is the scale-out backend (many worker machines).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.settings import Settings
from engine.store import sqlite_driver

SQLITE_BUSY_TIMEOUT_MS = 5000
#: A pooled PostgreSQL connection idle for longer than this is pinged before it is handed out.
PING_IDLE_SECONDS = 2.0


def create_engine(settings: Settings | str, **engine_kwargs: Any) -> AsyncEngine:
    """Build the async engine for ``settings`` (or a URL), creating the SQLite folder."""
    url = make_url(settings if isinstance(settings, str) else settings.resolved_database_url)
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(
            url.render_as_string(hide_password=False), url.database, engine_kwargs
        )
    if url.get_backend_name() == "postgresql":
        options: dict[str, Any] = {"pool_recycle": 1800}
        if "poolclass" not in engine_kwargs:
            # Per process: the web app and each worker hold at most 20 connections.
            options.update(pool_size=10, max_overflow=10)
        options.update(engine_kwargs)
        engine = create_async_engine(url, **options)
        if not options.get("pool_pre_ping"):
            event.listen(engine.sync_engine, "connect", _note_checkin)
            event.listen(engine.sync_engine, "checkin", _note_checkin)
            event.listen(engine.sync_engine, "checkout", _ping_if_idle)
        return engine
    raise ValueError(f"unsupported database backend: {url.get_backend_name()!r}")


def _note_checkin(dbapi_connection: Any, connection_record: Any) -> None:
    """When the connection was last known good (connected, or handed back after use)."""
    connection_record.info["ancrage_checked_in"] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, connection_record: Any, connection_proxy: Any) -> None:
    """``pool_pre_ping``, for connections that sat idle: a dead one is replaced before use.

    SQLAlchemy's pre-ping costs three round trips (BEGIN, ``;``, ROLLBACK) on
    every checkout, a third of a send wave's; a connection checked in a moment
    ago (a busy worker checks out dozens a second) is not pinged again. One that
    dies while busy fails its statement, SQLAlchemy then invalidates the pool,
    and the job's guarantees hold (a send job that fails leaves its deliveries
    ``queued`` or ``sending``, to be re-queued or recovered).
    """
    idle = time.monotonic() - connection_record.info.get("ancrage_checked_in", 0.0)
    if idle < PING_IDLE_SECONDS:
        return
    try:
        dbapi_connection.ping()
    except Exception as exc:  # the pool discards this connection and connects anew
        raise DisconnectionError(f"pooled connection failed its ping: {type(exc).__name__}") from exc


def _sqlite_engine(url: str, database: str | None, engine_kwargs: dict[str, Any]) -> AsyncEngine:
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    options: dict[str, Any] = {"connect_args": {"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
                               "module": sqlite_driver.dbapi()}
    options.update(engine_kwargs)
    engine = create_async_engine(url, **options)
    event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded attributes after commit (no lazy reload in async code)."""
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


def is_postgres(engine: AsyncEngine) -> bool:
    """Whether row locking (``FOR UPDATE SKIP LOCKED``) is available."""
    return engine.dialect.name == "postgresql"
