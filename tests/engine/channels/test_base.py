"""Shared types, the Protocol and the in-memory fake."""

from __future__ import annotations

import dataclasses

import pytest

from engine.channels.base import (
    Channel,
    ChannelBase,
    MemoryChannel,
    OutboundMessage,
    SendResult,
    permanent,
    transient,
)
from engine.channels.email import EmailChannel, SmtpConfig
from engine.channels.sandbox import SandboxChannel
from engine.channels.twilio import TwilioChannel, TwilioConfig


def message(to: str = "+33612345678", delivery_id: int = 1) -> OutboundMessage:
    return OutboundMessage(delivery_id=delivery_id, channel="sms", to=to, body="Bonjour")


def test_value_objects_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        message().body = "changed"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        SendResult("accepted").status = "failed_permanent"  # type: ignore[misc]
    assert dict(message().data) == {}


def test_result_shorthands() -> None:
    assert transient("busy", retry_after=3) == SendResult(
        "failed_transient", error="busy", retry_after=3
    )
    assert permanent("gone", code="21610", opted_out=True).opted_out
    assert not permanent("gone").accepted


def test_adapters_satisfy_the_protocol() -> None:
    adapters: list[object] = [
        MemoryChannel(),
        SandboxChannel(),
        EmailChannel(SmtpConfig(from_address="a@b.fr")),
        TwilioChannel(TwilioConfig("AC1", "t", from_number="+33757000000")),
    ]
    assert all(isinstance(adapter, Channel) for adapter in adapters)


async def test_base_send_many_loops_in_order() -> None:
    class Echo(ChannelBase):
        name = "echo"

        async def send(self, message: OutboundMessage) -> SendResult:
            return SendResult("accepted", provider_id=str(message.delivery_id))

    results = await Echo().send_many([message(delivery_id=i) for i in (3, 1, 2)])
    assert [r.provider_id for r in results] == ["3", "1", "2"]


async def test_memory_channel_records_and_scripts_failures() -> None:
    channel = MemoryChannel("sms")
    opted_out = permanent("unsubscribed", code="21610", opted_out=True)
    channel.fail_for("+33600000000", opted_out)
    channel.fail_next(transient("timeout"))

    first = await channel.send(message())
    second = await channel.send(message())
    third = await channel.send(message("+33600000000"))

    assert first.status == "failed_transient"
    assert second.accepted and second.provider_id == "sms-1"
    assert third == opted_out
    assert channel.sent == [message()]
    assert len(channel.attempts) == 3

    channel.clear()
    assert (await channel.send(message("+33600000000"))).accepted
