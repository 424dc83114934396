"""Questions as the engine sees them: what a question expects, whether a reply fits it,
the next one of a step, and whether a new question may go out now.

Questions never trample each other: while a learner can still answer one (a
clarification included), no other question goes to them on that channel; the later
one waits (:func:`waiting_for`), and goes out :data:`RESUME_AFTER` after that
question closes (answered, or past its deadline), in its send window
(:func:`resumes_at`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from engine.campaign.schema import SendWindow
from engine.content.models import QuizBank, Survey
from engine.core import events as ev
from engine.core.prompts import (
    expectation_for_item,
    expectation_for_question,
    format_question,
    format_quiz_item,
)
from engine.core.replies import Expectation, parse_reply
from engine.core.trail import Trail
from engine.core.windows import next_open

#: How long a question held back in a send wave (another one opened meanwhile) waits before it
#: is looked at again, unless that other one closes first.
WAIT_STEP = timedelta(hours=1)
#: A question that waited for another goes out this long after that one closed: the answer's
#: feedback reaches the learner first, and the next question does not crowd it.
RESUME_AFTER = timedelta(minutes=2)


class ContentView(Protocol):
    """The content a conversation needs (a pinned campaign version's snapshot satisfies it)."""

    @property
    def banks(self) -> Mapping[str, QuizBank]: ...
    @property
    def surveys(self) -> Mapping[str, Survey]: ...
    @property
    def checkins(self) -> Mapping[str, Survey]: ...


def expectation_json(expected: Expectation) -> dict[str, Any]:
    """An expectation as stored with its question."""
    return {"kind": expected.kind, "choices": list(expected.choices), "values": list(expected.values),
            "scale": list(expected.scale)}


def expectation_of(content: ContentView, kind: str, question_ref: str) -> Expectation | None:
    """What a question (``ref#id``) accepts, or None when its content is missing."""
    ref, _, question_id = question_ref.partition("#")
    if kind in ("quiz", "review"):
        bank = content.banks.get(ref)
        item = bank.item(question_id) if bank else None
        return expectation_for_item(item) if item else None
    if kind in ("survey", "checkin"):
        source = content.surveys if kind == "survey" else content.checkins
        survey = source.get(ref)
        question = survey.question(question_id) if survey else None
        return expectation_for_question(question) if question else None
    return Expectation("yes_no") if kind == "confirm" else None


def fits(content: ContentView, kind: str, question_ref: str, text: str) -> bool:
    """Whether a reply reads as a clear answer to this question (free text fits nothing in particular)."""
    expected = expectation_of(content, kind, question_ref)
    if expected is None or expected.kind == "text":
        return False
    return parse_reply(text, expected).status == "ok"


def next_question(content: ContentView, *, kind: str, question_ref: str, queue: list[str], locale: str,
                  expires_in: timedelta, trail: Trail) -> tuple[str, ev.NextQuestion] | None:
    """The next question of a quiz or survey in progress (its text and what it opens), once
    the previous one is answered; None at the end of the step."""
    if not queue:
        return None
    ref = question_ref.split("#", 1)[0]
    seconds = int(expires_in.total_seconds())
    if kind in ("quiz", "review"):
        bank = content.banks.get(ref)
        item = bank.item(queue[0]) if bank else None
        if item is None:
            return None
        spec = ev.NextQuestion(kind, f"{ref}#{item.id}",
                               {**expectation_json(expectation_for_item(item)), "trail": trail.dump()},
                               queue[1:], seconds)
        return format_quiz_item(item, locale=locale), spec
    source = content.surveys if kind == "survey" else content.checkins
    survey = source.get(ref)
    question = survey.question(queue[0]) if survey else None
    if survey is None or question is None:
        return None
    spec = ev.NextQuestion(kind, f"{ref}#{question.id}",
                           {**expectation_json(expectation_for_question(question)), "trail": trail.dump()},
                           queue[1:], seconds)
    return format_question(question, locale=locale), spec


@dataclass(frozen=True)
class AskedQuestion:
    """An open question as the send path sees it."""

    prompt_id: int
    delivery_id: int
    channel: str
    expires_at: datetime


def waiting_for(open_questions: Iterable[AskedQuestion], *, delivery_id: int, channel: str,
                now: datetime) -> AskedQuestion | None:
    """The question a new one on ``channel`` must wait for, if any.

    The delivery's own question does not count: a quiz requeued after a crash or a
    transient provider error must not be deferred by the prompt it opened itself.
    """
    blocking = [q for q in open_questions
                if q.channel == channel and q.delivery_id != delivery_id and q.expires_at > now]
    return min(blocking, key=lambda q: q.expires_at, default=None)


def resumes_at(closed_at: datetime, window: SendWindow, tz: ZoneInfo | str) -> datetime:
    """When a question that waited for another goes out, that other one closed at ``closed_at``
    (answered then, or its deadline): :data:`RESUME_AFTER` later, in the step's send window."""
    return next_open(closed_at + RESUME_AFTER, window, tz)
