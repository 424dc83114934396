"""SQLite's one trip per statement (``engine.store.sqlite_driver``): what SQLAlchemy reads back is
the same, errors are the same, and a statement waiting for another process's lock waits in
aiosqlite's thread, never in the event loop."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError

from engine.settings import Settings
from engine.store import create_engine
from engine.store.sqlite_driver import OneTripCursor


def _engine(folder: Path):  # type: ignore[no-untyped-def]
    return create_engine(Settings(data_dir=folder))


async def test_rows_counts_and_ids_come_back_from_one_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    engine = _engine(tmp_path)
    trips: list[object] = []
    real = aiosqlite.Connection._execute

    async def counted(self, fn, *args, **kwargs):  # type: ignore[no-untyped-def]
        trips.append(getattr(fn, "__name__", fn))
        return await real(self, fn, *args, **kwargs)

    try:
        async with engine.begin() as connection:
            raw = await connection.get_raw_connection()
            assert isinstance(raw.dbapi_connection.cursor(), OneTripCursor)
            await connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE)"))
            monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
            inserted = await connection.execute(text("INSERT INTO t (name) VALUES ('a')"))
            assert inserted.lastrowid == 1 and inserted.rowcount == 1
            many = await connection.execute(text("INSERT INTO t (name) VALUES (:n)"), [{"n": "b"}, {"n": "c"}])
            assert many.rowcount == 2
            updated = await connection.execute(text("UPDATE t SET name = name || '!' WHERE id > 1"))
            assert updated.rowcount == 2
            before = len(trips)
            rows = (await connection.execute(text("SELECT id, name FROM t ORDER BY id"))).all()
            assert len(trips) - before == 1, trips[before:]  # aiosqlite's cursor took four
            assert [tuple(r) for r in rows] == [(1, "a"), (2, "b!"), (3, "c!")]
            keys = (await connection.execute(text("SELECT id AS ident, name FROM t WHERE id = 2"))).mappings().one()
            assert dict(keys) == {"ident": 2, "name": "b!"}
            returned = (await connection.execute(text("INSERT INTO t (name) VALUES ('d') RETURNING id"))).scalar_one()
            assert returned == 4
            assert (await connection.execute(text("SELECT id FROM t WHERE id > 99"))).first() is None
    finally:
        await engine.dispose()
    names = {str(name) for name in trips}
    assert "_run" in names and not names & {"cursor", "execute", "executemany", "fetchall", "fetchone"}, names


async def test_errors_are_sqlalchemys_and_the_connection_goes_on(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE)"))
            await connection.execute(text("INSERT INTO t (name) VALUES ('a')"))
        async with engine.connect() as connection:
            with pytest.raises(IntegrityError):
                await connection.execute(text("INSERT INTO t (name) VALUES ('a')"))
            await connection.rollback()
            with pytest.raises(OperationalError, match="no such table"):
                await connection.execute(text("SELECT * FROM missing"))
            await connection.rollback()
            assert (await connection.execute(text("SELECT count(*) FROM t"))).scalar_one() == 1
    finally:
        await engine.dispose()


async def test_a_statement_waiting_for_a_lock_leaves_the_event_loop_free(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    try:
        async with engine.begin() as connection:
            await connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
        other = sqlite3.connect(tmp_path / "ancrage.sqlite3", isolation_level=None)  # another process's writer
        other.execute("BEGIN IMMEDIATE")
        beats: list[float] = []

        async def heartbeat() -> None:
            while True:
                beats.append(time.monotonic())
                await asyncio.sleep(0.01)

        async def release() -> None:
            await asyncio.sleep(0.4)
            other.execute("COMMIT")

        ticking = asyncio.create_task(heartbeat())
        releasing = asyncio.create_task(release())
        started = time.monotonic()
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO t DEFAULT VALUES"))
        waited = time.monotonic() - started
        ticking.cancel()
        await releasing
        other.close()
    finally:
        await engine.dispose()
    assert waited >= 0.35  # it did wait for the other writer...
    during = [b for b in beats if started <= b <= started + waited]
    assert len(during) >= 10, during  # ...while the loop went on running other tasks

