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
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, update
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.channels.base import OutboundMessage, SendResult
from engine.core.catchup import is_overdue
from engine.core.spaced import ReviewState
from engine.core.windows import is_open, next_open
from engine.ratelimit import MAX_WAIT_SECONDS
from engine.services.catalog import PinnedCampaign, load_pinned
from engine.services.compose import Composed, PromptSpec, Skip, compose
from engine.services.context import recipient_for
from engine.services.reach import choose_channel, unreachable_reason
from engine.services.runtime import Runtime
from engine.store.audit import record_audits
from engine.store.base import DeliveryOrigin, DeliveryStatus, EnrollmentStatus, PromptStatus
from engine.store.models import Alert, Delivery, Enrollment, Learner, Prompt, PushToken, ReviewCard

MAX_TRANSIENT_ATTEMPTS = 5
#: Error codes after which the provider may have accepted the message all the same.
AMBIGUOUS_ERRORS = frozenset({"timeout", "network", "adapter_error"})
#: A send handed back because its sender's rate-limit slot was too far away
#: (it would have waited in ``sending``, where the stale-send recovery could
#: take it for a dead worker's and send it a second time).
SENDER_BUSY = "sender_busy"
#: How far back a retry looks for an earlier attempt that went out after all.
LOOKBACK = timedelta(hours=6)
CONVERSATION_GRACE = timedelta(hours=4)
FIRST_PROMPT_CHECK = timedelta(hours=1)
ASKING_KINDS = ("quiz", "review", "survey", "checkin")


@dataclass
class Outgoing:
    delivery: Delivery
    learner: Learner
    channel: str
    message: OutboundMessage
    #: Until marked ``sending``: the composed message and the delivery's new ``rendered``.
    composed: Composed | None = None
    rendered: dict[str, Any] | None = None


def backoff(attempts: int, retry_after: float | None) -> timedelta:
    """30 s, 1 min, 2 min, ... capped at one hour; never sooner than the provider asked."""
    seconds = min(30 * 2 ** max(attempts - 1, 0), 3600)
    return timedelta(seconds=max(seconds, retry_after or 0))


async def _set(session: AsyncSession, delivery: Delivery, to_status: str, *, now: datetime,
               expect: str = DeliveryStatus.QUEUED, **values: Any) -> bool:
    """Compare-and-set one delivery from ``expect``; keeps the ORM object in step.

    ``synchronize_session=False``: the default ("evaluate") scans the whole
    identity map on every UPDATE, quadratic in the batch; the one object that
    changed is updated here instead, as committed state (no second UPDATE at flush).
    """
    result = await session.exec(update(Delivery).where(
        col(Delivery.id) == delivery.id, col(Delivery.status) == expect,
    ).values(status=to_status, updated_at=now, **values).execution_options(synchronize_session=False))
    if not result.rowcount:
        return False
    _in_step(delivery, {"status": to_status, **values})
    await record_audits(session, entity="delivery", entity_ids=[delivery.id or 0], action="dispatch",
                        at=now, from_state=expect, to_state=to_status,
                        detail={k: v for k, v in values.items() if k in ("status_reason", "channel", "error_code")})
    return True



def _in_step(delivery: Delivery, values: dict[str, Any]) -> None:
    """Mirrors values just written by a bulk UPDATE onto the ORM object, as already saved."""
    for key, value in values.items():
        set_committed_value(delivery, key, value)


async def _set_many(session: AsyncSession, items: list[tuple[Delivery, dict[str, Any]]], to_status: str, *,
                    now: datetime, expect: str, **common: Any) -> list[Delivery]:
    """Compare-and-set many deliveries from ``expect`` at once; returns those that moved.

    One ``UPDATE ... WHERE id IN (...) AND status = expect RETURNING id`` decides
    (the rows another worker moved meanwhile are left out), one executemany writes
    each winner's own values (``channel``, ``rendered``, ``provider_id``,
    ``attempts``), one executemany INSERT writes the audit rows: what :func:`_set`
    does per delivery (an UPDATE and an audit INSERT each), in three round trips per batch.
    """
    if not items:
        return []
    ids = [delivery.id for delivery, _ in items]
    result = await session.exec(update(Delivery).where(
        col(Delivery.id).in_(ids), col(Delivery.status) == expect,
    ).values(status=to_status, updated_at=now, **common).returning(col(Delivery.id))
        .execution_options(synchronize_session=False))
    won = set(result.scalars().all())
    moved = [(delivery, values) for delivery, values in items if delivery.id in won]
    if not moved:
        return []
    keys = sorted(moved[0][1])
    if keys:  # every item of one call carries the same keys
        table = Delivery.__table__  # type: ignore[attr-defined]
        details = update(table).where(table.c.id == bindparam("b_id")).values(
            updated_at=now, **{key: bindparam(f"b_{key}") for key in keys})
        await (await session.connection()).execute(details, [
            {"b_id": delivery.id, **{f"b_{key}": values[key] for key in keys}} for delivery, values in moved])
    by_channel: dict[str | None, list[int]] = {}
    for delivery, values in moved:
        _in_step(delivery, {"status": to_status, **common, **values})
        by_channel.setdefault(values.get("channel"), []).append(delivery.id or 0)
    for channel, channel_ids in by_channel.items():
        await record_audits(session, entity="delivery", entity_ids=channel_ids, action="dispatch", at=now,
                            from_state=expect, to_state=to_status,
                            detail={"channel": channel} if channel is not None else {})
    return [delivery for delivery, _ in moved]

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
            decision, item = await _decide(session, rt, delivery, enrollment, learner,
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
    moved = {id(delivery) for delivery in await _set_many(
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
            await _open_prompt(session, item.delivery, item.learner, item.channel, item.composed, now)
        sending.append(item)
    if not counts.get("sending", 1):
        del counts["sending"]
    return sending


async def _decide(session: AsyncSession, rt: Runtime, delivery: Delivery, enrollment: Enrollment,
                  learner: Learner, push_token: str | None, now: datetime) -> tuple[str, Outgoing | None]:
    """One delivery's fate at send time, with the message when it is to be sent."""
    label = await _check(session, rt, delivery, enrollment, learner, now)
    if label is not None:
        return label, None
    return await _choose_and_compose(session, rt, delivery, enrollment, learner, push_token, now)


async def _check(session: AsyncSession, rt: Runtime, delivery: Delivery, enrollment: Enrollment,
                 learner: Learner, now: datetime) -> str | None:
    """Re-checks what may have changed since planning; a label when the delivery is not sent now."""
    if learner.erased_at is not None or enrollment.status in (EnrollmentStatus.STOPPED, EnrollmentStatus.COMPLETED):
        await _set(session, delivery, DeliveryStatus.CANCELLED, now=now, finished_at=now,
                   status_reason="learner erased" if learner.erased_at else f"enrolment {enrollment.status}")
        return "cancelled"
    if enrollment.status == EnrollmentStatus.PAUSED:
        await _set(session, delivery, DeliveryStatus.PLANNED, now=now, status_reason="enrolment paused")
        return "paused"
    pinned = await load_pinned(session, enrollment.campaign_version_id)
    campaign = pinned.campaign
    step = campaign.step(delivery.step_id)
    zone = ZoneInfo(learner.timezone)
    window = campaign.window_for(step) if step else campaign.defaults.window
    if step is not None and step.audience == "at_risk" and not learner.at_risk:
        await _set(session, delivery, DeliveryStatus.SKIPPED, now=now, finished_at=now,
                   status_reason="audience at_risk: learner is not at risk")
        return "skipped"
    if is_overdue(delivery.due_at, now) and delivery.origin == "plan" and step is not None:
        policy = campaign.overdue_for(step)
        expire_after = (step.expire_after or campaign.defaults.expire_after).approx_timedelta()
        if policy == "skip" or (policy == "expire" and now - delivery.due_at > expire_after):
            status = DeliveryStatus.SKIPPED if policy == "skip" else DeliveryStatus.EXPIRED
            await _set(session, delivery, status, now=now, finished_at=now, status_reason=f"overdue ({policy})")
            return str(status)
    conversational = delivery.origin in (DeliveryOrigin.FEEDBACK, DeliveryOrigin.SYSTEM)
    if delivery.recipient != "trainer" and not conversational and not is_open(now, window, zone):
        later = next_open(now, window, zone)
        await _set(session, delivery, DeliveryStatus.PLANNED, now=now, due_at=later,
                   status_reason="outside the send window: moved to the next window")
        return "deferred"
    if delivery.recipient == "trainer":
        return await _trainer_task(session, rt, delivery, learner, enrollment, pinned, now)
    if delivery.kind in ASKING_KINDS and delivery.origin != "feedback":
        waiting = await _conversation_in_progress(session, learner, now)
        if waiting:
            later = next_open(now + timedelta(hours=1), window, zone)
            await _set(session, delivery, DeliveryStatus.PLANNED, now=now, due_at=later,
                       status_reason="learner is answering another question: asked later")
            return "deferred"
    return None


async def _choose_and_compose(session: AsyncSession, rt: Runtime, delivery: Delivery, enrollment: Enrollment,
                              learner: Learner, push_token: str | None,
                              now: datetime) -> tuple[str, Outgoing | None]:
    """Picks the first reachable channel not yet tried, composes, opens the prompt, marks sending."""
    pinned = await load_pinned(session, enrollment.campaign_version_id)
    campaign = pinned.campaign
    step = campaign.step(delivery.step_id)
    tried = list((delivery.rendered or {}).get("tried", []))
    preferences = delivery.channels or (campaign.channels_for(step) if step else campaign.defaults.channels)
    choice = choose_channel(preferences, learner=learner, recipient=delivery.recipient,
                            push_token=push_token, tried=tried,
                            confirmation=delivery.origin == DeliveryOrigin.SYSTEM)
    if choice is None:
        reason = unreachable_reason(preferences, learner=learner, recipient=delivery.recipient, tried=tried)
        status = DeliveryStatus.FAILED if tried else DeliveryStatus.SKIPPED
        await _set(session, delivery, status, now=now, finished_at=now, status_reason=reason)
        return str(status), None
    channel, address = choice
    composed = await _compose(session, rt, delivery, learner, enrollment, pinned, channel, now)
    if isinstance(composed, Skip):
        await _set(session, delivery, DeliveryStatus.SKIPPED, now=now, finished_at=now, status_reason=composed.reason)
        return "skipped", None
    rendered = {**(delivery.rendered or {}), **composed.as_dict(), "tried": tried, "channel": channel}
    message = OutboundMessage(delivery_id=delivery.id or 0, channel=channel, to=address,  # type: ignore[arg-type]
                              body=composed.body, subject=composed.subject, html=composed.html,
                              title=composed.title, link=composed.link,
                              data={"delivery": str(delivery.id)})
    # Marked ``sending`` (compare-and-set) with the rest of the batch: see _mark_sending.
    return "sending", Outgoing(delivery, learner, channel, message, composed, rendered)


async def _conversation_in_progress(session: AsyncSession, learner: Learner, now: datetime) -> bool:
    """True while the learner is answering a question asked recently; older open ones are superseded."""
    prompts = (await session.exec(select(Prompt).where(
        Prompt.learner_id == learner.id, Prompt.status == PromptStatus.OPEN))).all()
    busy = False
    for prompt in prompts:
        if prompt.expires_at <= now:
            prompt.status = PromptStatus.EXPIRED
        elif now - prompt.opened_at < CONVERSATION_GRACE:
            busy = True
            continue
        else:
            prompt.status = PromptStatus.SUPERSEDED
        session.add(prompt)
    return busy


async def _compose(session: AsyncSession, rt: Runtime, delivery: Delivery, learner: Learner,
                   enrollment: Enrollment, pinned: PinnedCampaign, channel: str, now: datetime) -> Composed | Skip:
    step = pinned.campaign.step(delivery.step_id)
    if delivery.kind == "text":  # pre-rendered: feedback, reminders, FAQ answers
        stored = delivery.rendered or {}
        text = stored.get("body") or ""
        spec = stored.get("prompt")
        prompt = PromptSpec(spec["kind"], spec["question_ref"], spec["expectation"], spec.get("queue", []),
                            timedelta(seconds=spec.get("expires_in", 259200))) if spec else None
        if not text:
            return Skip("empty text")
        return Composed(text, subject=pinned.campaign.title, title=pinned.campaign.title, prompt=prompt)
    recipient = await recipient_for(session, rt.settings, delivery=delivery, learner=learner, enrollment=enrollment,
                                    campaign=pinned.campaign)
    cards: dict[str, ReviewState] = {}
    seen: set[str] = set()
    if delivery.kind in ("quiz", "review") and delivery.content_ref:
        rows = (await session.exec(select(ReviewCard).where(
            ReviewCard.learner_id == learner.id, ReviewCard.bank_ref == delivery.content_ref))).all()
        cards = {row.item_id: ReviewState.from_dict(row.state) for row in rows}
        seen = set(cards)
    return compose(campaign=pinned.campaign, step=step, kind=delivery.kind, content_ref=delivery.content_ref,
                   content=pinned.content, channel=channel, recipient=recipient, now=now, cards=cards,
                   seen=seen, occurrence=delivery.occurrence)


async def _open_prompt(session: AsyncSession, delivery: Delivery, learner: Learner, channel: str,
                       composed: Composed, now: datetime) -> None:
    spec = composed.prompt
    assert spec is not None and delivery.id is not None and learner.id is not None
    session.add(Prompt(delivery_id=delivery.id, learner_id=learner.id, enrollment_id=delivery.enrollment_id,
                       step_id=delivery.step_id, channel=channel, kind=spec.kind, question_ref=spec.question_ref,
                       expectation={**spec.expectation, "queue": spec.queue}, opened_at=now,
                       expires_at=now + spec.expires_in,
                       # A first look in an hour: the tick then computes the exact next check.
                       check_at=min(now + FIRST_PROMPT_CHECK, now + spec.expires_in)))


async def _trainer_task(session: AsyncSession, rt: Runtime, delivery: Delivery, learner: Learner,
                        enrollment: Enrollment, pinned: PinnedCampaign, now: datetime) -> str:
    """A task for the trainer lands on the dashboard as an alert of kind 'task'."""
    composed = await _compose(session, rt, delivery, learner, enrollment, pinned, "dashboard", now)
    text = composed.body if isinstance(composed, Composed) else (delivery.content_ref or "")
    session.add(Alert(learner_id=learner.id or 0, enrollment_id=enrollment.id, session_id=enrollment.session_id,
                      kind="task", reason=text, created_at=now))
    await _set(session, delivery, DeliveryStatus.DELIVERED, now=now, channel="dashboard", sent_at=now,
               finished_at=now, rendered={"body": text}, status_reason="task on the trainer dashboard")
    return "task"


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
                await _set(session, delivery, DeliveryStatus.PLANNED, now=now, expect=DeliveryStatus.SENDING,
                           due_at=now + timedelta(seconds=result.retry_after or MAX_WAIT_SECONDS),
                           attempts=max(delivery.attempts - 1, 0),
                           status_reason=f"{item.channel} sender at its rate limit: sent later")
                counts["sender_busy"] = counts.get("sender_busy", 0) + 1
                continue
            if result.status == "failed_transient" and delivery.attempts < MAX_TRANSIENT_ATTEMPTS:
                await _set(session, delivery, DeliveryStatus.PLANNED, now=now, expect=DeliveryStatus.SENDING,
                           due_at=now + backoff(delivery.attempts, result.retry_after),
                           error_code=result.error_code, error=result.error,
                           status_reason=f"retry after a temporary error on {item.channel}")
                counts["retry"] = counts.get("retry", 0) + 1
                continue
            moved = await _set(session, delivery, DeliveryStatus.QUEUED, now=now, expect=DeliveryStatus.SENDING,
                               error_code=result.error_code, error=result.error, rendered=rendered,
                               status_reason=f"{item.channel} failed: trying the next channel")
            if moved:
                fallback.append(delivery.id or 0)
                counts["fallback"] = counts.get("fallback", 0) + 1
        await _set_many(session, accepted, DeliveryStatus.SENT, now=now, expect=DeliveryStatus.SENDING, sent_at=now)
    return fallback


async def _close_prompts(session: AsyncSession, delivery: Delivery) -> None:
    await session.exec(update(Prompt).where(
        col(Prompt.delivery_id) == delivery.id, col(Prompt.status) == PromptStatus.OPEN,
    ).values(status=PromptStatus.SUPERSEDED))
