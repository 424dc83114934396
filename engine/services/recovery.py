"""Deliveries stuck in ``sending``: a worker died between the provider call and saving its answer.

Resending blindly could send the same SMS twice (Twilio has no idempotency
key), so a stale delivery is settled from what proves its fate, in this order:

1. a provider id already on the delivery: the provider's status callback
   carried our signed delivery id (``d``) and named the message, so it exists
   (:func:`engine.store.deliveries.advance_delivery_status`): ``sent``;
2. a channel that can look a message up (``find_sent``: Twilio's log of the
   messages to the number *recorded when the delivery was marked sending*,
   created since that moment, body compared through Smart Encoding, sids of
   the learner's other deliveries left out). Found: ``sent`` with that id.
   Provably absent: queued again and sent once. The log unreadable whole
   (``LookupIncomplete``): ``failed``, outcome unknown; the provider
   unreachable: looked at again at the next tick;
3. a channel that cannot look up: ``failed`` with reason "outcome unknown"
   rather than risk a duplicate: at most once, and visible.

Each move applies only to the attempt that was looked at (:func:`same_attempt`):
a delivery retried by another worker during the look-up is a new attempt in
flight, and re-queuing it would send the message twice.

A delivery is marked ``sending`` just before its own provider call (a wave at
a time, at most :data:`engine.services.dispatch.WAVE_SECONDS` ahead, see
:mod:`engine.services.marking`), never for the whole wait for a rate-limit slot,
so :data:`STALE_AFTER` only has to outlast one call.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlmodel import col, select

from engine.channels.twilio import CLOCK_SKEW, LookupIncomplete
from engine.services.delivery_state import recorded_attempt
from engine.services.runtime import Runtime
from engine.store.base import DeliveryStatus
from engine.store.deliveries import find_stale_sending, transition_delivery
from engine.store.models import Delivery, Learner

STALE_AFTER = timedelta(minutes=5)
_UNKNOWN = "outcome unknown: the worker stopped during the provider call; not resent to avoid a duplicate"


async def recover_stale(rt: Runtime, *, now: datetime) -> int:
    """Settles every delivery left in ``sending`` for longer than :data:`STALE_AFTER`."""
    async with rt.sessions() as session:
        stale = await find_stale_sending(session, older_than=now - STALE_AFTER)
        learners = {row.id: row for row in (await session.exec(select(Learner).where(
            col(Learner.id).in_({d.learner_id for d in stale})))).all()} if stale else {}
    settled = 0
    for delivery in stale:
        outcome = await _settle(rt, delivery, learners.get(delivery.learner_id))
        if outcome is None:  # provider unreachable: try again at the next tick
            continue
        to_status, values = outcome
        async with rt.sessions() as session, session.begin():
            settled += int(await transition_delivery(session, delivery_id=delivery.id or 0, now=now,
                                                     from_statuses=[DeliveryStatus.SENDING], to_status=to_status,
                                                     unchanged=same_attempt(delivery), **values))
    return settled


def same_attempt(delivery: Delivery) -> dict[str, Any]:
    """What proves a ``sending`` row is still the attempt recovery looked at.

    The provider look-up takes time; meanwhile another worker may have retried
    the delivery (``sending → planned → queued → sending``: a new attempt, its
    call in flight). The status alone cannot tell, so the settling
    compare-and-set also requires the attempt count, the last change and claim
    times, the provider id and the recorded attempt (``rendered["attempt"]``)
    read with the stale row: a row that moved on is left alone.
    """
    return {"attempts": delivery.attempts, "updated_at": delivery.updated_at, "claimed_at": delivery.claimed_at,
            "provider_id": delivery.provider_id, "rendered": delivery.rendered}


async def _settle(rt: Runtime, delivery: Delivery, learner: Learner | None) -> tuple[str, dict[str, Any]] | None:
    """The state a stale delivery moves to, with its fields; None to look again later."""
    now = rt.now()
    if delivery.provider_id:
        return DeliveryStatus.SENT, {"sent_at": now, "status_reason": "recovered: the provider's status "
                                                                     "callback named the message"}
    rendered = delivery.rendered or {}
    finder = getattr(rt.channels.get(delivery.channel or ""), "find_sent", None)
    to, at = recorded_attempt(delivery)
    # Rows marked before attempts were recorded: the learner's number then.
    to = to or (learner.phone if learner is not None else None)
    since = at or delivery.claimed_at
    if finder is None or not to or since is None:
        return DeliveryStatus.FAILED, {"finished_at": now, "error_code": "outcome_unknown", "status_reason": _UNKNOWN}
    exclude, until = await _elsewhere(rt, delivery, since)
    try:
        found = await finder(to=to, body=rendered.get("body", ""), since=since, exclude=exclude, until=until)
    except LookupIncomplete:
        return DeliveryStatus.FAILED, {"finished_at": now, "error_code": "outcome_unknown", "status_reason": _UNKNOWN}
    except Exception:
        return None
    if found:
        return DeliveryStatus.SENT, {"provider_id": str(found), "sent_at": now,
                                     "status_reason": "recovered: the provider had accepted it"}
    return DeliveryStatus.QUEUED, {"claimed_at": now - timedelta(hours=1),
                                   "status_reason": "recovered: not at the provider, sending again"}


async def _elsewhere(rt: Runtime, delivery: Delivery, since: datetime) -> tuple[set[str], datetime | None]:
    """What of the provider's log may be the learner's other deliveries', never this one's.

    The provider ids they hold from around the attempt; and the first later attempt of
    another delivery with the same body (a review item sent again while this one was stuck
    in ``sending``): a copy created after it may be that one's. The endurance run found one:
    an earlier review whose call never went out took, by its body, the copy of the same
    question sent a week later, which then looked absent and was sent a second time.
    """
    body = (delivery.rendered or {}).get("body")
    async with rt.sessions() as session:
        rows = (await session.exec(select(Delivery).where(
            col(Delivery.learner_id) == delivery.learner_id, col(Delivery.id) != delivery.id,
            col(Delivery.updated_at) >= since - CLOCK_SKEW))).all()
    owned = {row.provider_id for row in rows if row.provider_id}
    later = [at for row in rows if body and (row.rendered or {}).get("body") == body
             for _, at in [recorded_attempt(row)] if at is not None and at > since]
    return owned, min(later, default=None)
