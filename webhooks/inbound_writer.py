"""Group commit for webhook intake: concurrent requests share one INSERT and one commit.

Each webhook must be committed before it is acknowledged, and a commit per
request caps intake (SQLite: one writer, a thread hop per statement). Requests
hand their row to this writer (a :class:`~webhooks.batching.Batcher`) and await
it: a burst costs one multi-row ``INSERT ... ON CONFLICT DO NOTHING RETURNING``
per batch. Measured on SQLite: ~540 µs per row alone, ~40 µs per row in
batches of 32; PostgreSQL ~1.2 ms alone, ~70 µs in batches of 32.

On PostgreSQL a batch is one round trip: the writer keeps one connection of
the pool in autocommit (no pre-ping, BEGIN or COMMIT per batch: the statement
commits before it answers) and sends the rows as arrays to one fixed
``INSERT ... SELECT FROM unnest(...)``, compiled once. A connection that
fails is dropped; the batch is retried item by item on a fresh one.
"""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Insert, Table, TextClause, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from engine.store.base import InboundStatus
from engine.store.models import InboundEvent
from engine.store.types import utc_now
from webhooks.batching import DEFAULT_MAX_BATCH, Batcher

_TABLE: Table = InboundEvent.__table__  # type: ignore[attr-defined]

Row = dict[str, Any]


def _statement(dialect: str) -> Insert:
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return (insert(_TABLE)
            .on_conflict_do_nothing(index_elements=["provider", "provider_id"])
            .returning(_TABLE.c.id, _TABLE.c.provider, _TABLE.c.provider_id))


_PG_INSERT: TextClause = text(
    "INSERT INTO inbound_event (provider, provider_id, channel, sender, recipient, body, raw,"
    " received_at, status, learner_id, created_at)"
    " SELECT u.p, u.i, u.c, u.s, u.r, u.b, CAST(u.j AS jsonb), u.t, :status, u.l, :now"
    " FROM unnest(CAST(:p AS text[]), CAST(:i AS text[]), CAST(:c AS text[]), CAST(:s AS text[]),"
    " CAST(:r AS text[]), CAST(:b AS text[]), CAST(:j AS text[]), CAST(:t AS timestamptz[]),"
    " CAST(:l AS integer[])) AS u(p, i, c, s, r, b, j, t, l)"
    " ON CONFLICT (provider, provider_id) DO NOTHING RETURNING id, provider, provider_id")


class InboundWriter:
    """Stores raw inbound events for many concurrent requests, batch by batch."""

    def __init__(self, engine: AsyncEngine, *, max_batch: int = DEFAULT_MAX_BATCH) -> None:
        self._engine = engine
        self._statement = _statement(engine.dialect.name)
        self._postgres = engine.dialect.name == "postgresql"
        self._connection: AsyncConnection | None = None
        self._batcher: Batcher[Row, int | None] = Batcher(
            self._write_postgres if self._postgres else self._write, max_batch=max_batch)

    async def insert(
        self, *, provider: str, provider_id: str, channel: str, sender: str,
        received_at: datetime, recipient: str | None = None, body: str = "",
        raw: dict[str, Any] | None = None, learner_id: int | None = None,
    ) -> int | None:
        """Store one event; its id once committed, or ``None`` if it was already stored.

        Same semantics as :func:`engine.store.inbound.store_inbound_event`
        (same unique key), returning only the id: no ORM object per request.
        """
        return await self._batcher.submit({
            "provider": provider, "provider_id": provider_id, "channel": channel,
            "sender": sender, "recipient": recipient, "body": body, "raw": raw or {},
            "received_at": received_at, "status": InboundStatus.RECEIVED.value,
            "learner_id": learner_id, "created_at": utc_now()})

    async def aclose(self) -> None:
        await self._batcher.aclose()
        await self._drop_connection()

    async def _drop_connection(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(Exception):  # already broken: the pool discards it
                await connection.close()

    async def _autocommit_connection(self) -> AsyncConnection:
        if self._connection is None or self._connection.closed or self._connection.invalidated:
            await self._drop_connection()
            connection = await self._engine.connect()
            self._connection = await connection.execution_options(isolation_level="AUTOCOMMIT")
        return self._connection

    async def _write_postgres(self, rows: list[Row]) -> list[int | None]:
        """One autocommitted ``INSERT ... SELECT FROM unnest`` for the batch (committed when it answers)."""
        unique, first = _unique(rows)
        connection = await self._autocommit_connection()
        try:
            result = await connection.execute(_PG_INSERT, {
                "status": InboundStatus.RECEIVED.value, "now": unique[0]["created_at"],
                "p": [r["provider"] for r in unique], "i": [r["provider_id"] for r in unique],
                "c": [r["channel"] for r in unique], "s": [r["sender"] for r in unique],
                "r": [r["recipient"] for r in unique], "b": [r["body"] for r in unique],
                "j": [json.dumps(r["raw"]) for r in unique],
                "t": [r["received_at"].astimezone(UTC) for r in unique],
                "l": [r["learner_id"] for r in unique]})
            created = {(provider, provider_id): int(event_id)
                       for event_id, provider, provider_id in result.all()}
            await connection.commit()  # ends SQLAlchemy's logical transaction; nothing is sent
        except BaseException:
            await self._drop_connection()
            raise
        return _results(rows, first, created)

    async def _write(self, rows: list[Row]) -> list[int | None]:
        """One statement for the batch; a key repeated inside it is a duplicate too."""
        unique, first = _unique(rows)
        async with self._engine.begin() as connection:
            result = await connection.execute(
                self._statement, unique if len(unique) > 1 else unique[0])
            created = {(provider, provider_id): int(event_id)
                       for event_id, provider, provider_id in result.all()}
        return _results(rows, first, created)


def _unique(rows: list[Row]) -> tuple[list[Row], dict[tuple[str, str], int]]:
    """The batch without repeated keys, and each key's first index."""
    first: dict[tuple[str, str], int] = {}
    unique: list[Row] = []
    for index, row in enumerate(rows):
        key = (row["provider"], row["provider_id"])
        if key not in first:
            first[key] = index
            unique.append(row)
    return unique, first


def _results(rows: list[Row], first: dict[tuple[str, str], int],
             created: dict[tuple[str, str], int]) -> list[int | None]:
    """Each row's new id; ``None`` for a row already stored or repeated earlier in the batch."""
    return [created.get(key) if first[key] == index else None
            for index, key in enumerate((r["provider"], r["provider_id"]) for r in rows)]
