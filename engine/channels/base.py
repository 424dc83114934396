"""The one small interface every channel adapter speaks, plus an in-memory fake.

Adapters translate an `OutboundMessage` into one provider call and the
provider's answer into a `SendResult`. Provider failures are data, never
exceptions: the send job decides (retry, fall back to the next channel,
opt the learner out) from the result alone, so a flaky provider can never
crash a worker or leave a delivery in limbo.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Literal, Protocol, runtime_checkable

ChannelName = Literal["sms", "whatsapp", "push", "email", "sandbox"]
SendStatus = Literal["accepted", "failed_permanent", "failed_transient"]
DeliveryStatus = Literal["queued", "sent", "delivered", "undelivered", "failed", "read"]

_EMPTY: Mapping[str, str] = MappingProxyType({})


@dataclass(frozen=True)
class OutboundMessage:
    """A rendered message for one recipient on one channel.

    `to` is an E.164 number (sms, whatsapp), a push registration token, or an
    email address. `delivery_id` travels with the message so that status
    callbacks can be tied back to the `Delivery` row without a lookup by
    provider id.
    """

    delivery_id: int
    channel: ChannelName
    to: str
    body: str
    subject: str | None = None
    html: str | None = None
    title: str | None = None
    link: str | None = None
    data: Mapping[str, str] = field(default_factory=lambda: _EMPTY)
    unsubscribe_url: str | None = None


@dataclass(frozen=True)
class SendResult:
    """What the provider said about one send attempt.

    `failed_transient` means "try again later" (optionally not before
    `retry_after` seconds); `failed_permanent` means this address will not
    work on this channel. `opted_out` and `dead_token` tell the engine to
    stop using the address for good.
    """

    status: SendStatus
    provider_id: str | None = None
    error_code: str | None = None
    error: str | None = None
    opted_out: bool = False
    dead_token: bool = False
    retry_after: float | None = None

    @property
    def accepted(self) -> bool:
        return self.status == "accepted"


@dataclass(frozen=True)
class StatusUpdate:
    """A provider's delivery report, normalised to our delivery statuses."""

    provider_id: str
    delivery_id: int | None
    status: DeliveryStatus
    error_code: str | None = None


@dataclass(frozen=True)
class InboundMessage:
    """A learner's message as received from a provider webhook."""

    provider: str
    provider_id: str
    channel: ChannelName
    sender: str
    recipient: str
    body: str
    received_at: datetime | None = None
    media_count: int = 0


@runtime_checkable
class Channel(Protocol):
    """What the send job needs from any channel."""

    name: str

    async def send(self, message: OutboundMessage) -> SendResult: ...

    async def send_many(self, messages: Sequence[OutboundMessage]) -> list[SendResult]: ...


class ChannelBase:
    """Common defaults: `send_many` loops over `send`; `aclose` does nothing.

    Providers with a real batch API (FCM) override `send_many`.
    """

    name: str = "base"

    async def send(self, message: OutboundMessage) -> SendResult:
        raise NotImplementedError

    async def send_many(self, messages: Sequence[OutboundMessage]) -> list[SendResult]:
        return [await self.send(message) for message in messages]

    async def aclose(self) -> None:
        """Release pooled connections; safe to call more than once."""


def transient(
    error: str, *, code: str | None = None, retry_after: float | None = None
) -> SendResult:
    """Shorthand for a failure worth retrying later."""
    return SendResult("failed_transient", error_code=code, error=error, retry_after=retry_after)


def permanent(
    error: str, *, code: str | None = None, opted_out: bool = False, dead_token: bool = False
) -> SendResult:
    """Shorthand for a failure that retrying will not fix."""
    return SendResult(
        "failed_permanent", error_code=code, error=error, opted_out=opted_out, dead_token=dead_token
    )


class MemoryChannel(ChannelBase):
    """In-memory fake for unit tests of jobs and the engine.

    Records every accepted message in `sent`. Failures are scripted either per
    recipient (`fail_for`, sticky) or as a queue consumed by the next sends
    (`fail_next`).
    """

    def __init__(self, name: str = "sms") -> None:
        self.name = name
        self.sent: list[OutboundMessage] = []
        self.attempts: list[OutboundMessage] = []
        self._by_recipient: dict[str, SendResult] = {}
        self._queue: deque[SendResult] = deque()
        self._ids = itertools.count(1)

    def fail_for(self, to: str, result: SendResult) -> None:
        """Every send to `to` returns `result` until `clear()`."""
        self._by_recipient[to] = result

    def fail_next(self, *results: SendResult) -> None:
        """The next sends (any recipient) return these results, in order."""
        self._queue.extend(results)

    def clear(self) -> None:
        self.sent.clear()
        self.attempts.clear()
        self._by_recipient.clear()
        self._queue.clear()

    async def send(self, message: OutboundMessage) -> SendResult:
        self.attempts.append(message)
        if message.to in self._by_recipient:
            return self._by_recipient[message.to]
        if self._queue:
            scripted = self._queue.popleft()
            if not scripted.accepted:
                return scripted
        self.sent.append(message)
        return SendResult("accepted", provider_id=f"{self.name}-{next(self._ids)}")
