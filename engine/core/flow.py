"""The conversation engine: a learner's reply in, past-tense events and the new state out.

In the goflow way, :func:`on_reply` takes the learner's conversation state, the pinned
campaign versions of their open questions, the incoming message and the clock, and
returns :class:`Resumed`: the events (:mod:`engine.core.events`) and the new state. It
never reads a database or sends: ``engine/services/inbound.py`` loads the state and
applies the events in its transaction; ``ancrage simulate`` applies them in memory.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from engine.campaign.schema import Campaign
from engine.content.models import FaqEntry
from engine.core import events as ev
from engine.core.branching import newly_holding
from engine.core.consent import wants_to_withdraw_testimonial
from engine.core.conversation import Turn, answer_question, answer_quiz, outcome_from_trail, thanks
from engine.core.faq import match_faq
from engine.core.keywords import Keyword, detect_keyword
from engine.core.optout import wants_no_more_messages
from engine.core.questions import ContentView, fits, next_question
from engine.core.replies import Expectation, parse_reply
from engine.core.rules import (
    FAQ_AUTOREPLY_CONFIDENCE,
    REPEATED_FAILURE_REASON,
    is_late_reply,
    repeated_failure,
    review_horizon_days,
)
from engine.core.signals import complaint_words
from engine.core.spaced import ReviewState, new_state, record_answer
from engine.core.system_texts import system_text
from engine.core.trail import Trail

CONFIRM_KIND = "confirm"
CONFIRM_REF = "system#stop"
CONFIRM_EXPIRES = timedelta(days=1)
OPT_OUT_REQUEST = "opt_out_request"


@dataclass(frozen=True)
class Version:
    """A pinned campaign version: the campaign and the content it was pinned with."""

    campaign: Campaign
    content: ContentView


class OpenQuestion(BaseModel):
    """A question the learner can still answer (a prompt), with the trail of its step."""

    model_config = ConfigDict(frozen=True)

    prompt_id: int
    enrollment_id: int
    step_id: str
    kind: str
    question_ref: str
    channel: str
    opened_at: datetime
    expires_at: datetime
    clarified: bool = False
    trail: Trail = Field(default_factory=Trail)
    queue: tuple[str, ...] = ()


class ClosedQuestion(BaseModel):
    """The learner's latest question that closed unanswered (a late reply may still fit it)."""

    model_config = ConfigDict(frozen=True)

    prompt_id: int
    question_ref: str


class ConversationState(BaseModel):
    """What the engine needs to know about one learner to understand their next message."""

    model_config = ConfigDict(frozen=True)

    locale: str = "fr"
    timezone: str = "Europe/Paris"
    #: The enrolment's anchor (session end) per enrolment id, for the review horizon.
    anchors: dict[int, datetime] = Field(default_factory=dict)
    #: Open questions on the message's channel, latest first.
    open_questions: tuple[OpenQuestion, ...] = ()
    #: The learner's latest graded answers, latest first (enough for the repeated-failure rule).
    recent_grades: tuple[bool, ...] = ()
    #: FSRS cards by ``bank_ref#item_id`` (as :meth:`ReviewState.to_dict` stores them).
    cards: dict[str, dict[str, Any]] = Field(default_factory=dict)
    recently_closed: ClosedQuestion | None = None
    #: The enrolment a message with no question belongs to (None: not enrolled any more).
    enrollment_id: int | None = None
    #: The trainers' response target, as the acknowledgement of a ticket promises it.
    ticket_response_hours: int = 48


@dataclass(frozen=True)
class IncomingReply:
    """A learner's message: its text, the channel, and whether carrier keywords apply."""

    text: str
    channel: str
    key: int
    keywords: bool = True


@dataclass(frozen=True)
class Resumed:
    """What one message did: the events to apply, the new state, and a word for logs."""

    events: tuple[ev.Event, ...]
    state: ConversationState
    outcome: str
    question: OpenQuestion | None = None


def on_reply(state: ConversationState, versions: Mapping[int, Version], reply: IncomingReply, *,
             now: datetime, faq: Sequence[FaqEntry] = ()) -> Resumed:
    """Understands one message: a keyword, a request to stop, an answer, a late answer or a question."""
    locale = state.locale
    keyword = detect_keyword(reply.text) if reply.keywords else None
    if keyword is Keyword.STOP:
        return Resumed((ev.OptedOut(reply.channel, system_text("opt_out", locale)),), state, "opted out")
    if keyword is Keyword.START:
        return Resumed((ev.OptedIn(reply.channel, system_text("opt_in", locale)),), state, "opted in")
    if keyword is Keyword.HELP:
        return Resumed((ev.HelpSent(reply.channel, system_text("help", locale)),), state, "help")
    confirm = next((q for q in state.open_questions if q.kind == CONFIRM_KIND), None)
    if confirm is not None:
        resumed = _confirm_stop(state, confirm, reply)
        if resumed is not None:
            return resumed
        # Not a yes or a no: that question closes, and the message is read as anything else.
        closing: tuple[ev.Event, ...] = (ev.QuestionExpired(confirm.prompt_id),)
        resumed = on_reply(_without(state, confirm), versions, reply, now=now, faq=faq)
        return Resumed(closing + resumed.events, resumed.state, resumed.outcome, resumed.question)
    if wants_to_withdraw_testimonial(reply.text):
        withdrawn = ev.TestimonialConsentWithdrawn(reply.channel, system_text("testimonial_withdrawn", locale))
        return Resumed((withdrawn,), state, "testimonial consent withdrawn")
    if wants_no_more_messages(reply.text):
        asked = ev.StopConfirmationAsked(reply.channel, system_text("confirm_stop", locale),
                                         int(CONFIRM_EXPIRES.total_seconds()))
        alert = ev.AlertRaised(OPT_OUT_REQUEST, f"Demande à ne plus recevoir de messages : « {reply.text.strip()[:160]} »")
        return Resumed((asked, alert), state, "asked whether to stop")
    question = choose_question(state.open_questions, versions, reply.text)
    if question is not None and question.enrollment_id in versions:
        return _answer(state, versions[question.enrollment_id], question, reply, now)
    return _no_question(state, versions, reply, faq)


def choose_question(open_questions: Sequence[OpenQuestion], versions: Mapping[int, Version],
                    text: str) -> OpenQuestion | None:
    """The question a reply answers: the only open one it fits, else the latest one.

    Questions never overlap on purpose, but one may have been sent before a crash or
    from an older version: an answer that fits only one of them goes to that one.
    """
    candidates = [q for q in open_questions if q.kind != CONFIRM_KIND]
    if not candidates:
        return None
    fitting = [q for q in candidates if q.enrollment_id in versions
               and fits(versions[q.enrollment_id].content, q.kind, q.question_ref, text)]
    return fitting[0] if len(fitting) == 1 else candidates[0]


def _confirm_stop(state: ConversationState, confirm: OpenQuestion, reply: IncomingReply) -> Resumed | None:
    parsed = parse_reply(reply.text, Expectation("yes_no"))
    stop = parsed.value is True or (parsed.status != "ok" and wants_no_more_messages(reply.text))
    if parsed.status != "ok" and not stop:
        return None
    closed = ev.AnswerGraded(confirm.prompt_id, CONFIRM_KIND, confirm.question_ref, stop, "answered", None)
    after = _without(state, confirm)
    if stop:
        return Resumed((closed, ev.OptedOut(reply.channel, system_text("opt_out", state.locale))), after,
                       "opted out (confirmed)", confirm)
    declined = ev.FeedbackQueued("system", reply.channel, system_text("stop_declined", state.locale))
    return Resumed((closed, declined), after, "stop declined", confirm)


def _without(state: ConversationState, question: OpenQuestion) -> ConversationState:
    rest = tuple(q for q in state.open_questions if q.prompt_id != question.prompt_id)
    return state.model_copy(update={"open_questions": rest})


def _turn(version: Version, question: OpenQuestion, text: str) -> Turn | None:
    ref, _, question_id = question.question_ref.partition("#")
    locale = version.campaign.locale
    if question.kind in ("quiz", "review"):
        bank = version.content.banks.get(ref)
        item = bank.item(question_id) if bank else None
        if item is None:
            return None
        return answer_quiz(item, text, trail=question.trail, clarified=question.clarified, locale=locale)
    source = version.content.surveys if question.kind == "survey" else version.content.checkins
    survey = source.get(ref)
    asked = survey.question(question_id) if survey else None
    if asked is None:
        return None
    return answer_question(asked, text, trail=question.trail, clarified=question.clarified, locale=locale)


def _answer(state: ConversationState, version: Version, question: OpenQuestion, reply: IncomingReply,
            now: datetime) -> Resumed:
    turn = _turn(version, question, reply.text)
    if turn is None:
        return Resumed((), state, "prompt content missing", question)
    if turn.status == "clarify":
        clarified = question.model_copy(update={"clarified": True})
        opens = tuple(clarified if q.prompt_id == question.prompt_id else q for q in state.open_questions)
        event = ev.ClarificationAsked(question.prompt_id, question.step_id, question.channel, turn.feedback or "")
        return Resumed((event,), state.model_copy(update={"open_questions": opens}), "clarification asked",
                       question)
    events: list[ev.Event] = [ev.AnswerGraded(question.prompt_id, question.kind, question.question_ref,
                                              turn.value, turn.status, turn.correct)]
    events += [ev.AlertRaised(kind, reason) for kind, reason in turn.alerts]
    after = _without(state, question)
    if turn.correct is not None:
        card = _schedule(after, version, question, turn.correct, now)
        events.append(card)
        grades = (turn.correct, *after.recent_grades)[:8]
        cards = {**after.cards, f"{card.bank_ref}#{card.item_id}": card.state}
        after = after.model_copy(update={"recent_grades": grades, "cards": cards})
        if repeated_failure(grades):
            events.append(ev.AlertRaised("quiz_failure", REPEATED_FAILURE_REASON))
    trail = turn.trail
    step = version.campaign.step(question.step_id)
    if step is not None and question.kind != "review":
        fired = set(trail.fired)
        outcome = outcome_from_trail(question.kind, trail)
        for index, _actions in newly_holding(step, outcome, fired=fired, final=not question.queue):
            events.append(ev.BranchTaken(step.id, index, reply.key * 10 + index))
            fired.add(index)
        trail = trail.model_copy(update={"fired": tuple(sorted(fired))})
    events += _what_follows(version, question, turn, trail)
    done = "next question" if question.queue else "step done"
    return Resumed(tuple(events), after, f"{turn.status}; {done}", question)


def _schedule(state: ConversationState, version: Version, question: OpenQuestion, correct: bool,
              now: datetime) -> ev.CardScheduled:
    bank_ref, _, item_id = question.question_ref.partition("#")
    stored = state.cards.get(question.question_ref)
    card = ReviewState.from_dict(stored) if stored else new_state(item_id, now=now)
    anchor = state.anchors.get(question.enrollment_id, now)
    horizon = review_horizon_days(version.campaign, bank_ref, anchor=anchor, tz=state.timezone, now=now)
    updated = record_answer(card, correct=correct, at=now, horizon_days=horizon)
    return ev.CardScheduled(bank_ref, item_id, updated.due, updated.retired, updated.to_dict())


def _what_follows(version: Version, question: OpenQuestion, turn: Turn, trail: Trail) -> list[ev.Event]:
    """The feedback and the next question of the step, or the step's closing words."""
    locale = version.campaign.locale
    expires_in = question.expires_at - question.opened_at
    following = next_question(version.content, kind=question.kind, question_ref=question.question_ref,
                              queue=list(question.queue), locale=locale, expires_in=expires_in, trail=trail)
    feedback = turn.feedback or ""
    if following is not None:
        text, spec = following
        return [ev.FeedbackQueued(question.step_id, question.channel, feedback, text, spec)]
    follow_up: str | None = None
    if question.kind in ("survey", "checkin"):
        source = version.content.surveys if question.kind == "survey" else version.content.checkins
        survey = source.get(question.question_ref.partition("#")[0])
        if survey is not None and survey.outro:
            follow_up, feedback = survey.outro, ""
        else:
            feedback = thanks(locale)
    if not feedback and not follow_up:
        return []
    return [ev.FeedbackQueued(question.step_id, question.channel, feedback, follow_up)]


def _no_question(state: ConversationState, versions: Mapping[int, Version], reply: IncomingReply,
                 faq: Sequence[FaqEntry]) -> Resumed:
    """No open question: a late answer gets a polite word; anything else is a question for the trainers."""
    closed = state.recently_closed
    if closed is not None and is_late_reply(reply.text):
        late = ev.LateReplyNoted(closed.prompt_id, closed.question_ref, reply.channel,
                                 system_text("late", state.locale))
        return Resumed((late,), state, "late reply")
    events: list[ev.Event] = []
    words = complaint_words(reply.text)
    if words:
        events.append(ev.AlertRaised("complaint", f"Message de mécontentement : {', '.join(words)}"))
    match = match_faq(reply.text, faq) if faq else None
    answer: str | None = None
    version = versions.get(state.enrollment_id) if state.enrollment_id is not None else None
    if match is not None and match.confidence >= FAQ_AUTOREPLY_CONFIDENCE and version is not None:
        entry = next((e for e in faq if e.id == match.entry_id), None)
        if version.campaign.faq_autoreply and entry is not None and not words:
            answer = entry.answer
    events.append(ev.TicketOpened(reply.channel, match.entry_id if match else None, answer))
    events.append(acknowledgement(reply.channel, state.locale, state.ticket_response_hours, faq_answer=answer))
    return Resumed(tuple(events), state, "ticket" + (" (FAQ answer sent)" if answer else ""))


def acknowledgement(channel: str, locale: str, hours: int, *, faq_answer: str | None = None
                    ) -> ev.TicketAcknowledged:
    """What a learner reads at once when their message becomes a ticket: one message, the FAQ's
    answer first when it had one, then who will answer and by when."""
    if faq_answer:
        text = f"{faq_answer}\n\n{system_text('ticket_ack_after_faq', locale).format(hours=hours)}"
    else:
        text = system_text("ticket_ack", locale).format(hours=hours)
    return ev.TicketAcknowledged(channel, text, hours)


def trail_of(expectation: Mapping[str, Any] | None) -> Trail:
    """The trail stored with a prompt's expectation."""
    return Trail.load((expectation or {}).get("trail"))
