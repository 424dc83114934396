"""Database fixtures shared by every test that touches the store.

Every store test runs twice: on the embedded SQLite file and on a real
PostgreSQL (``ANCRAGE_TEST_PG_URL``, default ``postgresql://postgres@127.0.0.1:5432/postgres``,
used only to create and drop a private database). PostgreSQL tests fail loudly
when the server is unreachable; ``ANCRAGE_TEST_PG=0`` deselects them instead.

Usage: ``tests/conftest.py`` imports this module as ``tests.support.db_fixtures``
(the checkout is on the path, pytest's ``pythonpath``) and copies the names in
``__all__`` (fixtures and the deselection hook) into its globals. Never put
``tests/`` itself on ``sys.path``: ``tests/engine`` and ``tests/webhooks`` would
then shadow the real packages (the editable install's finder runs after the path
finder). Test modules are imported with ``--import-mode=importlib``, so two test
files may share a name.

Fixtures: ``store_url`` (a freshly migrated, empty database, parametrized over
``sqlite``/``pg``), ``store_engine``, ``session_maker``, ``session``, and
``empty_store_url`` (an unmigrated database, for migration tests).
The engine package is imported lazily, inside fixtures, so importing this
module from a root conftest costs unrelated tests nothing.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.pool import NullPool
from sqlmodel.ext.asyncio.session import AsyncSession

__all__ = [
    "BACKENDS",
    "empty_store_url",
    "pg_database_url",
    "postgres_enabled",
    "pytest_collection_modifyitems",
    "session",
    "session_maker",
    "sqlite_template",
    "store_engine",
    "store_url",
    "uses_postgres",
]

T = TypeVar("T")

PG_ADMIN_URL = os.environ.get(
    "ANCRAGE_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
BACKENDS = [pytest.param("sqlite", id="sqlite"), pytest.param("postgresql", id="pg")]
_BACKEND_FIXTURES = ("store_url", "empty_store_url")


def postgres_enabled() -> bool:
    """PostgreSQL runs unless ``ANCRAGE_TEST_PG=0`` says this machine has none."""
    return os.environ.get("ANCRAGE_TEST_PG", "1").strip().lower() not in {"0", "false", "no"}


def uses_postgres(item: pytest.Item) -> bool:
    """Whether ``item`` is the PostgreSQL variant of a backend-parametrized test."""
    params = getattr(getattr(item, "callspec", None), "params", {})
    return any(params.get(name) == "postgresql" for name in _BACKEND_FIXTURES)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect (not skip) PostgreSQL variants when ``ANCRAGE_TEST_PG=0``."""
    if postgres_enabled():
        return
    dropped = [item for item in items if uses_postgres(item)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if not uses_postgres(item)]


# --- engine-independent helpers ------------------------------------------------


def _database_name(suffix: str = "") -> str:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return f"ancrage_test_store_{worker}_{os.getpid()}{suffix}"


def _pg_url(database: str, *, driver: str = "postgresql+asyncpg") -> str:
    url = make_url(PG_ADMIN_URL).set(drivername=driver, database=database)
    return url.render_as_string(hide_password=False)


def _asyncpg_dsn(database: str) -> str:
    return _pg_url(database, driver="postgresql")


async def _admin_execute(*statements: str) -> None:
    import asyncpg

    try:
        connection = await asyncpg.connect(
            _asyncpg_dsn(make_url(PG_ADMIN_URL).database or "postgres"), timeout=5
        )
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        pytest.fail(
            f"PostgreSQL unreachable at {make_url(PG_ADMIN_URL).render_as_string()}: {error!r}. "
            "Start it, point ANCRAGE_TEST_PG_URL at one, or set ANCRAGE_TEST_PG=0 "
            "to deselect the PostgreSQL variants.",
            pytrace=False,
        )
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


def _run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to completion on a private loop, even from inside a test's loop."""
    with ThreadPoolExecutor(max_workers=1) as executor:
        return executor.submit(asyncio.run, coroutine).result()


def create_pg_database(name: str) -> str:
    """Create (or recreate) database ``name``; returns its async SQLAlchemy URL."""
    _run(
        _admin_execute(
            f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"'
        )
    )
    return _pg_url(name)


def drop_pg_database(name: str) -> None:
    _run(_admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _migrate(url: str) -> None:
    from engine.store.db import create_engine
    from engine.store.migrate import upgrade_async

    async def migrate() -> None:
        engine = create_engine(url, poolclass=NullPool)
        try:
            await upgrade_async(engine)
        finally:
            await engine.dispose()

    _run(migrate())


# --- session-scoped databases (synchronous: independent of any event loop) -----


@pytest.fixture(scope="session")
def pg_database_url() -> Iterator[str]:
    """A private, migrated PostgreSQL database for this test run, dropped at the end."""
    name = _database_name()
    url = create_pg_database(name)
    try:
        _migrate(url)
        yield url
    finally:
        drop_pg_database(name)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied for each test (cheaper than migrating each time)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "template.sqlite3"
    _migrate(f"sqlite+aiosqlite:///{path}")
    return path


# --- per-test fixtures --------------------------------------------------------------


@pytest.fixture(params=BACKENDS)
async def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of an empty, migrated database (``sqlite`` file copy or truncated ``pg``)."""
    from engine.services.catalog import forget_versions

    forget_versions()  # ids restart with the database: cached versions would be stale
    if request.param == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")
        path = tmp_path / "store.sqlite3"
        shutil.copyfile(template, path)
        return f"sqlite+aiosqlite:///{path}"
    url: str = request.getfixturevalue("pg_database_url")
    await _truncate_all(url)
    return url


async def _truncate_all(url: str) -> None:
    from engine.store.base import metadata
    from engine.store.db import create_engine

    tables = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
    engine = create_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as connection:
            await connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()


@pytest.fixture(params=BACKENDS)
def empty_store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """URL of a database with no tables at all (fresh file or fresh PG database)."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.sqlite3'}"
        return
    name = _database_name("_empty")
    url = create_pg_database(name)
    try:
        yield url
    finally:
        drop_pg_database(name)


@pytest.fixture
async def store_engine(store_url: str) -> AsyncIterator[AsyncEngine]:
    """An engine on ``store_url`` bound to the test's event loop."""
    from engine.store.db import create_engine

    engine = create_engine(store_url)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
def session_maker(store_engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """``async_sessionmaker`` for tests that need several sessions (concurrency)."""
    from engine.store.db import session_factory

    return session_factory(store_engine)


@pytest.fixture
async def session(session_maker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One ``AsyncSession``; uncommitted work is rolled back at the end."""
    async with session_maker() as db_session:
        yield db_session
