"""A channel that sends nothing: it hands each message to a sink and accepts it.

Used for the demo, for campaign dry runs and for organisations without
provider accounts yet. The sink is injected so the engine can persist what
"would have been sent" (and show it in the dashboard) instead of losing it.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from engine.channels.base import ChannelBase, OutboundMessage, SendResult, transient


@dataclass(frozen=True)
class SandboxRecord:
    """What the sandbox would have sent, under which provider id."""

    provider_id: str
    message: OutboundMessage


SandboxSink = Callable[[SandboxRecord], Awaitable[None]]


class SandboxChannel(ChannelBase):
    """Always accepts with provider id "sandbox-<uuid>"; keeps records in `outbox`
    unless a `sink` is given.

    `name` may be set to the channel it stands in for ("sms", "push", ...) so
    that the rest of the engine cannot tell the difference.
    """

    def __init__(self, sink: SandboxSink | None = None, *, name: str = "sandbox") -> None:
        self.name = name
        self.outbox: list[SandboxRecord] = []
        self._sink: SandboxSink = sink or self._keep

    async def _keep(self, record: SandboxRecord) -> None:
        self.outbox.append(record)

    async def send(self, message: OutboundMessage) -> SendResult:
        record = SandboxRecord(provider_id=f"sandbox-{uuid.uuid4()}", message=message)
        try:
            await self._sink(record)
        except Exception as exc:  # a failing sink (database down) must not crash the send job
            return transient(f"sandbox sink failed: {type(exc).__name__}", code="sink_error")
        return SendResult("accepted", provider_id=record.provider_id)
