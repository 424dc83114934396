"""Apply Alembic migrations from code: no ``alembic.ini`` needed at runtime.

The script folder ships inside the package, so an installed engine can migrate
its own database (``ancrage`` CLI, tests, the demo).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any, Protocol

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
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


class StepProgress(Protocol):
    """Whoever shows migrations as they are applied (the CLI's bar)."""

    def start(self, total: int) -> None: ...

    def advance(self, what: str = "") -> None: ...


async def upgrade_async(engine: AsyncEngine, revision: str = "head", *,
                        progress: StepProgress | None = None) -> None:
    """Bring the database behind ``engine`` to ``revision`` inside one transaction."""
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade_on, revision, progress)


def _upgrade_on(connection: Connection, revision: str, progress: StepProgress | None = None) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    if progress is not None:
        current = MigrationContext.configure(connection).get_current_revision()
        script = ScriptDirectory.from_config(config)
        pending = [r for r in script.iterate_revisions(revision, current or "base") if r.revision != current]
        progress.start(len(pending))

        def _applied(**kwargs: Any) -> None:
            progress.advance(f"{kwargs['step'].up_revision_id}")

        config.attributes["on_version_apply"] = _applied
    command.upgrade(config, revision)


def upgrade(target: Settings | str, revision: str = "head", *, progress: StepProgress | None = None) -> None:
    """Synchronous entry point for the CLI; not for use inside a running event loop."""
    engine = create_engine(target)

    async def _run() -> None:
        try:
            await upgrade_async(engine, revision, progress=progress)
        finally:
            await engine.dispose()

    asyncio.run(_run())
