"""Group commit for webhook intake: concurrent requests share one INSERT and one commit.

Each webhook must be committed before it is acknowledged, and a commit per
request caps intake (SQLite: one writer, a thread hop per statement). Requests
hand their row to this writer (a :class:`~webhooks.batching.Batcher`) and await
it: a burst costs one multi-row ``INSERT ... ON CONFLICT DO NOTHING RETURNING``
per batch. Measured on SQLite: ~540 µs per row alone, ~40 µs per row in
batches of 32; PostgreSQL ~1.2 ms alone, ~70 µs in batches of 32.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Insert, Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine

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


class InboundWriter:
    """Stores raw inbound events for many concurrent requests, batch by batch."""

    def __init__(self, engine: AsyncEngine, *, max_batch: int = DEFAULT_MAX_BATCH) -> None:
        self._engine = engine
        self._statement = _statement(engine.dialect.name)
        self._batcher: Batcher[Row, int | None] = Batcher(self._write, max_batch=max_batch)

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

    async def _write(self, rows: list[Row]) -> list[int | None]:
        """One statement for the batch; a key repeated inside it is a duplicate too."""
        first: dict[tuple[str, str], int] = {}
        unique: list[Row] = []
        for index, row in enumerate(rows):
            key = (row["provider"], row["provider_id"])
            if key not in first:
                first[key] = index
                unique.append(row)
        async with self._engine.begin() as connection:
            result = await connection.execute(
                self._statement, unique if len(unique) > 1 else unique[0])
            created = {(provider, provider_id): int(event_id)
                       for event_id, provider, provider_id in result.all()}
        return [created.get(key) if first[key] == index else None
                for index, key in enumerate((r["provider"], r["provider_id"]) for r in rows)]
