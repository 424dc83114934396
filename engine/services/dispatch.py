"""The send job: from queued deliveries to provider calls, exactly once.

A batch goes through three phases:

1. **Prepare** (one transaction): lock the learners (``FOR UPDATE SKIP LOCKED`` on
   PostgreSQL; SQLite has one writer), re-check everything that may have changed
   since planning (enrolment, opt-out, consent, send window, overdue policy, an
   open question) and compose the message. The deliveries stay ``queued``. One
   delivery per learner per round: a learner's next one is decided in the next
   round, once the first one's question is open.
2. **Call** the providers concurrently, outside any transaction, within the
   per-sender rate limit (a send whose slot is over a minute away goes back to
   ``planned``). Each delivery is moved ``queued → sending`` (compare-and-set,
   recording the number, body and time of the attempt, and opening its prompt)
   *just before its own provider call*: those whose slots come at the same
   moment are marked together in one transaction (:class:`engine.services.marking.Marker`), so a
   crash leaves in ``sending`` only the calls actually in flight, never a whole
   rate-limited batch. The mark locks the learners again and re-checks that no
   other question was opened meanwhile (one learner at a time).
3. **Record** (one transaction): ``sending → sent`` with the provider id, or a
   retry with backoff, or a fallback to the next channel, or ``failed``.

Twilio's API has no idempotency key. A worker that dies after the provider
accepted a message but before phase 3 leaves the delivery in ``sending``; it is
never put back to ``queued`` blindly. The scheduler's recovery asks the
provider (:func:`engine.services.recovery.recover_stale`) and only resends
when the provider has no trace of the message. A provider call that timed out
is just as ambiguous (the request may have been accepted after we gave up): it
is retried with backoff, and the retry first asks the provider
(``find_sent``) whether the earlier attempt went out.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.channels.base import SendResult
from engine.ratelimit import MAX_WAIT_SECONDS
from engine.services.delivery_state import recorded_attempt, set_many, set_status
from engine.services.marking import Marker
from engine.services.runtime import Runtime
from engine.services.send_checks import Outgoing, decide
from engine.store.base import DeliveryStatus, PromptStatus
from engine.store.models import Delivery, Enrollment, Learner, Prompt, PushToken

MAX_TRANSIENT_ATTEMPTS = 5
#: Error codes after which the provider may have accepted the message all the same.
AMBIGUOUS_ERRORS = frozenset({"timeout", "network", "adapter_error"})
#: A send handed back because its sender's rate-limit slot was too far away
#: (it would have waited in ``sending``, where the stale-send recovery could
#: take it for a dead worker's and send it a second time).
SENDER_BUSY = "sender_busy"
#: How far back a retry looks for an earlier attempt that went out after all
#: (when the attempt's own time was not recorded).
LOOKBACK = timedelta(hours=6)
#: Rounds of one send job (fallbacks, and each learner's next delivery).
MAX_ROUNDS = 6


def backoff(attempts: int, retry_after: float | None) -> timedelta:
    """30 s, 1 min, 2 min, ... capped at one hour; never sooner than the provider asked."""
    seconds = min(30 * 2 ** max(attempts - 1, 0), 3600)
    return timedelta(seconds=max(seconds, retry_after or 0))


async def _load(session: AsyncSession, ids: list[int], postgres: bool) -> list[tuple[Delivery, Enrollment, Learner]]:
    statement = (select(Delivery, Enrollment, Learner)
                 .join(Enrollment, col(Enrollment.id) == col(Delivery.enrollment_id))
                 .join(Learner, col(Learner.id) == col(Delivery.learner_id))
                 .where(col(Delivery.id).in_(ids), col(Delivery.status) == DeliveryStatus.QUEUED)
                 .order_by(col(Delivery.id)))
    if postgres:
        statement = statement.with_for_update(of=Learner, skip_locked=True)
    return [tuple(row) for row in (await session.exec(statement)).all()]  # type: ignore[misc]


async def send_batch(rt: Runtime, delivery_ids: list[int]) -> dict[str, int]:
    """Sends these queued deliveries; returns counts by outcome (for logs and benchmarks)."""
    counts: dict[str, int] = {}
    pending = list(delivery_ids)
    # Each round falls back to the next channel for permanent failures and takes the
    # learners' next deliveries; what is left after the last round stays ``queued``
    # and the tick's requeue hands it out again.
    for _round in range(MAX_ROUNDS):
        if not pending:
            break
        outgoing, later = await _prepare(rt, pending, counts)
        results = await _call(rt, outgoing, counts)
        pending = sorted(await _record(rt, outgoing, results, counts) + later)
    return counts


async def _prepare(rt: Runtime, ids: list[int], counts: dict[str, int]) -> tuple[list[Outgoing], list[int]]:
    """Decides and composes; returns what to send and the deliveries left for the next round."""
    now = rt.now()
    postgres = rt.engine.dialect.name == "postgresql"
    outgoing: list[Outgoing] = []
    later: list[int] = []
    async with rt.sessions() as session, session.begin():
        rows = await _load(session, ids, postgres)
        learner_ids = {learner.id for _, _, learner in rows}
        tokens = {t.learner_id: t.token for t in (await session.exec(select(PushToken).where(
            col(PushToken.learner_id).in_(learner_ids), col(PushToken.disabled_at).is_(None))
            .order_by(col(PushToken.created_at)))).all()}
        busy: set[int | None] = set()  # learners with a delivery to send this round
        for delivery, enrollment, learner in rows:
            if learner.id in busy:
                # Decided once the earlier one is sending (its question open).
                later.append(delivery.id or 0)
                continue
            decision, item = await decide(session, rt, delivery, enrollment, learner,
                                           tokens.get(learner.id or 0), now)
            counts[decision] = counts.get(decision, 0) + 1
            if item is not None:
                outgoing.append(item)
                busy.add(learner.id)
    return outgoing, later


async def _call(rt: Runtime, outgoing: list[Outgoing], counts: dict[str, int]) -> list[SendResult | None]:
    """Each send: wait for its slot, mark it ``sending``, call. None: not ours to send (lost the mark)."""
    slots = await _reserve_slots(rt, outgoing)
    marker = Marker(rt, counts)

    async def ours(item: Outgoing) -> bool:
        try:
            return await marker.mark(item)
        except Exception:  # the mark failed: it stays queued, the tick hands it out again
            return False

    async def one(item: Outgoing) -> SendResult | None:
        channel = rt.channels.get(item.channel)
        if channel is None:
            return SendResult("failed_permanent", error_code="no_channel",
                              error=f"channel '{item.channel}' is not configured")
        earlier = await _earlier_attempt(rt, channel, item)
        if earlier is not None:
            return earlier if not earlier.accepted or await ours(item) else None
        if rt.limiter is not None and not await _wait_for_slot(slots, item):
            return SendResult("failed_transient", error_code=SENDER_BUSY, retry_after=MAX_WAIT_SECONDS,
                              error="the sender is at its rate limit for the next minute")
        if not await ours(item):
            return None
        try:
            return await channel.send(item.message)
        except Exception as exc:  # an adapter bug must not leave the delivery in limbo
            return SendResult("failed_transient", error_code="adapter_error", error=type(exc).__name__)

    return list(await asyncio.gather(*(one(item) for item in outgoing)))


async def _reserve_slots(rt: Runtime, outgoing: list[Outgoing]) -> dict[int, float]:
    """Each item's rate-limit slot (event-loop time), one Redis call per channel for the batch.

    Same schedule as one :meth:`SenderRateLimiter.acquire` per send, without a
    round trip per send; an item without a slot (over a minute away) is absent.
    """
    if rt.limiter is None or not outgoing:
        return {}
    loop = asyncio.get_running_loop()
    by_channel: dict[str, list[Outgoing]] = {}
    for item in outgoing:
        by_channel.setdefault(item.channel, []).append(item)
    slots: dict[int, float] = {}
    for channel, items in by_channel.items():
        start = loop.time()
        for item, delay in zip(items, await rt.limiter.reserve(channel, len(items)), strict=False):
            slots[id(item)] = start + delay
    return slots


async def _wait_for_slot(slots: dict[int, float], item: Outgoing) -> bool:
    """Sleeps until the item's reserved slot; False when it got none (sender busy)."""
    at = slots.get(id(item))
    if at is None:
        return False
    delay = at - asyncio.get_running_loop().time()
    if delay > 0:
        await asyncio.sleep(delay)
    return True


async def _earlier_attempt(rt: Runtime, channel: Any, item: Outgoing) -> SendResult | None:
    """After an ambiguous failure, whether that attempt reached the provider after all.

    Found: the delivery is recorded as sent with the provider's id, and nothing
    is sent again. The lookup failing is itself a temporary error: sending now
    could duplicate the message, so the retry waits for the next backoff.
    """
    finder = getattr(channel, "find_sent", None)
    if finder is None or item.delivery.error_code not in AMBIGUOUS_ERRORS:
        return None
    to, at = recorded_attempt(item.delivery)
    try:
        found = await finder(to=to or item.message.to, body=(item.delivery.rendered or {}).get("body") or item.message.body,
                             since=at or rt.now() - LOOKBACK)
    except Exception as exc:  # provider unreachable: keep the outcome open
        return SendResult("failed_transient", error_code=item.delivery.error_code,
                          error=f"could not check the earlier attempt: {type(exc).__name__}")
    return SendResult("accepted", provider_id=str(found)) if found else None


async def _record(rt: Runtime, outgoing: list[Outgoing], results: list[SendResult | None],
                  counts: dict[str, int]) -> list[int]:
    """Saves every provider answer; returns the deliveries to try on their next channel.

    A delivery that never got as far as ``sending`` (no channel, sender busy, the
    earlier attempt could not be checked) changes from ``queued``.
    """
    now = rt.now()
    fallback: list[int] = []
    async with rt.sessions() as session, session.begin():
        accepted: list[tuple[Delivery, dict[str, Any]]] = []
        for item, result in zip(outgoing, results, strict=True):
            if result is None:  # another worker's, or left queued for the next tick
                continue
            delivery = item.delivery
            was = DeliveryStatus.SENDING if item.marked else DeliveryStatus.QUEUED
            # An attempt counts once it is marked; one stopped before (lookup failed) counts too.
            attempts = delivery.attempts if item.marked else delivery.attempts + 1
            tried = [*(delivery.rendered or {}).get("tried", []), item.channel]
            rendered = {**(delivery.rendered or {}), "tried": tried}
            if result.accepted:  # ``sending → sent`` for the whole batch at once, below
                accepted.append((delivery, {"provider_id": result.provider_id, "rendered": rendered}))
                counts["sent"] = counts.get("sent", 0) + 1
                continue
            await _close_prompts(session, delivery)
            if result.opted_out:
                from engine.store.queries import record_opt_out
                await record_opt_out(session, learner_id=item.learner.id or 0, channel=item.channel, at=now)
            if result.dead_token:
                await session.exec(update(PushToken).where(
                    col(PushToken.token) == item.message.to).values(disabled_at=now))
            if result.error_code == SENDER_BUSY:  # never reached the provider: not an attempt
                await set_status(session, delivery, DeliveryStatus.PLANNED, now=now, expect=was,
                           due_at=now + timedelta(seconds=result.retry_after or MAX_WAIT_SECONDS),
                           status_reason=f"{item.channel} sender at its rate limit: sent later")
                counts["sender_busy"] = counts.get("sender_busy", 0) + 1
                continue
            if result.status == "failed_transient" and attempts < MAX_TRANSIENT_ATTEMPTS:
                await set_status(session, delivery, DeliveryStatus.PLANNED, now=now, expect=was,
                           due_at=now + backoff(attempts, result.retry_after), attempts=attempts,
                           error_code=result.error_code, error=result.error,
                           status_reason=f"retry after a temporary error on {item.channel}")
                counts["retry"] = counts.get("retry", 0) + 1
                continue
            moved = await set_status(session, delivery, DeliveryStatus.QUEUED, now=now, expect=was,
                               error_code=result.error_code, error=result.error, rendered=rendered,
                               status_reason=f"{item.channel} failed: trying the next channel")
            if moved:
                fallback.append(delivery.id or 0)
                counts["fallback"] = counts.get("fallback", 0) + 1
        await set_many(session, accepted, DeliveryStatus.SENT, now=now, expect=DeliveryStatus.SENDING, sent_at=now)
    return fallback


async def _close_prompts(session: AsyncSession, delivery: Delivery) -> None:
    await session.exec(update(Prompt).where(
        col(Prompt.delivery_id) == delivery.id, col(Prompt.status) == PromptStatus.OPEN,
    ).values(status=PromptStatus.SUPERSEDED))
