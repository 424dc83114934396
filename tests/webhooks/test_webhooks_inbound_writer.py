"""Group commit: concurrent webhooks share batches, yet each is stored and queued exactly once."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.services.runtime import Runtime
from tests.support.web_support import NOW, Recorder, inbound_events, inbound_form, post_signed
from webhooks.inbound_writer import InboundWriter


async def test_concurrent_webhooks_with_retries_store_each_message_once(
        client: httpx.AsyncClient, recorder: Recorder,
        session_maker: async_sessionmaker[AsyncSession]) -> None:
    sids = [f"SMc{i:03d}" for i in range(40)]
    requests = [post_signed(client, "/webhooks/twilio/sms", inbound_form(sid=sid))
                for sid in sids * 3]  # every message delivered three times, all at once
    responses = await asyncio.gather(*requests)
    assert {r.status_code for r in responses} == {200}
    events = await inbound_events(session_maker)
    assert sorted(e.provider_id for e in events) == sids
    assert sorted(event_id for _, event_id in recorder.calls) == sorted(e.id for e in events)


async def test_a_bad_row_fails_alone(rt: Runtime,
                                     session_maker: async_sessionmaker[AsyncSession]) -> None:
    writer = InboundWriter(rt.engine)

    def row(sid: str, sender: str | None = "+33612345678") -> dict:
        return {"provider": "twilio", "provider_id": sid, "channel": "sms", "sender": sender,
                "received_at": NOW}

    results = await asyncio.gather(
        writer.insert(**row("SMok1")), writer.insert(**row("SMbad", sender=None)),
        writer.insert(**row("SMok2")), writer.insert(**row("SMok1")), return_exceptions=True)
    assert isinstance(results[0], int) and isinstance(results[2], int)
    assert isinstance(results[1], IntegrityError)
    assert results[3] is None  # same key as the first row of the batch: a duplicate
    assert [e.provider_id for e in await inbound_events(session_maker)] == ["SMok1", "SMok2"]
    assert await writer.insert(**row("SMok1")) is None
    await writer.aclose()


@pytest.mark.parametrize("size", [1, 3])
async def test_batches_never_exceed_the_limit(rt: Runtime, size: int) -> None:
    writer = InboundWriter(rt.engine, max_batch=size)
    ids = await asyncio.gather(*(writer.insert(
        provider="app", provider_id=f"k{i}", channel="push", sender="learner:1",
        received_at=NOW) for i in range(7)))
    assert len(set(ids)) == 7 and None not in ids
    await writer.aclose()


async def test_a_lost_connection_costs_no_event(rt: Runtime,
                                                session_maker: async_sessionmaker[AsyncSession]) -> None:
    """PostgreSQL: the writer's kept connection is killed between batches (a database restart,
    a firewall's idle timeout); the next webhook is stored on a fresh one, not failed."""
    writer = InboundWriter(rt.engine)
    first = await writer.insert(provider="twilio", provider_id="SMbefore", channel="sms",
                                sender="+33612345678", received_at=NOW)
    if rt.engine.dialect.name == "postgresql":
        async with rt.engine.connect() as admin:
            killed = (await admin.exec_driver_sql(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()")).scalar_one()
        assert killed >= 1
    second = await writer.insert(provider="twilio", provider_id="SMafter", channel="sms",
                                 sender="+33612345678", received_at=NOW)
    again = await writer.insert(provider="twilio", provider_id="SMbefore", channel="sms",
                                sender="+33612345678", received_at=NOW)
    assert isinstance(first, int) and isinstance(second, int) and again is None
    assert [e.provider_id for e in await inbound_events(session_maker)] == ["SMbefore", "SMafter"]
    await writer.aclose()
