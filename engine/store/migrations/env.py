"""Alembic environment, usable programmatically (engine.store.migrate) or by the CLI.

A caller may hand over an open sync connection in ``config.attributes["connection"]``
(that is how :func:`engine.store.migrate.upgrade_async` runs inside an async
engine); otherwise the URL from ``sqlalchemy.url`` is opened with an async engine.
"""

from __future__ import annotations

import asyncio
from typing import Any, Literal

from alembic import context
from sqlalchemy.engine import Connection

import engine.store.models  # noqa: F401  (registers every table)
from engine.store.base import metadata


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    """Render project column types with a stable import instead of module paths."""
    if type_ != "type":
        return False
    module = type(obj).__module__
    if module == "engine.store.types":
        autogen_context.imports.add("from engine.store import types as store_types")
        return f"store_types.{type(obj).__name__}()"
    if module.startswith("sqlmodel"):
        length = getattr(obj, "length", None)
        return f"sa.String(length={length})" if length else "sa.String()"
    return False


def _configure_and_run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        render_item=render_item,
        compare_type=True,
        on_version_apply=context.config.attributes.get("on_version_apply"),
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_url(url: str) -> None:
    from engine.store.db import create_engine

    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            await connection.run_sync(_configure_and_run)
            await connection.commit()
    finally:
        await engine.dispose()


def run_migrations_offline() -> None:
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"),
        target_metadata=metadata,
        literal_binds=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _configure_and_run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("no connection and no sqlalchemy.url given to Alembic")
    asyncio.run(_run_with_url(url))


# Importing this module outside an Alembic command (tools that import every
# module of the package) must do nothing.
if hasattr(context, "config"):
    if context.is_offline_mode():
        run_migrations_offline()
    else:
        run_migrations_online()
