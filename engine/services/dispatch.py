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

A slow call does not hold its batch. Once every call still running has been in
flight for :data:`DETACH_AFTER`, the round records the others and goes on; the
slow ones are recorded as each ends, and only their learners wait for them
(their next deliveries are decided after), so the campaign's per-learner order
holds. A provider's 15-second timeout once held all 250 learners of a batch,
round after round. A learner whose message is to be retried after a temporary
error gets nothing more from the batch: their next messages go back to
``planned``, where the claim's per-learner hold keeps them behind the retry. Rounds take each learner's messages in the order they are due.

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
from dataclasses import dataclass
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
from engine.store.audit import record_audits
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
#: Why a message went back to ``planned`` without being tried.
BEHIND_RETRY = "waiting for an earlier message of the learner, to be retried"
#: A call in flight this long no longer holds its round: the others are recorded and the
#: round goes on; it is recorded when it ends, and only its learner waits for it. Calls to
#: providers take a fraction of a second; a slow one may take the client's whole timeout.
DETACH_AFTER = 2.0


@dataclass(eq=False)
class _Call:
    """One provider call: its delivery, its task, when it reached the provider (loop time)."""

    item: Outgoing
    task: asyncio.Task[None] | None = None
    started: float | None = None
    result: SendResult | None = None


def backoff(attempts: int, retry_after: float | None) -> timedelta:
    """30 s, 1 min, 2 min, ... capped at one hour; never sooner than the provider asked."""
    seconds = min(30 * 2 ** max(attempts - 1, 0), 3600)
    return timedelta(seconds=max(seconds, retry_after or 0))


async def _load(session: AsyncSession, ids: list[int], postgres: bool) -> list[tuple[Delivery, Enrollment, Learner]]:
    statement = (select(Delivery, Enrollment, Learner)
                 .join(Enrollment, col(Enrollment.id) == col(Delivery.enrollment_id))
                 .join(Learner, col(Learner.id) == col(Delivery.learner_id))
                 .where(col(Delivery.id).in_(ids), col(Delivery.status) == DeliveryStatus.QUEUED)
                 .order_by(col(Delivery.due_at), col(Delivery.id)))
    if postgres:
        statement = statement.with_for_update(of=Learner, skip_locked=True)
    return [tuple(row) for row in (await session.exec(statement)).all()]  # type: ignore[misc]


async def send_batch(rt: Runtime, delivery_ids: list[int]) -> dict[str, int]:
    """Sends these queued deliveries; returns counts by outcome (for logs and benchmarks)."""
    slow: list[_Call] = []  # calls detached from their round, still in flight
    try:
        return await _rounds(rt, list(delivery_ids), slow)
    finally:  # cancelled (a job timeout, a shutdown): no call outlives its job
        for call in slow:
            if call.task is not None:
                call.task.cancel()


async def _rounds(rt: Runtime, pending: list[int], slow: list[_Call]) -> dict[str, int]:
    counts: dict[str, int] = {}
    learner_of: dict[int, int] = {}  # delivery id -> learner id, as loaded
    retrying: set[int] = set()  # learners with a message to be retried: nothing more for them here
    rounds = 0
    # Each round falls back to the next channel for permanent failures and takes the
    # learners' next deliveries; what is left after the last round stays ``queued``
    # and the tick's requeue hands it out again. A learner with a slow call waits for it.
    while pending or slow:
        behind = {i for i in pending if learner_of.get(i) in retrying}
        if behind:
            await _hand_back(rt, sorted(behind))
            pending = [i for i in pending if i not in behind]
        held = {call.item.learner.id for call in slow}
        ready = [i for i in pending if learner_of.get(i) not in held]
        if ready and rounds < MAX_ROUNDS:
            rounds += 1
            outgoing, later = await _prepare(rt, ready, counts, learner_of)
            finished, detached = await _call(rt, outgoing, counts)
            fallback = await _record(rt, [c.item for c in finished], [c.result for c in finished], counts, retrying)
            pending = sorted(set(pending) - set(ready) | set(later) | set(fallback))
            slow.extend(detached)
        elif slow:
            await asyncio.wait([call.task for call in slow if call.task is not None],
                               return_when=asyncio.FIRST_COMPLETED)
        else:
            break
        ended = [call for call in slow if call.task is not None and call.task.done()]
        if ended:
            slow[:] = [call for call in slow if call not in ended]
            fallback = await _record(rt, [c.item for c in ended], [c.result for c in ended], counts, retrying)
            pending = sorted(set(pending) | set(fallback))
    return counts


async def _hand_back(rt: Runtime, ids: list[int]) -> None:
    """``queued → planned``, due as they were, for messages behind a retry of their learner's:
    the claim's per-learner hold then keeps them until the retry is settled."""
    now = rt.now()
    async with rt.sessions() as session, session.begin():
        result = await session.exec(update(Delivery).where(
            col(Delivery.id).in_(ids), col(Delivery.status) == DeliveryStatus.QUEUED,
        ).values(status=DeliveryStatus.PLANNED, updated_at=now, status_reason=BEHIND_RETRY)
            .returning(col(Delivery.id)).execution_options(synchronize_session=False))
        moved = sorted(int(i) for i in result.scalars().all())
        await record_audits(session, entity="delivery", entity_ids=moved, action="dispatch", at=now,
                            from_state=DeliveryStatus.QUEUED, to_state=DeliveryStatus.PLANNED,
                            detail={"status_reason": BEHIND_RETRY})


async def _prepare(rt: Runtime, ids: list[int], counts: dict[str, int],
                   learner_of: dict[int, int]) -> tuple[list[Outgoing], list[int]]:
    """Decides and composes; returns what to send and the deliveries left for the next round
    (``learner_of`` gets each loaded delivery's learner)."""
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
            learner_of[delivery.id or 0] = learner.id or 0
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


async def _call(rt: Runtime, outgoing: list[Outgoing], counts: dict[str, int]) -> tuple[list[_Call], list[_Call]]:
    """Every provider call, channel by channel in waves: the calls that ended, and those
    detached still in flight (:func:`_settle`). A result of None: not ours to send (lost its mark)."""
    calls = [_Call(item) for item in outgoing]
    checked = await asyncio.gather(*(_earlier_attempt(rt, rt.channels.get(item.channel), item) for item in outgoing))
    fresh: dict[str, list[_Call]] = {}
    found: list[_Call] = []
    for call, earlier in zip(calls, checked, strict=True):
        if earlier is None:
            fresh.setdefault(call.item.channel, []).append(call)
        else:
            call.result = earlier
            if earlier.accepted:
                found.append(call)
    if found:  # the earlier attempt went out: marked, then recorded as sent
        marked = await _mark(rt, [call.item for call in found], counts)
        for call in found:
            if id(call.item) not in marked:
                call.result = None
    await asyncio.gather(*(_send_waves(rt, name, group, counts) for name, group in fresh.items()))
    detached = await _settle([call for call in calls if call.task is not None])
    return [call for call in calls if call not in detached], detached


async def _settle(calls: list[_Call]) -> list[_Call]:
    """Waits for the calls until those still running have all been in flight :data:`DETACH_AFTER`;
    returns those (a call waiting for its rate-limit slot is waited for).

    One wait for all of them at a time, up to the moment they could all be detached: a wait
    woken by each call's end cost a callback per running call, per end (quadratic in the batch).
    """
    loop = asyncio.get_running_loop()
    while True:
        running = [call for call in calls if call.task is not None and not call.task.done()]
        if not running:
            return []
        now = loop.time()
        starts = [call.started for call in running if call.started is not None]
        if len(starts) == len(running) and now - max(starts) >= DETACH_AFTER:
            return running
        wake = max(starts) + DETACH_AFTER - now if len(starts) == len(running) else 0.25
        await asyncio.wait([call.task for call in running if call.task is not None], timeout=max(wake, 0.01))


async def _send_waves(rt: Runtime, name: str, calls: list[_Call], counts: dict[str, int]) -> None:
    """One channel's sends: mark a wave ``sending``, reserve its rate-limit slots, start a call at each slot.

    A wave is what the sender's rate allows in :data:`WAVE_SECONDS` (the whole
    list without a limit). The next wave is marked just before the current one's
    last slot, and its slots are reserved only once it is marked: the mark's
    time never bunches calls beyond the rate, and a crash leaves in ``sending``
    only the wave whose calls are under way. Returns once the last wave's calls
    are started (each call's ``task``).
    """
    channel = rt.channels.get(name)
    if channel is None:
        for call in calls:
            call.result = SendResult("failed_permanent", error_code="no_channel",
                                     error=f"channel '{name}' is not configured")
        return
    rate = rt.limiter.rates.get(name) if rt.limiter is not None else None
    size = len(calls) if not rate or rate * WAVE_SECONDS >= len(calls) else max(1, int(rate * WAVE_SECONDS))
    loop = asyncio.get_running_loop()
    mark_at = loop.time()
    busy = False
    for start in range(0, len(calls), size):
        wave = calls[start:start + size]
        if busy:  # the sender has no slot within a minute: not even marked
            for call in wave:
                call.result = _sender_busy()
            continue
        await asyncio.sleep(max(mark_at - loop.time(), 0))
        marked = await _mark(rt, [call.item for call in wave], counts)
        mine = [call for call in wave if id(call.item) in marked]
        for call in wave:
            if id(call.item) not in marked:
                call.result = None
        delays = await rt.limiter.reserve(name, len(mine)) if rt.limiter is not None and mine else [0.0] * len(mine)
        now = loop.time()
        for index, call in enumerate(mine):
            if index >= len(delays):  # its slot is over a minute away: handed back, not sent
                call.result = _sender_busy()
                busy = True
                continue
            call.task = asyncio.create_task(_send_at(channel, call, now + delays[index]))
        if delays and rate:
            mark_at = now + delays[-1] + 1 / rate - MARK_LEAD


async def _mark(rt: Runtime, items: list[Outgoing], counts: dict[str, int]) -> set[int]:
    try:
        return await mark_wave(rt, items, counts)
    except Exception:  # nothing of the wave is marked: it stays queued, the tick hands it out again
        log.exception("marking %d deliveries sending failed; they stay queued", len(items))
        return set()


async def _send_at(channel: Any, call: _Call, at: float) -> None:
    loop = asyncio.get_running_loop()
    await asyncio.sleep(max(at - loop.time(), 0))
    call.started = loop.time()
    try:
        call.result = await channel.send(call.item.message)
    except Exception as exc:  # an adapter bug must not leave the delivery in limbo
        call.result = SendResult("failed_transient", error_code="adapter_error", error=type(exc).__name__)


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
                  counts: dict[str, int], retrying: set[int]) -> list[int]:
    """Saves every provider answer; returns the deliveries to try on their next channel
    (``retrying`` gets the learners of those to be retried later).

    A delivery that never got as far as ``sending`` (no channel, sender busy, the
    earlier attempt could not be checked) changes from ``queued``.
    """
    if not outgoing:
        return []
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
                retrying.add(item.learner.id or 0)
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
