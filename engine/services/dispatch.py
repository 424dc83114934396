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
   *just before its own provider call*, in waves of what the sender's rate
   allows in a second, each marked in one transaction and given its rate-limit
   slots only then (:func:`_send_waves`): a crash leaves in ``sending`` only
   the wave under way, never a whole rate-limited batch. The mark locks the learners again and re-checks that no
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
import logging
from datetime import timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.channels.base import SendResult
from engine.ratelimit import MAX_WAIT_SECONDS
from engine.services.delivery_state import recorded_attempt, set_many, set_status
from engine.services.marking import mark_wave
from engine.services.runtime import Runtime
from engine.services.send_checks import Outgoing, decide, prefetch
from engine.store.base import DeliveryStatus, PromptStatus
from engine.store.models import Delivery, Enrollment, Learner, Prompt, PushToken

log = logging.getLogger("ancrage.dispatch")

MAX_TRANSIENT_ATTEMPTS = 5
#: Error codes after which the provider may have accepted the message all the same.
AMBIGUOUS_ERRORS = frozenset({"timeout", "network", "adapter_error"})
#: The least wait before retrying after an ambiguous error. The provider may still be working
#: through the request we gave up on (a 15 s timeout is our patience, not its deadline): the
#: look-up that decides whether to send again (:func:`_earlier_attempt`) must come after it has
#: answered, or it finds nothing, sends, and the late request makes a second copy.
AMBIGUOUS_SETTLE = timedelta(minutes=2)
#: A send handed back because its sender's rate-limit slot was too far away
#: (it would have waited in ``sending``, where the stale-send recovery could
#: take it for a dead worker's and send it a second time).
SENDER_BUSY = "sender_busy"
#: How far back a retry looks for an earlier attempt that went out after all
#: (when the attempt's own time was not recorded).
LOOKBACK = timedelta(hours=6)
#: A wave of sends is what the sender's rate allows in this time (see _send_waves).
WAVE_SECONDS = 1.0
#: The next wave is marked this long before its first slot.
MARK_LEAD = 0.2
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
        known = await prefetch(session, rows)
        busy: set[int | None] = set()  # learners with a delivery to send this round
        for delivery, enrollment, learner in rows:
            if learner.id in busy:
                # Decided once the earlier one is sending (its question open).
                later.append(delivery.id or 0)
                continue
            decision, item = await decide(session, rt, delivery, enrollment, learner,
                                           tokens.get(learner.id or 0), now, known)
            counts[decision] = counts.get(decision, 0) + 1
            if item is not None:
                outgoing.append(item)
                busy.add(learner.id)
    return outgoing, later


async def _call(rt: Runtime, outgoing: list[Outgoing], counts: dict[str, int]) -> list[SendResult | None]:
    """Every provider call, channel by channel in waves; None for a delivery not ours to send (lost its mark)."""
    results: dict[int, SendResult | None] = {}
    checked = await asyncio.gather(*(_earlier_attempt(rt, rt.channels.get(item.channel), item) for item in outgoing))
    fresh: dict[str, list[Outgoing]] = {}
    found: list[Outgoing] = []
    for item, earlier in zip(outgoing, checked, strict=True):
        if earlier is None:
            fresh.setdefault(item.channel, []).append(item)
        else:
            results[id(item)] = earlier
            if earlier.accepted:
                found.append(item)
    if found:  # the earlier attempt went out: marked, then recorded as sent
        marked = await _mark(rt, found, counts)
        results.update({id(item): None for item in found if id(item) not in marked})
    await asyncio.gather(*(_send_waves(rt, name, items, counts, results) for name, items in fresh.items()))
    return [results[id(item)] for item in outgoing]


async def _send_waves(rt: Runtime, name: str, items: list[Outgoing], counts: dict[str, int],
                      results: dict[int, SendResult | None]) -> None:
    """One channel's sends: mark a wave ``sending``, reserve its rate-limit slots, call at each slot.

    A wave is what the sender's rate allows in :data:`WAVE_SECONDS` (the whole
    list without a limit). The next wave is marked just before the current one's
    last slot, and its slots are reserved only once it is marked: the mark's
    time never bunches calls beyond the rate, and a crash leaves in ``sending``
    only the wave whose calls are under way.
    """
    channel = rt.channels.get(name)
    if channel is None:
        for item in items:
            results[id(item)] = SendResult("failed_permanent", error_code="no_channel",
                                           error=f"channel '{name}' is not configured")
        return
    rate = rt.limiter.rates.get(name) if rt.limiter is not None else None
    size = len(items) if not rate or rate * WAVE_SECONDS >= len(items) else max(1, int(rate * WAVE_SECONDS))
    loop = asyncio.get_running_loop()
    calls: list[asyncio.Task[None]] = []
    mark_at = loop.time()
    busy = False
    for start in range(0, len(items), size):
        wave = items[start:start + size]
        if busy:  # the sender has no slot within a minute: not even marked
            for item in wave:
                results[id(item)] = _sender_busy()
            continue
        await asyncio.sleep(max(mark_at - loop.time(), 0))
        marked = await _mark(rt, wave, counts)
        mine = [item for item in wave if id(item) in marked]
        results.update({id(item): None for item in wave if id(item) not in marked})
        delays = await rt.limiter.reserve(name, len(mine)) if rt.limiter is not None and mine else [0.0] * len(mine)
        now = loop.time()
        for index, item in enumerate(mine):
            if index >= len(delays):  # its slot is over a minute away: handed back, not sent
                results[id(item)] = _sender_busy()
                busy = True
                continue
            calls.append(asyncio.create_task(_send_at(channel, item, now + delays[index], results)))
        if delays and rate:
            mark_at = now + delays[-1] + 1 / rate - MARK_LEAD
    await asyncio.gather(*calls)


async def _mark(rt: Runtime, items: list[Outgoing], counts: dict[str, int]) -> set[int]:
    try:
        return await mark_wave(rt, items, counts)
    except Exception:  # nothing of the wave is marked: it stays queued, the tick hands it out again
        log.exception("marking %d deliveries sending failed; they stay queued", len(items))
        return set()


async def _send_at(channel: Any, item: Outgoing, at: float, results: dict[int, SendResult | None]) -> None:
    await asyncio.sleep(max(at - asyncio.get_running_loop().time(), 0))
    try:
        results[id(item)] = await channel.send(item.message)
    except Exception as exc:  # an adapter bug must not leave the delivery in limbo
        results[id(item)] = SendResult("failed_transient", error_code="adapter_error", error=type(exc).__name__)


def _sender_busy() -> SendResult:
    return SendResult("failed_transient", error_code=SENDER_BUSY, retry_after=MAX_WAIT_SECONDS,
                      error="the sender is at its rate limit for the next minute")


async def _earlier_attempt(rt: Runtime, channel: Any | None, item: Outgoing) -> SendResult | None:
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
                           attempts=delivery.attempts - 1 if item.marked else delivery.attempts,
                           status_reason=f"{item.channel} sender at its rate limit: sent later")
                counts["sender_busy"] = counts.get("sender_busy", 0) + 1
                continue
            if result.status == "failed_transient" and attempts < MAX_TRANSIENT_ATTEMPTS:
                wait = backoff(attempts, result.retry_after)
                if result.error_code in AMBIGUOUS_ERRORS:
                    wait = max(wait, AMBIGUOUS_SETTLE)
                await set_status(session, delivery, DeliveryStatus.PLANNED, now=now, expect=was,
                           due_at=now + wait, attempts=attempts,
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
