"""Email over SMTP with aiosmtplib: text + HTML alternative and one-click unsubscribe.

Gmail and Yahoo require `List-Unsubscribe` with `List-Unsubscribe-Post:
List-Unsubscribe=One-Click` (RFC 8058) from bulk senders; without it our
follow-up mails land in spam. The Message-ID we generate is the provider id,
so bounces and replies (In-Reply-To) can be tied back to the delivery.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formataddr, formatdate, make_msgid

import aiosmtplib

from engine.channels.base import ChannelBase, OutboundMessage, SendResult, permanent, transient


@dataclass(frozen=True)
class SmtpConfig:
    """Relay and sender. `starttls=None` upgrades when the server offers STARTTLS."""

    from_address: str
    from_name: str | None = None
    host: str = "localhost"
    port: int = 587
    username: str | None = None
    password: str | None = None
    starttls: bool | None = None
    use_tls: bool = False
    validate_certs: bool = True
    reply_to: str | None = None
    timeout: float = 30.0


class EmailChannel(ChannelBase):
    """One SMTP transaction per message; the relay does the queuing."""

    name = "email"

    def __init__(self, config: SmtpConfig) -> None:
        self._config = config

    async def send(self, message: OutboundMessage) -> SendResult:
        if "@" not in message.to:
            return permanent("not an email address", code="invalid_address")
        try:
            email = build_email(message, self._config)
        except ValueError as exc:  # e.g. a newline in the subject
            return permanent(f"invalid email: {exc}", code="invalid_message")
        config = self._config
        try:
            await aiosmtplib.send(
                email,
                hostname=config.host,
                port=config.port,
                username=config.username,
                password=config.password,
                start_tls=config.starttls,
                use_tls=config.use_tls,
                validate_certs=config.validate_certs,
                timeout=config.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            refusal = exc.recipients[0] if exc.recipients else None
            return _by_code(
                refusal.code if refusal else 550, refusal.message if refusal else str(exc)
            )
        except (
            aiosmtplib.SMTPSenderRefused,
            aiosmtplib.SMTPAuthenticationError,
            aiosmtplib.SMTPHeloError,
        ) as exc:
            # Our sender, credentials or hostname were refused: ours to fix, not the learner's.
            return transient(exc.message, code=str(exc.code))
        except aiosmtplib.SMTPResponseException as exc:
            return _by_code(exc.code, exc.message)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            return transient(f"SMTP connection failed: {type(exc).__name__}", code="network")
        return SendResult("accepted", provider_id=str(email["Message-ID"]))


def build_email(message: OutboundMessage, config: SmtpConfig) -> EmailMessage:
    """The MIME message: plain text body, optional HTML alternative, tracking headers."""
    email = EmailMessage()
    email["Subject"] = message.subject or message.title or ""
    email["From"] = formataddr((config.from_name or "", config.from_address))
    email["To"] = message.to
    if config.reply_to:
        email["Reply-To"] = config.reply_to
    email["Date"] = formatdate(usegmt=True)
    # An explicit domain: make_msgid() would otherwise resolve our hostname.
    email["Message-ID"] = make_msgid(domain=config.from_address.rpartition("@")[2] or "localhost")
    email["X-Ancrage-Delivery"] = str(message.delivery_id)
    if message.unsubscribe_url:
        email["List-Unsubscribe"] = f"<{message.unsubscribe_url}>"
        email["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    email.set_content(message.body)
    if message.html:
        email.add_alternative(message.html, subtype="html")
    return email


def _by_code(code: int, text: str) -> SendResult:
    """5xx: the server will never take it (unknown user, rejected); 4xx: try later."""
    if 500 <= code < 600:
        return permanent(text, code=str(code))
    return transient(text, code=str(code))
