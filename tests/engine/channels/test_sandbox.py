"""The sandbox accepts everything and hands it to its sink."""

from __future__ import annotations

import re

from engine.channels.base import OutboundMessage
from engine.channels.sandbox import SandboxChannel, SandboxRecord

MESSAGE = OutboundMessage(delivery_id=5, channel="sms", to="+33612345678", body="Bonjour")


async def test_default_outbox_keeps_messages() -> None:
    sandbox = SandboxChannel()
    result = await sandbox.send(MESSAGE)

    assert result.accepted
    assert re.fullmatch(r"sandbox-[0-9a-f-]{36}", str(result.provider_id))
    assert sandbox.outbox == [SandboxRecord(str(result.provider_id), MESSAGE)]


async def test_injected_sink_receives_records() -> None:
    stored: list[SandboxRecord] = []

    async def sink(record: SandboxRecord) -> None:
        stored.append(record)

    sandbox = SandboxChannel(sink, name="sms")
    results = await sandbox.send_many([MESSAGE, MESSAGE])

    assert sandbox.name == "sms"
    assert sandbox.outbox == []
    assert [r.message for r in stored] == [MESSAGE, MESSAGE]
    assert [r.provider_id for r in stored] == [r.provider_id for r in results]
    assert len({r.provider_id for r in results}) == 2


async def test_failing_sink_is_a_transient_failure() -> None:
    async def sink(record: SandboxRecord) -> None:
        raise ConnectionError("database down")

    result = await SandboxChannel(sink).send(MESSAGE)
    assert (result.status, result.error_code) == ("failed_transient", "sink_error")
