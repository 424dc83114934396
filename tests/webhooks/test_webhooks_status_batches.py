"""Status callbacks arriving together share one transaction, keep their arrival order, and one bad
callback fails only its own request."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.services.runtime import Runtime
from engine.store.models import AuditEvent, Delivery
from tests.support.seed import Seed
from tests.support.web_support import post_signed
from webhooks import status_writer


def _commits(rt: Runtime) -> list[int]:
    """Counts the commits on the runtime's engine from now on."""
    counted = [0]

    def count(_connection: object) -> None:
        counted[0] += 1

    event.listen(rt.engine.sync_engine, "commit", count)
    return counted


async def test_concurrent_callbacks_share_commits_and_keep_their_order(
        client: httpx.AsyncClient, seed: Seed, rt: Runtime,
        session_maker: async_sessionmaker[AsyncSession]) -> None:
    enrollment = await seed.enrollment()
    deliveries = [await seed.delivery(enrollment=enrollment, status="sending", channel="sms",
                                      provider_id=f"SMbatch{n}") for n in range(12)]
    commits = _commits(rt)

    async def life(n: int) -> None:
        for status in ("queued", "sent", "delivered"):  # one message's callbacks, in order
            form = {"MessageSid": f"SMbatch{n}", "MessageStatus": status, "AccountSid": "AC1"}
            response = await post_signed(client, f"/webhooks/twilio/status?d={deliveries[n].id}", form)
            assert response.status_code == 204

    await asyncio.gather(*(life(n) for n in range(12)))
    async with session_maker() as session:
        stored = [await session.get(Delivery, d.id) for d in deliveries]
        trail = (await session.exec(select(AuditEvent.entity_id, AuditEvent.to_state).where(  # type: ignore[call-overload]
            AuditEvent.action == "status_callback").order_by(AuditEvent.id))).all()
    assert [d.status for d in stored if d is not None] == ["delivered"] * 12
    assert all(d is not None and d.sent_at is not None and d.finished_at is not None for d in stored)
    # Every callback that moved a delivery left its audit row: sent then delivered (queued is not
    # a move from sending), in that order for each delivery.
    by_delivery: dict[int, list[str]] = {}
    for entity_id, to_state in trail:
        by_delivery.setdefault(int(entity_id), []).append(str(to_state))
    assert by_delivery == {d.id: ["sent", "delivered"] for d in deliveries}
    # 36 callbacks, 12 at a time: fewer commits than callbacks.
    assert 0 < commits[0] < 36


async def test_a_failing_callback_fails_alone(
        client: httpx.AsyncClient, seed: Seed, session_maker: async_sessionmaker[AsyncSession],
        monkeypatch: pytest.MonkeyPatch) -> None:
    enrollment = await seed.enrollment()
    good = [await seed.delivery(enrollment=enrollment, status="sent", channel="sms", provider_id=f"SMok{n}")
            for n in range(4)]
    real = status_writer.advance_delivery_status

    async def fragile(session: AsyncSession, **kwargs: object) -> bool:
        if kwargs["provider_id"] == "SMboom":
            raise RuntimeError("a broken row")
        return await real(session, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(status_writer, "advance_delivery_status", fragile)
    forms = [{"MessageSid": f"SMok{n}", "MessageStatus": "delivered", "AccountSid": "AC1"} for n in range(2)]
    forms.append({"MessageSid": "SMboom", "MessageStatus": "delivered", "AccountSid": "AC1"})
    forms += [{"MessageSid": f"SMok{n}", "MessageStatus": "delivered", "AccountSid": "AC1"} for n in range(2, 4)]
    transport = httpx.ASGITransport(app=client._transport.app, raise_app_exceptions=False)  # type: ignore[attr-defined]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as tolerant:
        responses = await asyncio.gather(*(post_signed(tolerant, "/webhooks/twilio/status", form)
                                           for form in forms))
    assert [r.status_code for r in responses] == [204, 204, 500, 204, 204]
    async with session_maker() as session:
        stored = [await session.get(Delivery, d.id) for d in good]
    assert [d.status for d in stored if d is not None] == ["delivered"] * 4


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
async def test_a_batch_never_waits_for_a_row_a_send_job_holds(
        seed: Seed, rt: Runtime, session_maker: async_sessionmaker[AsyncSession]) -> None:
    """A send job recording its wave holds rows (in its own order): the batch applies the others
    and commits, then applies the held row's callbacks on their own once the job lets go. It
    used to wait inside the batch, holding its rows: a deadlock, and the send job aborted."""
    enrollment = await seed.enrollment()
    rows = [await seed.delivery(enrollment=enrollment, status="sending", channel="sms",
                                provider_id=f"SMheld{n}") for n in range(5)]
    held = rows[2]
    updates = [status_writer.StatusUpdate(f"SMheld{n}", status, None, rows[n].id, rt.now())
               for status in ("sent", "delivered") for n in range(5)]
    writer = status_writer.StatusWriter(rt)
    async with session_maker() as job, job.begin():
        await job.exec(select(Delivery.id).where(Delivery.id == held.id).with_for_update())  # type: ignore[call-overload,arg-type]
        applying = asyncio.create_task(writer._apply(updates))
        async with session_maker() as reader:
            for _ in range(100):  # the four free rows are committed while the held one waits
                statuses = {d.id: d.status for d in (await reader.exec(select(Delivery))).scalars()}
                if sum(status == "delivered" for status in statuses.values()) == 4:
                    break
                await asyncio.sleep(0.05)
        assert sorted(statuses.values()) == ["delivered"] * 4 + ["sending"], statuses
        assert statuses[held.id] == "sending" and not applying.done()
    assert await asyncio.wait_for(applying, timeout=5) == [True] * 10
    async with session_maker() as session:
        trail = (await session.exec(select(AuditEvent.to_state).where(  # type: ignore[call-overload]
            AuditEvent.action == "status_callback", AuditEvent.entity_id == held.id)
            .order_by(AuditEvent.id))).scalars().all()
        assert (await session.get(Delivery, held.id)).status == "delivered"  # type: ignore[union-attr]
    assert trail == ["sent", "delivered"]  # its own callbacks, still in order
