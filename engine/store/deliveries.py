"""Delivery state changes: claiming due rows, compare-and-set transitions and
provider status callbacks.

Every change is a conditional UPDATE (``... WHERE status IN (...)``), so two
workers, a retried job or a redelivered webhook can race freely: exactly one
wins and the others see ``False``/an empty claim. Functions never commit; the
caller's transaction makes the change and its audit row atomic.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import and_, exists, func, or_, update
from sqlalchemy.orm import aliased
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.store.audit import record_audit, record_audits
from engine.store.base import DeliveryOrigin, DeliveryStatus, EnrollmentStatus, Recipient
from engine.store.models_campaigns import Enrollment
from engine.store.models_messages import Delivery
from engine.store.types import utc_now

_CAS_RETRIES = 5
_PROTECTED_FIELDS = frozenset({"id", "status", "updated_at"})
_DELIVERY_COLUMNS = frozenset(Delivery.__table__.columns.keys())  # type: ignore[attr-defined]

#: Forward order of a send as providers report it; a callback never moves back.
_PROGRESS = {
    DeliveryStatus.QUEUED: 1,
    DeliveryStatus.SENDING: 2,
    DeliveryStatus.SENT: 3,
    DeliveryStatus.DELIVERED: 4,
    DeliveryStatus.READ: 5,
}
#: Provider vocabulary (Twilio, FCM, SMTP adapters) mapped to ours.
_PROVIDER_STATUSES = {
    "accepted": DeliveryStatus.QUEUED,
    "scheduled": DeliveryStatus.QUEUED,
    "queued": DeliveryStatus.QUEUED,
    "sending": DeliveryStatus.SENDING,
    "sent": DeliveryStatus.SENT,
    "delivered": DeliveryStatus.DELIVERED,
    "read": DeliveryStatus.READ,
    "failed": DeliveryStatus.FAILED,
    "undelivered": DeliveryStatus.FAILED,
}


def _is_postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"


async def claim_due_deliveries(
    session: AsyncSession, *, now: datetime, limit: int, worker_id: str
) -> list[Delivery]:
    """The claimed rows as ORM objects (see :func:`claim_due_ids`, which the tick uses)."""
    ids = await claim_due_ids(session, now=now, limit=limit, worker_id=worker_id)
    if not ids:
        return []
    rows = (await session.exec(
        select(Delivery).where(col(Delivery.id).in_(ids)).execution_options(populate_existing=True))).all()
    return sorted(rows, key=lambda delivery: (delivery.due_at, delivery.id or 0))


async def claim_due_ids(
    session: AsyncSession, *, now: datetime, limit: int, worker_id: str
) -> list[int]:
    """Move up to ``limit`` due ``planned`` rows of active enrolments to ``queued``.

    PostgreSQL: ``SELECT ... FOR UPDATE SKIP LOCKED`` then ``UPDATE`` those ids, so
    concurrent ticks take disjoint rows. (Not one ``UPDATE ... WHERE id IN
    (SELECT ... SKIP LOCKED LIMIT n)``: PostgreSQL may re-run that subquery and
    update more than ``n`` rows.) SQLite: one ``UPDATE ... WHERE id IN (SELECT
    ... LIMIT n) RETURNING`` under its single-writer lock; the ``status =
    'planned'`` re-check makes a claimer that waited skip what the previous one
    took. Commit promptly: the rows stay locked until then.
    """
    if limit <= 0:
        return []
    candidates = (
        select(Delivery.id)
        .join(Enrollment, col(Enrollment.id) == col(Delivery.enrollment_id))
        .where(
            col(Delivery.status) == DeliveryStatus.PLANNED,
            col(Delivery.due_at) <= now,
            col(Enrollment.status) == EnrollmentStatus.ACTIVE,
            ~_held_behind_earlier(),
        )
        .order_by(col(Delivery.due_at), col(Delivery.id))
        .limit(limit)
    )
    chosen: Any
    if _is_postgres(session):
        locked = candidates.with_for_update(skip_locked=True, of=Delivery)
        chosen = list((await session.exec(locked)).all())
        if not chosen:
            return []
    else:
        chosen = candidates.scalar_subquery()
    statement = (
        update(Delivery)
        .where(
            col(Delivery.id).in_(chosen),
            col(Delivery.status) == DeliveryStatus.PLANNED,
        )
        .values(status=DeliveryStatus.QUEUED, claimed_by=worker_id, claimed_at=now, updated_at=now)
        .returning(col(Delivery.id), col(Delivery.due_at))
        # Only ids come back (no ORM objects: the send job loads what it sends).
        .execution_options(synchronize_session=False)
    )
    claimed = sorted((await session.exec(statement)).all(), key=lambda row: (row[1], row[0]))
    await record_audits(
        session,
        entity="delivery",
        entity_ids=[int(row[0]) for row in claimed],
        action="claim",
        at=now,
        from_state=DeliveryStatus.PLANNED,
        to_state=DeliveryStatus.QUEUED,
        detail={"worker": worker_id},
    )
    return [int(row[0]) for row in claimed]


def _held_behind_earlier() -> Any:
    """A learner's message waits while an earlier one of the same enrolment is still on its way.

    The per-learner order of a campaign holds even when a send is delayed: its job
    lost with a killed worker (``queued`` until re-enqueued), its call cut (``sending``
    until recovery settles it), or a retry waiting out its backoff (``planned`` again,
    ``attempts > 0``). "Earlier" is an earlier ``due_at``, or, for a message
    already tried (in flight again or retrying): any message not tried yet, or a
    tried one of a later row. A retry's ``due_at`` is the retry's time, maybe later
    than the next message's, and ids are not the campaign's order either (a
    review's date moves with the learner's answers); two tried messages wait for
    each other in row order, so none waits forever. Rows due together are claimed together (no hold between
    them: one claim sees none of them in flight). Feedback (the answer to a reply)
    and messages to managers or trainers are neither held nor holding.
    """
    in_flight, retrying = aliased(Delivery), aliased(Delivery)
    # Two EXISTS, each matching one partial index exactly (ix_delivery_in_flight, ix_delivery_retrying):
    # one EXISTS with an OR probed every row of the enrolment, and its cost estimate set off JIT.
    return and_(
        col(Delivery.recipient) == Recipient.LEARNER,
        col(Delivery.origin) != DeliveryOrigin.FEEDBACK,
        or_(
            exists().where(
                col(in_flight.enrollment_id) == col(Delivery.enrollment_id),
                col(in_flight.status).in_([DeliveryStatus.QUEUED, DeliveryStatus.SENDING]),
                or_(col(in_flight.due_at) < col(Delivery.due_at),
                    and_(col(in_flight.attempts) > 0,
                         or_(col(in_flight.id) < col(Delivery.id), col(Delivery.attempts) == 0))),
                col(in_flight.recipient) == Recipient.LEARNER,
                col(in_flight.origin) != DeliveryOrigin.FEEDBACK,
            ),
            exists().where(
                col(retrying.enrollment_id) == col(Delivery.enrollment_id),
                col(retrying.status) == DeliveryStatus.PLANNED,
                col(retrying.attempts) > 0,
                or_(col(retrying.id) < col(Delivery.id), col(Delivery.attempts) == 0),
                col(retrying.recipient) == Recipient.LEARNER,
                col(retrying.origin) != DeliveryOrigin.FEEDBACK,
            ),
        ),
    )


async def transition_delivery(
    session: AsyncSession,
    *,
    delivery_id: int,
    from_statuses: Collection[str],
    to_status: str,
    now: datetime | None = None,
    unchanged: Mapping[str, Any] | None = None,
    **fields: Any,
) -> bool:
    """Compare-and-set a delivery's status (plus ``fields``); ``False`` if another actor won.

    The audit row records the exact state left. ``now`` (default: wall clock)
    stamps ``updated_at`` and the audit row, so simulations keep their clock.
    ``unchanged`` (column → value read earlier) makes the change apply only to
    that very version of the row: the status alone does not tell one attempt
    from the next (``sending`` again after a retry), ``attempts`` and
    ``updated_at`` do. Scalar columns are compared in the ``UPDATE``'s
    ``WHERE``, JSON ones (``rendered``) on the row read just before it.
    """
    unknown = set(fields) - (_DELIVERY_COLUMNS - _PROTECTED_FIELDS)
    if unknown:
        raise TypeError(f"not settable on a delivery: {sorted(unknown)}")
    return await _compare_and_set(
        session,
        delivery_id=delivery_id,
        allowed_from=frozenset(DeliveryStatus(status) for status in from_statuses),
        to_status=DeliveryStatus(to_status),
        now=now or utc_now(),
        values=fields,
        action="transition",
        unchanged=unchanged,
    )


async def advance_delivery_status(
    session: AsyncSession,
    *,
    provider_id: str,
    status: str,
    error_code: str | None = None,
    now: datetime | None = None,
    delivery_id: int | None = None,
) -> bool:
    """Apply a provider status callback only if it moves the delivery forward.

    Callbacks arrive in any order and may repeat: "delivered" after "read" or a
    late "sent" are ignored; failed/undelivered end a send that has not been
    confirmed delivered. A callback may also beat the send's own commit of the
    provider id: with ``delivery_id`` (our id, carried in the signed callback
    URL) the delivery still ``sending`` without a provider id takes this one, and
    the send job's later ``sending → sent`` then finds it already further on.
    ``False`` when ignored or when no delivery can be found.
    """
    target = _PROVIDER_STATUSES.get(status.strip().lower())
    if target is None:
        return False
    moment = now or utc_now()
    found_row = (
        await session.exec(
            select(Delivery.id, Delivery.status).where(col(Delivery.provider_id) == provider_id).limit(1)
        )
    ).first()
    row, known = (found_row[0], DeliveryStatus(found_row[1])) if found_row is not None else (None, None)
    if row is None and delivery_id is not None:
        claimed = await session.exec(
            update(Delivery)
            .where(
                col(Delivery.id) == delivery_id,
                col(Delivery.provider_id).is_(None),
                col(Delivery.status).in_([DeliveryStatus.QUEUED, DeliveryStatus.SENDING]),
            )
            .values(provider_id=provider_id)
            .returning(col(Delivery.id))
            .execution_options(synchronize_session=False)
        )
        found = claimed.first()
        row = found[0] if found is not None else None
    if row is None:
        return False
    if target == DeliveryStatus.FAILED:
        allowed_from = frozenset(
            {DeliveryStatus.QUEUED, DeliveryStatus.SENDING, DeliveryStatus.SENT}
        )
    else:
        allowed_from = frozenset(s for s, rank in _PROGRESS.items() if rank < _PROGRESS[target])
    values: dict[str, Any] = {}
    if error_code is not None:
        values["error_code"] = error_code
    if target == DeliveryStatus.FAILED and status.strip().lower() != "failed":
        values["status_reason"] = status.strip().lower()
    if target in (DeliveryStatus.SENT, DeliveryStatus.DELIVERED, DeliveryStatus.READ):
        values["sent_at"] = func.coalesce(col(Delivery.sent_at), moment)
    if target in (DeliveryStatus.DELIVERED, DeliveryStatus.READ, DeliveryStatus.FAILED):
        values["finished_at"] = func.coalesce(col(Delivery.finished_at), moment)
    return await _compare_and_set(
        session,
        delivery_id=row,
        allowed_from=allowed_from,
        to_status=target,
        now=moment,
        values=values,
        action="status_callback",
        detail={"provider_status": status, "error_code": error_code},
        known=known,
    )


async def find_stale_sending(session: AsyncSession, *, older_than: datetime) -> list[Delivery]:
    """Deliveries stuck in ``sending`` since before ``older_than`` (crashed worker).

    The caller decides between retrying and failing them: the provider may or
    may not have accepted the message before the crash.
    """
    statement = (
        select(Delivery)
        .where(
            col(Delivery.status) == DeliveryStatus.SENDING,
            col(Delivery.updated_at) < older_than,
        )
        .order_by(col(Delivery.updated_at), col(Delivery.id))
    )
    return list((await session.exec(statement)).all())


async def _compare_and_set(
    session: AsyncSession,
    *,
    delivery_id: int,
    allowed_from: frozenset[DeliveryStatus],
    to_status: DeliveryStatus,
    now: datetime,
    values: dict[str, Any],
    action: str,
    detail: dict[str, Any] | None = None,
    unchanged: Mapping[str, Any] | None = None,
    known: DeliveryStatus | None = None,
) -> bool:
    # Read the current state, then update only if it is still that state: the
    # audit row then knows exactly which state was left. A concurrent change
    # makes the UPDATE match nothing, and we look again (unless the change must
    # apply to one version of the row: then another version means no). ``known``:
    # the status the caller has just read, which saves the first read.
    expected = dict(unchanged or {})
    table = Delivery.__table__  # type: ignore[attr-defined]
    scalar = {key: value for key, value in expected.items() if not isinstance(value, dict | list)}
    guards = [table.c[key].is_(None) if value is None else table.c[key] == value for key, value in scalar.items()]
    for attempt in range(1 if expected else _CAS_RETRIES):
        if attempt == 0 and known is not None and not expected:
            current = known
        else:
            row = (
                await session.exec(select(table.c.status, table.c.id,
                                          *[table.c[key] for key in expected]).where(table.c.id == delivery_id))
            ).first()
            if row is None:
                return False
            current = row[0]
            if any(row[index + 2] != value for index, value in enumerate(expected.values())):
                return False
        if current not in allowed_from:
            return False
        statement = (
            update(Delivery)
            .where(col(Delivery.id) == delivery_id, col(Delivery.status) == current, *guards)
            .values(status=to_status, updated_at=now, **values)
            .returning(col(Delivery.id))
            .execution_options(synchronize_session="fetch")
        )
        if (await session.exec(statement)).first() is None:
            continue
        await record_audit(
            session,
            entity="delivery",
            entity_id=delivery_id,
            action=action,
            at=now,
            from_state=current,
            to_state=to_status,
            detail={k: v for k, v in (detail or {}).items() if v is not None},
        )
        return True
    return False
