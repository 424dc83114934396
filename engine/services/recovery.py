"""Deliveries stuck in ``sending``: a worker died between the provider call and saving its answer.

Resending blindly could send the same SMS twice (Twilio has no idempotency
key), so a stale delivery is settled by asking the provider first: a channel
that can look a message up (``find_sent``: Twilio lists the messages sent to
the number since the claim) tells whether it went out. Found: the delivery
becomes ``sent`` with the provider's id. Not found: it is queued again and
sent once. A channel that cannot look up ends the delivery as ``failed`` with
reason "outcome unknown" rather than risk a duplicate: at most once, and visible.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import col, select

from engine.services.runtime import Runtime
from engine.store.base import DeliveryStatus
from engine.store.deliveries import find_stale_sending, transition_delivery
from engine.store.models import Learner

STALE_AFTER = timedelta(minutes=5)


async def recover_stale(rt: Runtime, *, now: datetime) -> int:
    """Settles every delivery left in ``sending`` for longer than :data:`STALE_AFTER`."""
    async with rt.sessions() as session:
        stale = await find_stale_sending(session, older_than=now - STALE_AFTER)
        learners = {row.id: row for row in (await session.exec(select(Learner).where(
            col(Learner.id).in_({d.learner_id for d in stale})))).all()} if stale else {}
    settled = 0
    for delivery in stale:
        channel = rt.channels.get(delivery.channel or "")
        finder = getattr(channel, "find_sent", None)
        learner = learners.get(delivery.learner_id)
        provider_id: str | None = None
        known = False
        if finder is not None and learner is not None and delivery.claimed_at is not None:
            try:
                provider_id = await finder(to=learner.phone or "", body=(delivery.rendered or {}).get("body", ""),
                                           since=delivery.claimed_at)
                known = True
            except Exception:  # provider unreachable: try again at the next tick
                continue
        async with rt.sessions() as session, session.begin():
            if known and provider_id:
                done = await transition_delivery(session, delivery_id=delivery.id or 0, now=now,
                                                 from_statuses=[DeliveryStatus.SENDING], to_status=DeliveryStatus.SENT,
                                                 provider_id=provider_id, sent_at=now,
                                                 status_reason="recovered: the provider had accepted it")
            elif known:
                done = await transition_delivery(session, delivery_id=delivery.id or 0, now=now,
                                                 from_statuses=[DeliveryStatus.SENDING], to_status=DeliveryStatus.QUEUED,
                                                 claimed_at=now - timedelta(hours=1),
                                                 status_reason="recovered: not at the provider, sending again")
            else:
                done = await transition_delivery(session, delivery_id=delivery.id or 0, now=now,
                                                 from_statuses=[DeliveryStatus.SENDING], to_status=DeliveryStatus.FAILED,
                                                 finished_at=now, error_code="outcome_unknown",
                                                 status_reason="outcome unknown: the worker stopped during the "
                                                               "provider call; not resent to avoid a duplicate")
            settled += int(done)
    return settled
