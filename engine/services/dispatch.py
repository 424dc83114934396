"""The send job: from queued deliveries to provider calls, exactly once.

A batch goes through three phases:

1. **Prepare** (one transaction): lock the learners (``FOR UPDATE SKIP LOCKED`` on
   PostgreSQL; SQLite has one writer), re-check everything that may have changed
   since planning (enrolment, opt-out, consent, send window, overdue policy, an
   open question), compose the message, open its prompt, and move the delivery
   ``queued → sending`` by compare-and-set. Commit.
2. **Call** the providers concurrently, outside any transaction, within the
   per-sender rate limit (a send whose slot is over a minute away goes back to
   ``planned`` instead of waiting in ``sending``).
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
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.channels.base import SendResult
from engine.ratelimit import MAX_WAIT_SECONDS
from engine.services.delivery_state import set_many, set_status
from engine.services.runtime import Runtime
from engine.services.send_checks import Outgoing, decide, open_prompt
from engine.store.base import DeliveryStatus, PromptStatus
from engine.store.models import Delivery, Enrollment, Learner, Prompt, PushToken

MAX_TRANSIENT_ATTEMPTS = 5
#: Error codes after which the provider may have accepted the message all the same.
AMBIGUOUS_ERRORS = frozenset({"timeout", "network", "adapter_error"})
#: A send handed back because its sender's rate-limit slot was too far away
#: (it would have waited in ``sending``, where the stale-send recovery could
#: take it for a dead worker's and send it a second time).
SENDER_BUSY = "sender_busy"
#: How far back a retry looks for an earlier attempt that went out after all.
LOOKBACK = timedelta(hours=6)


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
    for _round in range(4):  # each round falls back to the next channel for permanent failures
        if not pending:
            break
        outgoing = await _prepare(rt, pending, counts)
        results = await _call(rt, outgoing)
        pending = await _record(rt, outgoing, results, counts)
    return counts


async def _prepare(rt: Runtime, ids: list[int], counts: dict[str, int]) -> list[Outgoing]:
    now = rt.now()
    postgres = rt.engine.dialect.name == "postgresql"
    outgoing: list[Outgoing] = []
    async with rt.sessions() as session, session.begin():
        rows = await _load(session, ids, postgres)
        learner_ids = {learner.id for _, _, learner in rows}
        tokens = {t.learner_id: t.token for t in (await session.exec(select(PushToken).where(
            col(PushToken.learner_id).in_(learner_ids), col(PushToken.disabled_at).is_(None))
            .order_by(col(PushToken.created_at)))).all()}
        ready: list[Outgoing] = []
        waiting: set[int | None] = set()  # learners with a delivery in ``ready``
        for delivery, enrollment, learner in rows:
            if learner.id in waiting:
                # This learner's earlier delivery must be sending (its prompt open) before the next is decided.
                outgoing += await _mark_sending(session, ready, now, counts)
                ready = []
                waiting.clear()
            decision, item = await decide(session, rt, delivery, enrollment, learner,
                                           tokens.get(learner.id or 0), now)
            counts[decision] = counts.get(decision, 0) + 1
            if item is not None:
                ready.append(item)
                waiting.add(learner.id)
        outgoing += await _mark_sending(session, ready, now, counts)
    return outgoing


async def _mark_sending(session: AsyncSession, ready: list[Outgoing], now: datetime,
                        counts: dict[str, int]) -> list[Outgoing]:
    """``queued → sending`` for the composed deliveries at once; opens the prompts of those that moved."""
    moved = {id(delivery) for delivery in await set_many(
        session, [(item.delivery, {"channel": item.channel, "rendered": item.rendered,
                                   "attempts": item.delivery.attempts + 1}) for item in ready],
        DeliveryStatus.SENDING, now=now, expect=DeliveryStatus.QUEUED, claimed_at=now)}
    sending: list[Outgoing] = []
    for item in ready:
        if id(item.delivery) not in moved:
            counts["sending"] -= 1
            counts["lost-race"] = counts.get("lost-race", 0) + 1
            continue
        if item.composed is not None and item.composed.prompt is not None:
            await open_prompt(session, item.delivery, item.learner, item.channel, item.composed, now)
        sending.append(item)
    if not counts.get("sending", 1):
        del counts["sending"]
    return sending


async def _call(rt: Runtime, outgoing: list[Outgoing]) -> list[SendResult]:
    slots = await _reserve_slots(rt, outgoing)

    async def one(item: Outgoing) -> SendResult:
        channel = rt.channels.get(item.channel)
        if channel is None:
            return SendResult("failed_permanent", error_code="no_channel",
                              error=f"channel '{item.channel}' is not configured")
        earlier = await _earlier_attempt(rt, channel, item)
        if earlier is not None:
            return earlier
        if rt.limiter is not None and not await _wait_for_slot(slots, item):
            return SendResult("failed_transient", error_code=SENDER_BUSY, retry_after=MAX_WAIT_SECONDS,
                              error="the sender is at its rate limit for the next minute")
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
    try:
        found = await finder(to=item.message.to, body=item.message.body, since=rt.now() - LOOKBACK)
    except Exception as exc:  # provider unreachable: keep the outcome open
        return SendResult("failed_transient", error_code=item.delivery.error_code,
                          error=f"could not check the earlier attempt: {type(exc).__name__}")
    return SendResult("accepted", provider_id=str(found)) if found else None


async def _record(rt: Runtime, outgoing: list[Outgoing], results: list[SendResult],
                  counts: dict[str, int]) -> list[int]:
    """Saves every provider answer; returns the deliveries to try on their next channel."""
    now = rt.now()
    fallback: list[int] = []
    async with rt.sessions() as session, session.begin():
        accepted: list[tuple[Delivery, dict[str, Any]]] = []
        for item, result in zip(outgoing, results, strict=True):
            delivery = item.delivery
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
                await set_status(session, delivery, DeliveryStatus.PLANNED, now=now, expect=DeliveryStatus.SENDING,
                           due_at=now + timedelta(seconds=result.retry_after or MAX_WAIT_SECONDS),
                           attempts=max(delivery.attempts - 1, 0),
                           status_reason=f"{item.channel} sender at its rate limit: sent later")
                counts["sender_busy"] = counts.get("sender_busy", 0) + 1
                continue
            if result.status == "failed_transient" and delivery.attempts < MAX_TRANSIENT_ATTEMPTS:
                await set_status(session, delivery, DeliveryStatus.PLANNED, now=now, expect=DeliveryStatus.SENDING,
                           due_at=now + backoff(delivery.attempts, result.retry_after),
                           error_code=result.error_code, error=result.error,
                           status_reason=f"retry after a temporary error on {item.channel}")
                counts["retry"] = counts.get("retry", 0) + 1
                continue
            moved = await set_status(session, delivery, DeliveryStatus.QUEUED, now=now, expect=DeliveryStatus.SENDING,
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
