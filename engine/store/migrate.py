"""Apply Alembic migrations from code: no ``alembic.ini`` needed at runtime.

The script folder ships inside the package, so an installed engine can migrate
its own database (``ancrage`` CLI, tests, the demo).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from engine.settings import Settings
from engine.store.db import create_engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str | None = None) -> Config:
    """An Alembic config pointing at the packaged scripts (and ``url`` if given)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    if url is not None:
        # ConfigParser interpolation: a literal '%' in a password must be doubled.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


async def upgrade_async(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the database behind ``engine`` to ``revision`` inside one transaction."""
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade_on, revision)


def _upgrade_on(connection: Connection, revision: str) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def upgrade(target: Settings | str, revision: str = "head") -> None:
    """Synchronous entry point for the CLI; not for use inside a running event loop."""
    engine = create_engine(target)

    async def _run() -> None:
        try:
            await upgrade_async(engine, revision)
        finally:
            await engine.dispose()

    asyncio.run(_run())
