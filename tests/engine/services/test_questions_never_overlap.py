"""Questions never trample each other (issue 8 part 2, issue 7 item 5), in-process on both backends.

The reported scenario: quiz question 3 answered "zut" earns a clarification; a review
question comes due an hour later and must wait (visible on the delivery's history);
the learner's "D" is graded for the quiz, nothing is superseded, and the review goes
out once the quiz is done. A delivery requeued after a crash or a transient error is
never held back by the prompt it opened itself.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlmodel import select

from engine.campaign.schema import SendWindow
from engine.channels.base import MemoryChannel
from engine.core.questions import RESUME_AFTER, resumes_at
from engine.services.dispatch import send_batch
from engine.services.inbound import process_inbound
from engine.store.inbound import store_inbound_event
from engine.store.models import Alert, AuditEvent, Delivery, Learner, Prompt, Reply
from tests.support.engine_harness import Engine, add_session, make_engine, write_campaign
from tests.support.overlap import overlap_campaign

PARIS = ZoneInfo("Europe/Paris")
SESSION_END = datetime(2026, 3, 24, 17, 0, tzinfo=PARIS)  # a Tuesday
PHONE = "+33612345678"
CAMPAIGN = overlap_campaign("overlap")
CAMPAIGN_WINDOW = SendWindow.model_validate({"from": "09:00", "to": "19:00"})
_sids = iter(range(100_000))


async def _engine(store_url: str, tmp_path: Path) -> tuple[Engine, MemoryChannel]:
    sms = MemoryChannel("sms")
    folder = tmp_path / "campaigns"
    write_campaign(folder, CAMPAIGN)
    engine = await make_engine(store_url, tmp_path, folder, start=SESSION_END, channels={"sms": sms})
    await add_session(engine, title="Manager coach", ends_at=SESSION_END, campaigns=["overlap"],
                      learners=[{"first_name": "Camille", "last_name": "Martin", "phone": PHONE}])
    return engine, sms


async def _reply(engine: Engine, body: str) -> str:
    async with engine.rt.sessions() as session, session.begin():
        event, _ = await store_inbound_event(session, provider="twilio", provider_id=f"SM{next(_sids)}",
                                             channel="sms", sender=PHONE, received_at=engine.clock.now, body=body)
    outcome = await process_inbound(engine.rt, event.id or 0)
    await engine.tick()
    return outcome


async def _all(engine: Engine, model: type) -> list:  # type: ignore[type-arg]
    async with engine.rt.sessions() as session:
        return list((await session.exec(select(model).order_by(model.id))).all())  # type: ignore[attr-defined]


async def test_the_reported_scenario_loses_no_answer(store_url: str, tmp_path: Path) -> None:
    engine, sms = await _engine(store_url, tmp_path)
    await engine.run_until(datetime(2026, 3, 25, 10, 0, tzinfo=PARIS), step=timedelta(hours=1))
    assert await _reply(engine, "A") == "answered; next question"
    assert await _reply(engine, "B") == "answered; next question"
    # The learner comes back to question 3 in the afternoon, more than four hours later.
    await engine.run_until(datetime(2026, 3, 25, 14, 0, tzinfo=PARIS), step=timedelta(hours=1))
    assert await _reply(engine, "zut") == "clarification asked"
    assert sms.sent[-1].body.startswith("Je n'ai pas bien compris")

    await engine.run_until(datetime(2026, 3, 25, 15, 30, tzinfo=PARIS), step=timedelta(minutes=30))
    review = (await engine.deliveries(step_id="revisions", origin="plan"))[0]
    assert review.status == "planned" and review.due_at > engine.clock.now
    assert "learner is answering another question" in (review.status_reason or "")
    history = [a for a in await _all(engine, AuditEvent) if a.entity == "delivery" and a.entity_id == review.id]
    assert any("answering another question" in str(a.detail) for a in history)
    assert not any(m.body.startswith("Révision") for m in sms.sent)

    [q3] = [p for p in await _all(engine, Prompt) if p.status == "open"]
    last_letter = "ABCDEF"[len(q3.expectation["choices"]) - 1]  # "D" when the item has four choices
    assert await _reply(engine, last_letter) == "answered; step done"
    quiz_prompts = [p for p in await _all(engine, Prompt) if p.kind == "quiz"]
    assert [p.status for p in quiz_prompts] == ["answered"] * 3
    replies = await _all(engine, Reply)
    assert [r.raw_text for r in replies] == ["A", "B", last_letter] and all(r.kind == "quiz" for r in replies)

    # Released by the answer: it goes out RESUME_AFTER later, not at the next hourly look.
    answered_at = engine.clock.now
    [held] = await engine.deliveries(id=review.id)
    assert held.status == "planned" and held.waits_for_prompt_id is None
    assert held.due_at == answered_at + RESUME_AFTER, (held.due_at, answered_at)
    await engine.run_until(answered_at + timedelta(minutes=5), step=timedelta(minutes=1))
    [sent] = await engine.deliveries(id=review.id)
    assert sent.status == "sent" and sent.sent_at == answered_at + RESUME_AFTER
    assert any(m.body.startswith("Révision") for m in sms.sent)
    await engine.run_until(datetime(2026, 3, 25, 18, 0, tzinfo=PARIS), step=timedelta(minutes=30))
    assert [p.status for p in await _all(engine, Prompt) if p.kind == "review"] == ["open"]
    assert all(p.status != "superseded" for p in await _all(engine, Prompt))


async def test_a_question_held_behind_an_unanswered_one_waits_for_its_deadline_not_every_hour(
        store_url: str, tmp_path: Path) -> None:
    """A silent learner: the review waits for the quiz question's deadline, looked at once (it
    was looked at again every hour: a claim, a decision and two audit rows each time), then
    goes out when that question closes unanswered."""
    engine, sms = await _engine(store_url, tmp_path)
    await engine.run_until(datetime(2026, 3, 25, 15, 30, tzinfo=PARIS), step=timedelta(minutes=30))
    [quiz] = [p for p in await _all(engine, Prompt) if p.status == "open"]
    review = (await engine.deliveries(step_id="revisions", origin="plan"))[0]
    assert review.status == "planned" and review.waits_for_prompt_id == quiz.id
    assert review.due_at == resumes_at(quiz.expires_at, CAMPAIGN_WINDOW, PARIS)
    # It expires on Saturday 28 March: the review goes out on Monday, at the window's opening.
    await engine.run_until(datetime(2026, 3, 30, 9, 0, tzinfo=PARIS), step=timedelta(hours=6))
    [closed] = [p for p in await _all(engine, Prompt) if p.id == quiz.id]
    assert closed.status == "expired"
    history = [a for a in await _all(engine, AuditEvent) if a.entity == "delivery" and a.entity_id == review.id]
    assert sum("answering another question" in str(a.detail) for a in history) == 1, [a.detail for a in history]
    assert sum(a.action == "claim" for a in history) == 2, [(a.action, a.at) for a in history]
    [sent] = await engine.deliveries(id=review.id)
    assert sent.status == "sent" and sent.sent_at is not None
    assert sent.due_at == resumes_at(closed.expires_at, CAMPAIGN_WINDOW, PARIS) == datetime(2026, 3, 30, 9, 0,
                                                                                         tzinfo=PARIS)
    assert sent.sent_at == sent.due_at
    assert any(m.body.startswith("Révision") for m in sms.sent)


async def test_a_requeued_question_is_not_held_back_by_its_own_prompt(store_url: str, tmp_path: Path) -> None:
    """The prompt is opened when the delivery is composed, before the provider call. A worker
    killed right after (SIGKILL) leaves the delivery ``sending`` with its prompt open;
    recovery finds nothing at the provider and queues it again: it must go out now, not
    wait on the question it opened itself."""
    engine, sms = await _engine(store_url, tmp_path)
    await engine.run_until(datetime(2026, 3, 25, 10, 0, tzinfo=PARIS), step=timedelta(hours=1))
    [quiz] = await engine.deliveries(step_id="quiz", origin="plan")
    async with engine.rt.sessions() as session, session.begin():
        row = await session.get(Delivery, quiz.id)
        assert row is not None
        # As recovery leaves it: queued again, the channel not counted as tried, the prompt open.
        row.status, row.rendered = "queued", {**(row.rendered or {}), "tried": []}
        session.add(row)
    sms.clear()
    engine.clock.advance(minutes=2)
    await send_batch(engine.rt, [quiz.id or 0])
    [again] = await engine.deliveries(id=quiz.id)
    assert again.status == "sent", again.status_reason
    assert [m.body.split(" : ")[0] for m in sms.sent] == ["Quiz 1/3"]


async def test_a_request_in_words_to_stop_asks_once_then_opts_out(store_url: str, tmp_path: Path) -> None:
    engine, sms = await _engine(store_url, tmp_path)
    await engine.run_until(datetime(2026, 3, 25, 10, 0, tzinfo=PARIS), step=timedelta(hours=1))
    assert await _reply(engine, "Arrêtez de m'envoyer des messages") == "asked whether to stop"
    assert sms.sent[-1].body.startswith("Souhaitez-vous ne plus recevoir nos messages")
    assert not any(m.body.startswith("Je n'ai pas bien compris") for m in sms.sent)
    [alert] = [a for a in await _all(engine, Alert) if a.kind == "opt_out_request"]
    assert alert.reason.startswith("Demande à ne plus recevoir de messages")
    assert await _reply(engine, "OUI") == "opted out (confirmed)"
    assert sms.sent[-1].body.startswith("Vous ne recevrez plus de messages")
    [learner] = await _all(engine, Learner)
    assert learner.opted_out_sms_at is not None
