"""What a reply does, rule by rule: keywords, matching, clarification, late replies, unknown
senders, questions to the trainers, alerts, branching and silence. In-process, on both backends."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlmodel import select

from engine.channels.base import MemoryChannel
from engine.services.inbound import process_inbound
from engine.services.testimonials import testimonial_rows
from engine.store import models
from engine.store.inbound import store_inbound_event
from engine.store.models import Alert, Delivery, InboundEvent, Learner, Prompt, Reply, Ticket
from tests.support.engine_harness import Engine, add_session, make_engine, write_campaign

PARIS = ZoneInfo("Europe/Paris")
SESSION_END = datetime(2026, 3, 24, 17, 0, tzinfo=PARIS)  # Tuesday
PHONE = "+33612345678"
CAMPAIGN = """
campaign: rules
title: Rules
faq_autoreply: true
defaults: {channels: [sms, email], window: {from: "09:00", to: "19:00"}}
steps:
  - id: quiz
    at: +1d 10:00
    quiz: management/quiz-sbi
    ask: 2
    if:
      - score_below: 0.5
        then: [{lesson: management/feedback-sbi-recap, at: +1d}, {mark: at_risk}]
    on_silence: {after: 1d, remind: 1, then: {alert: trainer, reason: "Quiz sans reponse"}}
  - id: plan
    at: +3d 10:00
    checkin: plan-action
    if:
      - answer: bloque
        then: {alert: trainer, reason: "Plan d'action bloque"}
  - id: tip
    at: +6d 10:00
    lesson: management/astuce-02
  - id: call
    at: +7d 10:00
    to: trainer
    task: "Appeler {{ learner.first_name }}"
    audience: at_risk
"""


async def _engine(store_url: str, tmp_path: Path) -> tuple[Engine, dict[str, MemoryChannel]]:
    channels = {"sms": MemoryChannel("sms"), "email": MemoryChannel("email")}
    folder = tmp_path / "campaigns"
    write_campaign(folder, CAMPAIGN)
    engine = await make_engine(store_url, tmp_path, folder, start=SESSION_END, channels=dict(channels))
    await add_session(engine, title="Manager coach", ends_at=SESSION_END, campaigns=["rules"],
                      learners=[{"first_name": "Camille", "last_name": "Martin", "phone": PHONE,
                                 "email": "camille@example.fr"}])
    return engine, channels


_sids = iter(range(10_000))


async def _reply(engine: Engine, body: str, *, sender: str = PHONE, channel: str = "sms") -> str:
    async with engine.rt.sessions() as session, session.begin():
        event, _ = await store_inbound_event(session, provider="twilio", provider_id=f"SM{next(_sids)}",
                                             channel=channel, sender=sender, received_at=engine.clock.now,
                                             body=body)
    outcome = await process_inbound(engine.rt, event.id or 0)
    await engine.tick()
    return outcome


async def _rows(engine: Engine, model: type, **where: object) -> list:  # type: ignore[type-arg]
    async with engine.rt.sessions() as session:
        statement = select(model)
        for key, value in where.items():
            statement = statement.where(getattr(model, key) == value)
        return list((await session.exec(statement)).all())


async def _to_quiz(engine: Engine) -> None:
    await engine.run_until(datetime(2026, 3, 25, 10, 0, tzinfo=PARIS), step=timedelta(hours=1))


async def test_stop_opts_out_of_that_channel_only(store_url: str, tmp_path: Path) -> None:
    engine, channels = await _engine(store_url, tmp_path)
    await _to_quiz(engine)
    assert await _reply(engine, "Stop !") == "opted out"
    [learner] = await _rows(engine, Learner)
    assert learner.opted_out_sms_at is not None
    assert "ne recevrez plus" in channels["sms"].sent[-1].body  # the one confirmation
    sms_before = len(channels["sms"].sent)
    await engine.run_until(datetime(2026, 3, 31, 12, 0, tzinfo=PARIS), step=timedelta(hours=2))
    assert len(channels["sms"].sent) == sms_before, "an SMS went out after STOP"
    tip = (await _rows(engine, Delivery, step_id="tip"))[0]
    assert tip.status == "sent" and tip.channel == "email"
    assert await _reply(engine, "START") == "opted in"
    [learner] = await _rows(engine, Learner)
    assert learner.opted_out_sms_at is None


async def test_help_and_unknown_sender(store_url: str, tmp_path: Path) -> None:
    engine, channels = await _engine(store_url, tmp_path)
    await _to_quiz(engine)
    assert await _reply(engine, "AIDE") == "help"
    assert "STOP" in channels["sms"].sent[-1].body
    sent = len(channels["sms"].sent)
    assert await _reply(engine, "B", sender="+33799999999") == "unknown sender"
    assert len(channels["sms"].sent) == sent
    [event] = [e for e in await _rows(engine, InboundEvent) if e.sender == "+33799999999"]
    assert event.status == "ignored" and event.error == "unknown sender"


async def test_ambiguous_gets_one_clarification_then_moves_on(store_url: str, tmp_path: Path) -> None:
    engine, channels = await _engine(store_url, tmp_path)
    await _to_quiz(engine)
    assert await _reply(engine, "A ou B ?") == "clarification asked"
    assert "une seule lettre" in channels["sms"].sent[-1].body
    assert (await _reply(engine, "je sais pas")).startswith("gave_up")
    assert "Quiz" not in channels["sms"].sent[-1].body and "Répondez A" in channels["sms"].sent[-1].body


async def test_quiz_failure_branches_marks_at_risk_and_tasks_the_trainer(store_url: str, tmp_path: Path) -> None:
    engine, channels = await _engine(store_url, tmp_path)
    await _to_quiz(engine)
    [prompt] = await _rows(engine, Prompt, status="open")
    bank = (await _content(engine)).banks["management/quiz-sbi"]
    for _ in range(2):
        [prompt] = await _rows(engine, Prompt, status="open")
        item = bank.item(prompt.question_ref.split("#")[1])
        assert item is not None
        wrong = "ABCD"[(item.answer_index + 1) % len(item.choices)]
        await _reply(engine, wrong)
    assert channels["sms"].sent[-1].body.startswith("Pas tout à fait")
    [learner] = await _rows(engine, Learner)
    assert learner.at_risk
    recap = [d for d in await _rows(engine, Delivery, origin="branch")]
    assert [d.content_ref for d in recap] == ["management/feedback-sbi-recap"]
    await engine.run_until(datetime(2026, 3, 31, 12, 0, tzinfo=PARIS), step=timedelta(hours=2))
    call = (await _rows(engine, Delivery, step_id="call"))[0]
    assert call.status == "delivered" and call.channel == "dashboard"
    tasks = await _rows(engine, Alert, kind="task")
    assert tasks and tasks[0].reason == "Appeler Camille"
    cards = [r for r in await _rows(engine, Reply) if r.correct is False]
    assert len(cards) == 2


async def test_silence_reminds_once_then_alerts(store_url: str, tmp_path: Path) -> None:
    engine, channels = await _engine(store_url, tmp_path)
    await _to_quiz(engine)
    await engine.run_until(datetime(2026, 3, 27, 12, 0, tzinfo=PARIS), step=timedelta(hours=1))
    reminders = [m for m in channels["sms"].sent if m.body.startswith("Petit rappel")]
    assert len(reminders) == 1
    alerts = await _rows(engine, Alert, kind="branch")
    assert [a.reason for a in alerts] == ["Quiz sans reponse"]


async def test_checkin_blocked_alerts_the_trainer(store_url: str, tmp_path: Path) -> None:
    engine, _ = await _engine(store_url, tmp_path)
    await engine.run_until(datetime(2026, 3, 27, 10, 0, tzinfo=PARIS), step=timedelta(hours=1))
    assert [p.step_id for p in await _rows(engine, Prompt, status="open")] == ["plan"]
    assert (await _reply(engine, "je suis bloqué")).startswith("answered")
    reasons = [a.reason for a in await _rows(engine, Alert)]
    assert "Plan d'action bloque" in reasons


async def test_late_reply_is_thanked_not_graded(store_url: str, tmp_path: Path) -> None:
    engine, channels = await _engine(store_url, tmp_path)
    # The check-in of Friday 10:00 accepts replies for 3 days; on Tuesday nothing is open.
    await engine.run_until(datetime(2026, 3, 31, 12, 0, tzinfo=PARIS), step=timedelta(hours=3))
    assert await _rows(engine, Prompt, status="open") == []
    assert await _reply(engine, "B") == "late reply"
    assert "question est close" in channels["sms"].sent[-1].body
    assert [r.kind for r in await _rows(engine, Reply)] == ["late"]


async def test_message_without_open_question_is_a_ticket_with_faq(store_url: str, tmp_path: Path) -> None:
    engine, channels = await _engine(store_url, tmp_path)
    engine.clock.set(SESSION_END + timedelta(minutes=5))
    await engine.tick()
    outcome = await _reply(engine, "Bonjour, je n'ai pas reçu mon attestation de formation")
    assert outcome.startswith("ticket")
    [ticket] = await _rows(engine, Ticket)
    assert ticket.faq_entry_id is not None and ticket.status == "open"
    assert ticket.due_by == ticket.created_at + timedelta(hours=48)
    assert ticket.acknowledged_at is not None
    if ticket.auto_answered:  # the FAQ's answer and the acknowledgement: one message
        assert channels["sms"].sent[-1].body.endswith("vous répondra sous 48 h."), "auto-answered but nothing sent"
    await _reply(engine, "C'est inadmissible, je veux un remboursement")
    assert [a.kind for a in await _rows(engine, Alert)] == ["complaint"]


async def test_redelivered_event_is_processed_once(store_url: str, tmp_path: Path) -> None:
    engine, _ = await _engine(store_url, tmp_path)
    await _to_quiz(engine)
    async with engine.rt.sessions() as session, session.begin():
        event, created = await store_inbound_event(session, provider="twilio", provider_id="SMdup",
                                                   channel="sms", sender=PHONE, received_at=engine.clock.now,
                                                   body="B")
        again, created_again = await store_inbound_event(session, provider="twilio", provider_id="SMdup",
                                                         channel="sms", sender=PHONE,
                                                         received_at=engine.clock.now, body="B")
    assert created and not created_again and again.id == event.id
    first = await process_inbound(engine.rt, event.id or 0)
    assert await process_inbound(engine.rt, event.id or 0) == "already processed"
    assert first.startswith("answered")
    assert len(await _rows(engine, Reply)) == 1


async def _content(engine: Engine):  # type: ignore[no-untyped-def]
    return engine.catalog.library


async def test_a_ticket_is_acknowledged_at_once_on_the_learners_channel(store_url: str, tmp_path: Path) -> None:
    """Indicator 31: the learner hears at once that a trainer will answer; the register shows when."""
    engine, channels = await _engine(store_url, tmp_path)
    engine.clock.set(SESSION_END + timedelta(minutes=5))
    await engine.tick()
    sent_before = len(channels["sms"].sent)
    assert await _reply(engine, "Mon manager refuse que je teste le feedback") == "ticket"
    [ticket] = await _rows(engine, Ticket)
    assert ticket.acknowledged_at is not None and ticket.first_response_at is None  # a human has not answered
    [ack] = channels["sms"].sent[sent_before:]
    assert ack.body == ("Bien arrivé ! Votre message est transmis à votre formateur, "
                        "qui vous répondra sous 48 h.") and ack.to == PHONE


async def test_a_learner_withdraws_testimonial_consent_by_reply(store_url: str, tmp_path: Path) -> None:
    engine, channels = await _engine(store_url, tmp_path)
    engine.clock.set(SESSION_END + timedelta(minutes=5))
    await engine.tick()
    [learner] = await _rows(engine, Learner)
    async with engine.rt.sessions() as session, session.begin():
        session.add(models.Testimonial(learner_id=learner.id or 0, text="Formation très utile", scope="website",
                                named=True, consent_at=engine.clock.now, approved_at=engine.clock.now))
    async with engine.rt.sessions() as session:
        assert len(await testimonial_rows(session, website_only=True, approved_only=True)) == 1
    assert await _reply(engine, "Je retire mon témoignage svp") == "testimonial consent withdrawn"
    [item] = await _rows(engine, models.Testimonial)
    assert item.withdrawn_at is not None
    assert "votre témoignage est retiré" in channels["sms"].sent[-1].body
    async with engine.rt.sessions() as session:
        assert await testimonial_rows(session) == []  # out of every export at once
    assert await _rows(engine, Ticket) == []
