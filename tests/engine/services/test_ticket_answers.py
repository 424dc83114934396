"""A trainer's answer to a learner's question: sent once, on a channel that works.

The answer-sending use case (``engine.services.tickets.answer_ticket``), the
one the API and the dashboard call: the same idempotency key (or the same
text) records and sends nothing new; a question that came by WhatsApp or push
is answered there when it works, else the send job falls back to SMS, e-mail.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlmodel import select

from engine.channels.base import MemoryChannel, SendResult
from engine.services.tickets import TicketNotFound, answer_ticket
from engine.store.models import Delivery, InboundEvent, Ticket, TicketMessage
from tests.support.engine_harness import Engine, add_session, make_engine, write_campaign

PARIS = ZoneInfo("Europe/Paris")
END = datetime(2026, 3, 24, 17, 0, tzinfo=PARIS)  # a Tuesday
CAMPAIGN = """
campaign: suivi
title: Suivi
defaults:
  channels: [push, email]
steps:
  - id: welcome
    at: +30d
    message: "Bonjour"
"""
PHONE = "+33612345678"


async def _engine(store_url: str, tmp_path: Path, channels: dict[str, MemoryChannel]) -> Engine:
    write_campaign(tmp_path / "campaigns", CAMPAIGN)
    engine = await make_engine(store_url, tmp_path, tmp_path / "campaigns", start=END + timedelta(minutes=5),
                               channels=dict(channels))
    await add_session(engine, title="Sécurité", ends_at=END, campaigns=["suivi"],
                      learners=[{"first_name": "Ana", "last_name": "A", "phone": PHONE, "email": "ana@example.fr"}])
    await engine.tick()  # enrols
    return engine


async def _ticket(engine: Engine, channel: str) -> int:
    async with engine.rt.sessions() as session, session.begin():
        event = InboundEvent(provider="twilio", provider_id=f"SM-{channel}", channel=channel, sender=PHONE,
                             body="Où est mon attestation ?", received_at=engine.clock.now, learner_id=1)
        session.add(event)
        await session.flush()
        ticket = Ticket(learner_id=1, inbound_event_id=event.id, body=event.body, created_at=engine.clock.now,
                        due_by=engine.clock.now + timedelta(hours=48))
        session.add(ticket)
        await session.flush()
        return ticket.id or 0


async def _answer(engine: Engine, ticket_id: int, text: str, key: str | None) -> tuple[int | None, bool]:
    async with engine.rt.sessions() as session, session.begin():
        done = await answer_ticket(session, ticket_id=ticket_id, author_trainer_id=None, text=text,
                                   idempotency_key=key, now=engine.clock.now)
        return done.delivery_id, done.replayed


async def test_a_repeated_answer_is_recorded_and_sent_once(store_url: str, tmp_path: Path) -> None:
    sms = MemoryChannel("sms")
    engine = await _engine(store_url, tmp_path, {"sms": sms, "email": MemoryChannel("email")})
    ticket_id = await _ticket(engine, "sms")
    first = await _answer(engine, ticket_id, "Elle part ce soir.", "key-1")
    assert first[0] is not None and not first[1]
    assert await _answer(engine, ticket_id, "Elle part ce soir.", "key-1") == (first[0], True)
    assert await _answer(engine, ticket_id, "Autre texte, même clé", "key-1") == (first[0], True)
    # without a key, the same text twice is one answer; another text is another answer
    derived = await _answer(engine, ticket_id, "Merci  de votre patience.", None)
    assert await _answer(engine, ticket_id, "Merci de votre patience.", None) == (derived[0], True)
    other = await _answer(engine, ticket_id, "Et bonne journée.", None)
    assert not other[1] and len({first[0], derived[0], other[0]}) == 3
    await engine.tick()
    async with engine.rt.sessions() as session:
        answers = (await session.exec(select(TicketMessage))).all()
    assert len(answers) == 3
    assert [m.body for m in sms.sent] == ["Elle part ce soir.", "Merci  de votre patience.", "Et bonne journée."]
    try:
        await _answer(engine, 999, "?", None)
    except TicketNotFound:
        pass
    else:
        raise AssertionError("an unknown ticket must raise TicketNotFound")


async def test_a_question_asked_by_whatsapp_falls_back_to_sms(store_url: str, tmp_path: Path) -> None:
    whatsapp, sms = MemoryChannel("whatsapp"), MemoryChannel("sms")
    whatsapp.fail_for(PHONE, SendResult("failed_permanent", error_code="63024", error="not on WhatsApp"))
    engine = await _engine(store_url, tmp_path, {"whatsapp": whatsapp, "sms": sms, "email": MemoryChannel("email")})
    ticket_id = await _ticket(engine, "whatsapp")
    delivery_id, _ = await _answer(engine, ticket_id, "Bonjour Ana, voici la réponse.", None)
    await engine.tick()
    async with engine.rt.sessions() as session:
        delivery = await session.get(Delivery, delivery_id)
    assert delivery is not None
    assert [m.to for m in whatsapp.attempts] == [PHONE]
    assert [(m.to, m.body) for m in sms.sent] == [(PHONE, "Bonjour Ana, voici la réponse.")]
    assert (delivery.status, delivery.channel) == ("sent", "sms")
    assert delivery.rendered is not None and delivery.rendered["tried"] == ["whatsapp", "sms"]


async def test_a_question_asked_by_push_without_a_device_goes_by_the_next_channel(store_url: str,
                                                                                 tmp_path: Path) -> None:
    push, sms = MemoryChannel("push"), MemoryChannel("sms")
    engine = await _engine(store_url, tmp_path, {"push": push, "sms": sms, "email": MemoryChannel("email")})
    ticket_id = await _ticket(engine, "push")  # the app's token was disabled since
    delivery_id, _ = await _answer(engine, ticket_id, "Réponse par SMS.", None)
    await engine.tick()
    async with engine.rt.sessions() as session:
        delivery = await session.get(Delivery, delivery_id)
    assert delivery is not None and (delivery.channel, delivery.status) == ("sms", "sent")
    assert delivery.channels[:3] == ["push", "sms", "email"]
    assert push.attempts == [] and [m.body for m in sms.sent] == ["Réponse par SMS."]
