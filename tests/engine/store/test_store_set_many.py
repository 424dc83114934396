"""A send wave's compare-and-set (``set_many``): only rows still in the expected state
move, each with its own values, with one audit row each, on both backends."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.services.delivery_state import set_many
from engine.store import AuditEvent, Delivery
from tests.support.seed import T0, Seed


async def test_only_rows_still_expected_move_each_with_its_values(session: AsyncSession, seed: Seed) -> None:
    enrollment = await seed.enrollment()
    first = await seed.delivery(enrollment=enrollment, due_at=T0, status="queued")
    taken = await seed.delivery(enrollment=enrollment, due_at=T0, status="sending")  # another worker's
    third = await seed.delivery(enrollment=enrollment, due_at=T0, status="queued")
    await session.commit()
    untouched = (taken.attempts, taken.rendered)
    items = [(d, {"channel": "sms", "attempts": n + 1, "rendered": {"body": f"é {n}", "tried": ["sms"]}})
             for n, d in enumerate([first, taken, third])]

    moved = await set_many(session, items, "sending", now=T0, expect="queued", claimed_at=T0)
    await session.commit()

    assert [d.id for d in moved] == [first.id, third.id]
    session.expunge_all()
    rows = {d.id: d for d in (await session.exec(select(Delivery))).all()}
    assert (rows[first.id].status, rows[first.id].attempts, rows[first.id].rendered) == (
        "sending", 1, {"body": "é 0", "tried": ["sms"]})
    assert (rows[third.id].status, rows[third.id].attempts, rows[third.id].rendered) == (
        "sending", 3, {"body": "é 2", "tried": ["sms"]})
    assert rows[third.id].claimed_at == T0 and rows[third.id].channel == "sms"
    assert (rows[taken.id].status, rows[taken.id].attempts, rows[taken.id].rendered) == (
        "sending", *untouched)
    audits = (await session.exec(select(AuditEvent).where(col(AuditEvent.action) == "dispatch")
                                 .order_by(col(AuditEvent.entity_id)))).all()
    assert [(a.entity_id, a.from_state, a.to_state, a.detail) for a in audits] == [
        (first.id, "queued", "sending", {"channel": "sms"}), (third.id, "queued", "sending", {"channel": "sms"})]


async def test_nothing_moves_when_every_row_was_taken(session: AsyncSession, seed: Seed) -> None:
    enrollment = await seed.enrollment()
    sent = await seed.delivery(enrollment=enrollment, due_at=T0, status="sent")
    await session.commit()
    assert await set_many(session, [(sent, {"provider_id": "SM1"})], "sent", now=T0, expect="sending") == []
    assert (await session.exec(select(AuditEvent).where(col(AuditEvent.action) == "dispatch"))).all() == []
