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
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from engine.services.runtime import Runtime
from engine.store.deliveries import advance_delivery_status
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
        results: list[bool] = []
        async with self._rt.sessions() as session:
            for update in updates:
                results.append(await advance_delivery_status(
                    session, provider_id=update.provider_id, status=update.status,
                    error_code=update.error_code, now=update.at, delivery_id=update.delivery_id))
            await session.commit()
        return results
