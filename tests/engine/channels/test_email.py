"""aiosmtplib against a local aiosmtpd relay: MIME structure, headers, refusals."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from engine.channels.base import OutboundMessage
from engine.channels.email import EmailChannel, SmtpConfig
from engine.fakes.fake_smtp import MAILBOX_BUSY, FakeSmtp
from engine.fakes.server import free_port

LEARNER = "camille.martin@example.fr"


@pytest.fixture
def fake() -> FakeSmtp:
    return FakeSmtp()


@pytest.fixture
def channel(fake: FakeSmtp) -> Iterator[EmailChannel]:
    with fake.running() as (host, port):
        yield EmailChannel(
            SmtpConfig(
                from_address="suivi@ancrage.example.org",
                from_name="Ancrage — Suivi de formation",
                host=host,
                port=port,
                reply_to="formateurs@ancrage.example.org",
                timeout=5.0,
            )
        )


def mail(to: str = LEARNER, html: str | None = "<p>Votre <b>fiche mémo</b></p>") -> OutboundMessage:
    return OutboundMessage(
        delivery_id=314,
        channel="email",
        to=to,
        body="Votre fiche mémo : https://ancrage.example.org/m/1",
        subject="Fiche mémo — Feedback SBI",
        html=html,
        unsubscribe_url="https://ancrage.example.org/u/tok123",
    )


async def test_multipart_with_one_click_unsubscribe(fake: FakeSmtp, channel: EmailChannel) -> None:
    result = await channel.send(mail())

    assert result.accepted
    [received] = fake.received
    assert received.rcpt_tos == (LEARNER,)
    assert received.mail_from == "suivi@ancrage.example.org"
    email = received.message
    assert email["Message-ID"] == result.provider_id
    assert str(result.provider_id).endswith("@ancrage.example.org>")
    assert email["Subject"] == "Fiche mémo — Feedback SBI"
    assert email["From"].addresses[0].display_name == "Ancrage — Suivi de formation"
    assert email["Reply-To"] == "formateurs@ancrage.example.org"
    assert email["List-Unsubscribe"] == "<https://ancrage.example.org/u/tok123>"
    assert email["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert email["X-Ancrage-Delivery"] == "314"
    assert email.get_content_type() == "multipart/alternative"
    parts = [part.get_content_type() for part in email.iter_parts()]
    assert parts == ["text/plain", "text/html"]
    assert "fiche mémo" in email.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "<b>fiche mémo</b>" in email.get_body(("html",)).get_content()  # type: ignore[union-attr]


async def test_text_only_without_html(fake: FakeSmtp, channel: EmailChannel) -> None:
    assert (await channel.send(mail(html=None))).accepted
    assert fake.received[0].message.get_content_type() == "text/plain"


async def test_unknown_recipient_is_permanent(fake: FakeSmtp, channel: EmailChannel) -> None:
    fake.refuse(LEARNER)
    result = await channel.send(mail())
    assert (result.status, result.error_code) == ("failed_permanent", "550")
    assert fake.received == []


async def test_greylisting_is_transient(fake: FakeSmtp, channel: EmailChannel) -> None:
    fake.refuse(LEARNER, MAILBOX_BUSY)
    result = await channel.send(mail())
    assert (result.status, result.error_code) == ("failed_transient", "451")


async def test_content_rejected_at_data_is_permanent(fake: FakeSmtp, channel: EmailChannel) -> None:
    fake.data_reply = "554 5.7.1 Message rejected as spam"
    result = await channel.send(mail())
    assert (result.status, result.error_code) == ("failed_permanent", "554")


async def test_relay_down_is_transient() -> None:
    channel = EmailChannel(
        SmtpConfig(
            from_address="a@ancrage.example.org", host="127.0.0.1", port=free_port(), timeout=2
        )
    )
    result = await channel.send(mail())
    assert (result.status, result.error_code) == ("failed_transient", "network")


async def test_not_an_address_fails_without_connecting() -> None:
    channel = EmailChannel(SmtpConfig(from_address="a@ancrage.example.org", port=free_port()))
    result = await channel.send(mail(to="+33612345678"))
    assert (result.status, result.error_code) == ("failed_permanent", "invalid_address")


async def test_header_injection_is_refused(channel: EmailChannel) -> None:
    bad = OutboundMessage(
        delivery_id=1, channel="email", to=LEARNER, body="x", subject="Hi\nBcc: all@example.org"
    )
    result = await channel.send(bad)
    assert (result.status, result.error_code) == ("failed_permanent", "invalid_message")
