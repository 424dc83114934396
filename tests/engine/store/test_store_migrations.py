"""Migrations and models must agree: an empty database migrated to head has
exactly the tables, columns, indexes and constraints the models declare."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from engine.store.base import metadata
from engine.store.db import create_engine
from engine.store.migrate import upgrade_async
from engine.store.migrations.env import render_item  # noqa: F401  (env imports cleanly)


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, metadata))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def test_migrating_an_empty_database_yields_the_models(empty_store_url: str) -> None:
    engine = create_engine(empty_store_url)
    try:
        await upgrade_async(engine)
        async with engine.connect() as connection:
            diff = await connection.run_sync(_diff)
            tables = await connection.run_sync(_tables)
    finally:
        await engine.dispose()
    assert diff == []
    assert tables == {table.name for table in metadata.sorted_tables} | {"alembic_version"}


async def test_upgrade_is_idempotent_and_downgrade_removes_everything(
    empty_store_url: str,
) -> None:
    from alembic import command

    from engine.store.migrate import alembic_config

    engine = create_engine(empty_store_url)
    try:
        await upgrade_async(engine)
        await upgrade_async(engine)

        def downgrade(connection: Connection) -> None:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.downgrade(config, "base")

        async with engine.begin() as connection:
            await connection.run_sync(downgrade)
        async with engine.connect() as connection:
            assert await connection.run_sync(_tables) <= {"alembic_version"}
    finally:
        await engine.dispose()
