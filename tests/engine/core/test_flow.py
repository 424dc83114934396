"""The conversation engine: a reply in, events and the new state out (pure, no fixtures)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest

from engine.campaign.schema import Campaign
from engine.content.models import FaqEntry, QuizBank, QuizItem, Survey
from engine.content.sms import is_gsm7
from engine.core import events as ev
from engine.core.flow import (
    CONFIRM_KIND,
    CONFIRM_REF,
    ClosedQuestion,
    ConversationState,
    IncomingReply,
    OpenQuestion,
    Version,
    choose_question,
    on_reply,
)
from engine.core.questions import AskedQuestion, waiting_for
from engine.core.trail import Trail

NOW = datetime(2026, 3, 31, 8, 0, tzinfo=UTC)
ITEMS = [QuizItem(id=f"q{n}", question=f"Question {n} ?", choices=["Un", "Deux", "Trois", "Quatre"], answer="D",
                  explanation="Parce que.") for n in range(1, 4)]
BANK = QuizBank(ref="management/quiz-sbi", title="SBI", items=ITEMS)
REVIEW_ITEM = QuizItem(id="r1", question="Que signifie SBI ?", choices=["Un", "Deux", "Trois"], answer="C",
                        explanation="Situation.")
REVIEW_BANK = QuizBank(ref="management/revision", title="Révision", items=[REVIEW_ITEM])
RATING = Survey.model_validate({"ref": "surveys/chaud", "title": "Chaud", "questions": [
    {"id": "note", "type": "rating", "text": "Votre note ?"}, {"id": "nps", "type": "nps", "text": "NPS ?"}]})
CAMPAIGN = Campaign.model_validate({
    "campaign": "flow", "title": "Flow", "faq_autoreply": True,
    "steps": [{"id": "quiz", "at": "+7d", "quiz": "management/quiz-sbi", "ask": 3,
               "if": [{"score_below": 0.5, "then": {"mark": "at_risk"}}]},
              {"id": "revisions", "review": "management/revision", "from": "+8d", "until": "+30d"},
              {"id": "chaud", "at": "+2h", "survey": "surveys/chaud"}]})


@dataclass
class Content:
    banks: dict[str, QuizBank] = field(default_factory=lambda: {BANK.ref: BANK, REVIEW_BANK.ref: REVIEW_BANK})
    surveys: dict[str, Survey] = field(default_factory=lambda: {RATING.ref: RATING})
    checkins: dict[str, Survey] = field(default_factory=dict)


VERSIONS = {1: Version(CAMPAIGN, Content())}


def question(prompt_id: int, ref: str, *, kind: str = "quiz", step: str = "quiz", queue: tuple[str, ...] = (),
             clarified: bool = False, trail: Trail | None = None, opened: timedelta = timedelta(hours=1),
             ) -> OpenQuestion:
    return OpenQuestion(prompt_id=prompt_id, enrollment_id=1, step_id=step, kind=kind, question_ref=ref,
                        channel="sms", opened_at=NOW - opened, expires_at=NOW - opened + timedelta(days=3),
                        clarified=clarified, trail=trail or Trail(), queue=queue)


def state(*questions: OpenQuestion, grades: tuple[bool, ...] = (), closed: ClosedQuestion | None = None,
          ) -> ConversationState:
    return ConversationState(anchors={1: NOW - timedelta(days=7)}, open_questions=questions,
                             recent_grades=grades, recently_closed=closed, enrollment_id=1)


def reply(text: str) -> IncomingReply:
    return IncomingReply(text, "sms", key=7)


def kinds(events: tuple[ev.Event, ...]) -> list[str]:
    return [type(e).__name__ for e in events]


def test_reported_scenario_the_answer_after_a_clarification_goes_to_the_quiz() -> None:
    """Quiz Q3 answered "zut": clarification; a review comes due an hour later and waits;
    the learner's "D" is graded for the quiz, and only then may the review go."""
    q3 = question(3, "management/quiz-sbi#q3", trail=Trail(correct=2, total=2))
    first = on_reply(state(q3), VERSIONS, reply("zut"), now=NOW)
    assert kinds(first.events) == ["ClarificationAsked"]
    assert first.state.open_questions[0].clarified

    asked = [AskedQuestion(3, delivery_id=30, channel="sms", expires_at=q3.expires_at)]
    later = NOW + timedelta(hours=1)
    assert waiting_for(asked, delivery_id=40, channel="sms", now=later) == asked[0]

    answered = on_reply(first.state, VERSIONS, reply("D"), now=later)
    graded = [e for e in answered.events if isinstance(e, ev.AnswerGraded)]
    assert [(g.prompt_id, g.value, g.correct) for g in graded] == [(3, "D", True)]
    assert answered.state.open_questions == ()
    assert waiting_for([], delivery_id=40, channel="sms", now=later) is None


def test_an_answer_that_fits_only_one_open_question_goes_to_it() -> None:
    review = question(9, "management/revision#r1", kind="review", step="revisions", opened=timedelta(minutes=5))
    quiz = question(3, "management/quiz-sbi#q3", clarified=True)
    # "D" fits the quiz (four choices) but not the review (three): it goes to the quiz.
    assert choose_question([review, quiz], VERSIONS, "D") == quiz
    # "B" fits both: the latest question takes it.
    assert choose_question([review, quiz], VERSIONS, "B") == review
    # Nothing fits: the latest question takes it (and will ask for a clarification).
    assert choose_question([review, quiz], VERSIONS, "zut") == review


@pytest.mark.parametrize(
    ("grades", "text", "alerted"),
    [((False, False), "A", True), ((False, True), "A", False), ((False,), "A", False),
     ((False, False), "D", False), ((False, False, False), "A", True)],
)
def test_three_wrong_answers_in_a_row_alert_the_trainer(grades: tuple[bool, ...], text: str, alerted: bool) -> None:
    resumed = on_reply(state(question(3, "management/quiz-sbi#q3"), grades=grades), VERSIONS, reply(text), now=NOW)
    alerts = [e.kind for e in resumed.events if isinstance(e, ev.AlertRaised)]
    assert ("quiz_failure" in alerts) == alerted


def test_a_graded_answer_schedules_the_card_within_the_review_horizon() -> None:
    resumed = on_reply(state(question(3, "management/quiz-sbi#q1", queue=("q2",))), VERSIONS, reply("d"), now=NOW)
    card = next(e for e in resumed.events if isinstance(e, ev.CardScheduled))
    horizon_end = NOW - timedelta(days=7) + timedelta(days=31)
    assert (card.bank_ref, card.item_id) == ("management/quiz-sbi", "q1") and NOW < card.due <= horizon_end
    feedback = next(e for e in resumed.events if isinstance(e, ev.FeedbackQueued))
    assert feedback.next_question is not None and feedback.next_question.question_ref == "management/quiz-sbi#q2"
    assert feedback.next_question.expectation["trail"]["correct"] == 1
    assert resumed.outcome == "answered; next question"


def test_the_score_branch_runs_at_the_end_of_the_quiz() -> None:
    last = question(3, "management/quiz-sbi#q3", trail=Trail(correct=0, total=2))
    resumed = on_reply(state(last), VERSIONS, reply("A"), now=NOW)
    assert [(e.step_id, e.index, e.trigger) for e in resumed.events if isinstance(e, ev.BranchTaken)] == \
        [("quiz", 0, 70)]


@pytest.mark.parametrize(
    ("ref", "text", "alert"),
    [("surveys/chaud#note", "1", "low_rating"), ("surveys/chaud#note", "4", None),
     ("surveys/chaud#nps", "3", "detractor"), ("surveys/chaud#nps", "9", None)],
)
def test_low_ratings_and_detractors_alert(ref: str, text: str, alert: str | None) -> None:
    asked = question(5, ref, kind="survey", step="chaud")
    resumed = on_reply(state(asked), VERSIONS, reply(text), now=NOW)
    assert [e.kind for e in resumed.events if isinstance(e, ev.AlertRaised)] == ([alert] if alert else [])


@pytest.mark.parametrize(
    ("text", "closed", "expected"),
    [("B", True, ["LateReplyNoted"]), ("B", False, ["TicketOpened", "TicketAcknowledged"]),
     ("Comment obtenir mon attestation de formation ?", True, ["TicketOpened", "TicketAcknowledged"]),
     ("nul", True, ["AlertRaised", "TicketOpened", "TicketAcknowledged"])],
)
def test_no_open_question_late_reply_or_ticket(text: str, closed: bool, expected: list[str]) -> None:
    recent = ClosedQuestion(prompt_id=2, question_ref="management/quiz-sbi#q1") if closed else None
    assert kinds(on_reply(state(closed=recent), VERSIONS, reply(text), now=NOW).events) == expected


def test_a_confident_faq_match_is_answered_at_once() -> None:
    faq = [FaqEntry(id="attestation", question="Où est mon attestation ?", keywords=["attestation"],
                    answer="Elle est dans votre espace.")]
    resumed = on_reply(state(), VERSIONS, reply("attestation ?"), now=NOW, faq=faq)
    assert resumed.events == (
        ev.TicketOpened("sms", "attestation", "Elle est dans votre espace."),
        ev.TicketAcknowledged("sms", "Elle est dans votre espace.\n\nVotre message est aussi transmis à votre "
                                     "formateur, qui vous répondra sous 48 h.", 48))


@pytest.mark.parametrize(
    ("locale", "hours", "text"),
    [("fr", 48, "Bien arrivé ! Votre message est transmis à votre formateur, qui vous répondra sous 48 h."),
     ("fr", 24, "Bien arrivé ! Votre message est transmis à votre formateur, qui vous répondra sous 24 h."),
     ("en", 48, "Received! Your message has been passed on to your trainer, who will answer within 48 hours."),
     ("de", 48, "Bien arrivé ! Votre message est transmis à votre formateur, qui vous répondra sous 48 h.")],
)
def test_a_ticket_is_acknowledged_at_once_in_the_learners_language(locale: str, hours: int, text: str) -> None:
    """Indicator 31: the learner knows at once that a human will answer, and by when (the target's hours)."""
    learner = state().model_copy(update={"locale": locale, "ticket_response_hours": hours})
    resumed = on_reply(learner, VERSIONS, reply("Je n'ai pas compris le module 2"), now=NOW)
    assert resumed.events[-1] == ev.TicketAcknowledged("sms", text, hours)
    assert all(is_gsm7(c) for c in text)  # the GSM-7 alphabet: no ç, no curly apostrophe (no UCS-2 SMS)


@pytest.mark.parametrize(
    ("text", "open_question", "expected"),
    [("Je retire mon témoignage", False, ["TestimonialConsentWithdrawn"]),
     ("retirer mon consentement svp", True, ["TestimonialConsentWithdrawn"]),
     ("Supprimez mon avis, merci", False, ["TestimonialConsentWithdrawn"]),
     ("mon témoignage, je le retire", True, ["TestimonialConsentWithdrawn"]),
     ("I withdraw my consent", False, ["TestimonialConsentWithdrawn"]),
     ("à mon avis le support a été supprimé", False, ["TicketOpened", "TicketAcknowledged"]),
     ("merci pour le témoignage de Léa", False, ["TicketOpened", "TicketAcknowledged"]),
     ("B", True, ["AnswerGraded", "CardScheduled", "BranchTaken", "FeedbackQueued"])],
)
def test_a_learner_withdraws_testimonial_consent_by_reply(text: str, open_question: bool,
                                                          expected: list[str]) -> None:
    asked = question(3, "management/quiz-sbi#q3") if open_question else None
    resumed = on_reply(state(asked) if asked else state(), VERSIONS, reply(text), now=NOW)
    assert kinds(resumed.events) == expected
    if expected == ["TestimonialConsentWithdrawn"]:
        assert resumed.events[0] == ev.TestimonialConsentWithdrawn(
            "sms", "C'est noté : votre témoignage est retiré, il ne sera plus diffusé.")


@pytest.mark.parametrize(("text", "kind"), [("STOP", "OptedOut"), ("start", "OptedIn"), ("Aide", "HelpSent")])
def test_keywords(text: str, kind: str) -> None:
    assert kinds(on_reply(state(question(3, "management/quiz-sbi#q3")), VERSIONS, reply(text), now=NOW).events) \
        == [kind]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("Arrêtez de m'envoyer des messages", ["StopConfirmationAsked", "AlertRaised"]),
     ("je ne veux plus recevoir", ["StopConfirmationAsked", "AlertRaised"]),
     ("Désinscrivez-moi svp", ["StopConfirmationAsked", "AlertRaised"]),
     ("zut", ["ClarificationAsked"]),
     ("je ne veux plus me tromper", ["ClarificationAsked"])],
)
def test_a_request_in_words_to_stop_never_gets_a_quiz_clarification(text: str, expected: list[str]) -> None:
    resumed = on_reply(state(question(3, "management/quiz-sbi#q3")), VERSIONS, reply(text), now=NOW)
    assert kinds(resumed.events) == expected
    alerts = [e.reason for e in resumed.events if isinstance(e, ev.AlertRaised)]
    assert all(reason.startswith("Demande à ne plus recevoir de messages") for reason in alerts)


@pytest.mark.parametrize(
    ("text", "expected", "still_open"),
    [("OUI", ["AnswerGraded", "OptedOut"], (3,)), ("oui merci", ["AnswerGraded", "OptedOut"], (3,)),
     ("non", ["AnswerGraded", "FeedbackQueued"], (3,)),
     ("arrêtez vos SMS", ["AnswerGraded", "OptedOut"], (3,)),
     # Not an answer to "do you want to stop?": that question closes, the quiz gets the "D".
     ("D", ["QuestionExpired", "AnswerGraded", "CardScheduled", "FeedbackQueued"], ())],
)
def test_the_stop_question_is_asked_once(text: str, expected: list[str], still_open: tuple[int, ...]) -> None:
    confirm = question(8, CONFIRM_REF, kind=CONFIRM_KIND, step="system", opened=timedelta(minutes=1))
    quiz = question(3, "management/quiz-sbi#q3")
    resumed = on_reply(state(confirm, quiz), VERSIONS, reply(text), now=NOW)
    assert kinds(resumed.events) == expected
    assert tuple(q.prompt_id for q in resumed.state.open_questions) == still_open
    graded = next(e for e in resumed.events if isinstance(e, ev.AnswerGraded))
    assert graded.prompt_id == (3 if text == "D" else 8)


@pytest.mark.parametrize(
    ("open_questions", "delivery_id", "channel", "waits_for"),
    [([AskedQuestion(1, 10, "sms", NOW + timedelta(days=1))], 20, "sms", 1),
     # Its own prompt (a requeue after a crash or a transient error) never holds it back.
     ([AskedQuestion(1, 10, "sms", NOW + timedelta(days=1))], 10, "sms", None),
     ([AskedQuestion(1, 10, "email", NOW + timedelta(days=1))], 20, "sms", None),
     ([AskedQuestion(1, 10, "sms", NOW - timedelta(minutes=1))], 20, "sms", None),
     ([], 20, "sms", None)],
)
def test_a_question_waits_while_another_can_be_answered(open_questions: list[AskedQuestion], delivery_id: int,
                                                         channel: str, waits_for: int | None) -> None:
    found = waiting_for(open_questions, delivery_id=delivery_id, channel=channel, now=NOW)
    assert (found.prompt_id if found else None) == waits_for
