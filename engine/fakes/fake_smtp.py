"""A local SMTP server (aiosmtpd) that records what it receives and refuses on cue.

It speaks real SMTP on loopback, so the email channel runs aiosmtplib end to
end: EHLO, MAIL, RCPT (where refusals happen, as with real relays), DATA.
"""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from engine.fakes.server import free_port

USER_UNKNOWN = "550 5.1.1 Recipient address rejected: User unknown"
MAILBOX_BUSY = "451 4.3.0 Temporary local problem, try again later"


@dataclass(frozen=True)
class ReceivedEmail:
    """One accepted message as the relay saw it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    raw: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(self.raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class FakeSmtp:
    """Records messages in `received`; `refuse()` scripts per-recipient RCPT replies."""

    def __init__(self) -> None:
        self.received: list[ReceivedEmail] = []
        self.refusals: dict[str, str] = {}
        self.data_reply: str | None = None

    def refuse(self, address: str, reply: str = USER_UNKNOWN) -> None:
        """Answer RCPT TO:<address> with `reply` (use MAILBOX_BUSY for a 4xx)."""
        self.refusals[address.lower()] = reply

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        refusal = self.refusals.get(address.lower())
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.data_reply:
            return self.data_reply
        content: Any = envelope.original_content or envelope.content
        raw = content if isinstance(content, bytes) else str(content).encode()
        self.received.append(ReceivedEmail(str(envelope.mail_from), tuple(envelope.rcpt_tos), raw))
        return "250 2.0.0 Ok: queued"

    @contextmanager
    def running(self, host: str = "127.0.0.1") -> Iterator[tuple[str, int]]:
        """Serve on a free loopback port until the block exits; yields (host, port)."""
        controller = Controller(self, hostname=host, port=free_port(host))
        controller.start()
        try:
            yield host, controller.port
        finally:
            controller.stop()
