"""Engine construction: SQLite pragmas and folder creation, the sync migrate entry point."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from engine.settings import Settings
from engine.store import create_engine, is_postgres
from engine.store.migrate import upgrade


async def test_sqlite_connections_use_wal_busy_timeout_and_foreign_keys(tmp_path: Path) -> None:
    engine = create_engine(Settings(data_dir=tmp_path / "not" / "yet" / "there"))
    try:
        async with engine.connect() as connection:
            pragmas = [
                (await connection.execute(text(f"PRAGMA {name}"))).scalar_one()
                for name in ("journal_mode", "busy_timeout", "foreign_keys")
            ]
    finally:
        await engine.dispose()
    assert pragmas == ["wal", 5000, 1]
    assert (tmp_path / "not" / "yet" / "there" / "ancrage.sqlite3").exists()
    assert not is_postgres(engine)


async def test_backend_detection(store_engine: AsyncEngine, store_url: str) -> None:
    assert is_postgres(store_engine) == store_url.startswith("postgresql")


def test_sync_upgrade_from_settings_creates_the_schema(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "var")
    upgrade(settings)
    upgrade(settings)  # already at head: nothing to do

    import sqlite3

    with sqlite3.connect(tmp_path / "var" / "ancrage.sqlite3") as connection:
        tables = {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
    assert {"delivery", "learner", "alembic_version"} <= tables
