"""Group commit for delivery status callbacks: concurrent callbacks share one transaction.

Every message we send brings back three or four status callbacks (queued, sent,
delivered...), so at volume they outnumber every other request. One alone is a
guarded compare-and-set (:func:`engine.store.deliveries.advance_delivery_status`)
and its audit row; in a transaction of its own, half of its cost was the pool
checkout, ``BEGIN`` and ``COMMIT`` around them. Here callbacks arriving together
are applied one after another, in arrival order, in one session and one commit
(a :class:`~webhooks.batching.Batcher`: a lone callback is applied at once, no
timer). Each is acknowledged once that commit is done. A batch that fails is
retried callback by callback, so one bad row fails only its own request.

A batch never waits for a row lock while holding others (PostgreSQL): it first
locks, with ``SKIP LOCKED``, the rows its callbacks are for, and leaves the
callbacks whose row another transaction holds (a send job recording its wave,
which locks rows in its own order) to transactions of their own after its
commit. Waiting in the batch deadlocked with the send job: each held a row of
the same wave the other wanted, and PostgreSQL aborted one.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.services.runtime import Runtime
from engine.store.deliveries import advance_delivery_status
from engine.store.models import Delivery
from webhooks.batching import Batcher


@dataclass(frozen=True)
class StatusUpdate:
    """One provider callback, as the route parsed it."""

    provider_id: str
    status: str
    error_code: str | None
    delivery_id: int | None
    at: datetime


class StatusWriter:
    """Applies status callbacks for many concurrent requests, batch by batch."""

    def __init__(self, rt: Runtime, *, max_batch: int = 64) -> None:
        self._rt = rt
        self._batcher: Batcher[StatusUpdate, bool] = Batcher(self._apply, max_batch=max_batch)

    async def apply(self, update: StatusUpdate) -> bool:
        """``True`` if the callback moved its delivery forward (committed when this returns)."""
        return await self._batcher.submit(update)

    async def aclose(self) -> None:
        await self._batcher.aclose()

    async def _apply(self, updates: list[StatusUpdate]) -> list[bool]:
        results: dict[int, bool] = {}
        later: list[int] = []
        async with self._rt.sessions() as session:
            ours = await _lock_rows(session, updates) if len(updates) > 1 else None
            for index, update in enumerate(updates):
                if ours is not None and not ({update.provider_id, update.delivery_id} & ours):
                    later.append(index)  # its row is another's now (or unknown): on its own, below
                    continue
                results[index] = await _advance(session, update)
            await session.commit()
        for index in later:  # in arrival order: one delivery's callbacks stay in order
            async with self._rt.sessions() as session, session.begin():
                results[index] = await _advance(session, updates[index])
        return [results[index] for index in range(len(updates))]


async def _advance(session: AsyncSession, update: StatusUpdate) -> bool:
    return await advance_delivery_status(session, provider_id=update.provider_id, status=update.status,
                                         error_code=update.error_code, now=update.at,
                                         delivery_id=update.delivery_id)


async def _lock_rows(session: AsyncSession, updates: list[StatusUpdate]) -> set[str | int | None] | None:
    """PostgreSQL: locks, without waiting, the rows these callbacks are for; their provider ids and
    ids (None on SQLite, whose one writer at a time never deadlocks)."""
    if session.get_bind().dialect.name != "postgresql":
        return None
    sids = sorted({u.provider_id for u in updates})
    ids = sorted({u.delivery_id for u in updates if u.delivery_id is not None})
    rows = (await session.exec(select(Delivery.id, Delivery.provider_id).where(
        or_(col(Delivery.provider_id).in_(sids), col(Delivery.id).in_(ids)))
        .order_by(col(Delivery.id)).with_for_update(skip_locked=True))).all()
    return {value for row in rows for value in row}
