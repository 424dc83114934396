"""What the conversation engine decided, as past-tense facts the shell applies.

The engine (:mod:`engine.core.flow`) never writes or sends: it returns these events.
The production shell (``engine/services/inbound.py``, ``silence.py``,
``send_checks.py``) applies each with one function per event kind, inside the
transaction, and sends after commit; ``ancrage simulate`` applies the same events
in memory. Each class's docstring ends with a JSON example: ``docs/architecture.md``
lists them from here (:func:`catalogue`), and a test keeps the two equal.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class OptedOut:
    """The learner stopped messages on a channel (STOP, or OUI to "do you want to stop?").

    {"channel": "sms", "confirmation": "Vous ne recevrez plus de messages sur ce canal. ..."}
    """

    channel: str
    confirmation: str


@dataclass(frozen=True)
class OptedIn:
    """The learner asked for messages again on a channel (START).

    {"channel": "sms", "confirmation": "C'est note, vous recevez de nouveau nos messages. ..."}
    """

    channel: str
    confirmation: str


@dataclass(frozen=True)
class HelpSent:
    """The learner wrote AIDE/HELP and gets the help text.

    {"channel": "sms", "text": "Suivi de formation : repondez aux questions par une lettre ..."}
    """

    channel: str
    text: str


@dataclass(frozen=True)
class StopConfirmationAsked:
    """The learner wrote that they want no more messages: asked once whether to stop.

    {"channel": "sms", "text": "Souhaitez-vous ne plus recevoir nos messages sur ce canal ? ...",
     "expires_in_s": 259200}
    """

    channel: str
    text: str
    expires_in_s: int


@dataclass(frozen=True)
class ClarificationAsked:
    """The reply fitted the open question nowhere: the learner is asked once, more clearly.

    {"prompt_id": 12, "step_id": "quiz-j7", "channel": "sms",
     "text": "Je n'ai pas bien compris. Répondez avec une seule lettre : A, B, C."}
    """

    prompt_id: int
    step_id: str
    channel: str
    text: str


@dataclass(frozen=True)
class AnswerGraded:
    """A reply closed its question: a graded quiz answer (``correct``) or a recorded survey answer.

    {"prompt_id": 12, "kind": "quiz", "question_ref": "management/quiz-sbi#sbi-sens",
     "value": "C", "status": "answered", "correct": true}
    """

    prompt_id: int
    kind: str
    question_ref: str
    value: Any
    status: str
    correct: bool | None


@dataclass(frozen=True)
class CardScheduled:
    """FSRS moved a quiz item's next review (or retired it) after a graded answer.

    {"bank_ref": "management/quiz-sbi", "item_id": "sbi-sens", "due": "2026-04-02T08:00:00+00:00",
     "retired": false, "state": {"item_id": "sbi-sens", "reps": 1, "...": "..."}}
    """

    bank_ref: str
    item_id: str
    due: datetime
    retired: bool
    state: dict[str, Any]


@dataclass(frozen=True)
class AlertRaised:
    """The trainer is told something (low rating, detractor, three wrong answers, complaint...).

    {"kind": "quiz_failure", "reason": "Trois mauvaises réponses de suite aux quiz"}
    """

    kind: str
    reason: str


@dataclass(frozen=True)
class BranchTaken:
    """An ``if`` entry of a step held (``index``), or its silence branch ran (``index`` -1).

    {"step_id": "quiz-j7", "index": 0, "trigger": 120}
    """

    step_id: str
    index: int
    trigger: int


@dataclass(frozen=True)
class NextQuestion:
    """The question a feedback message opens (the next item of a quiz or survey)."""

    kind: str
    question_ref: str
    expectation: dict[str, Any]
    queue: list[str] = field(default_factory=list)
    expires_in_s: int = 259200


@dataclass(frozen=True)
class FeedbackQueued:
    """A message back to the learner at once on the channel of the question: the correction,
    then (``follow_up``, rendered by the shell) the next question or the survey's outro.

    {"step_id": "quiz-j7", "channel": "sms", "feedback": "Bravo ! ...",
     "follow_up": "Que signifie le I de SBI ? A) ...", "next_question": {"kind": "quiz", "...": "..."}}
    """

    step_id: str
    channel: str
    feedback: str
    follow_up: str | None = None
    next_question: NextQuestion | None = None


@dataclass(frozen=True)
class LateReplyNoted:
    """A short reply after its question closed: kept, and the learner thanked.

    {"prompt_id": 12, "question_ref": "management/quiz-sbi#sbi-sens", "channel": "sms",
     "text": "Merci ! Cette question est close, mais votre reponse est notee. ..."}
    """

    prompt_id: int
    question_ref: str
    channel: str
    text: str


@dataclass(frozen=True)
class TicketOpened:
    """A message that answers no question goes to the trainers' inbox (``auto_answer``: the FAQ's answer, which the acknowledgement carries).

    {"channel": "sms", "faq_entry_id": "attestation", "auto_answer": "Votre attestation ..."}
    """

    channel: str
    faq_entry_id: str | None = None
    auto_answer: str | None = None


@dataclass(frozen=True)
class TicketAcknowledged:
    """The learner is told at once that their message reached the trainers, and when to expect an answer (indicator 31); with the FAQ's answer first when it had one.

    {"channel": "sms", "text": "Bien arrivé ! Votre message est transmis à votre formateur, qui vous répondra sous 48 h.", "response_hours": 48}
    """

    channel: str
    text: str
    response_hours: int = 48


@dataclass(frozen=True)
class TestimonialConsentWithdrawn:
    """The learner took back, by reply, the consent they gave for their testimonials: they leave every export at once.

    {"channel": "sms", "confirmation": "C'est noté : votre témoignage est retiré, il ne sera plus diffusé."}
    """

    channel: str
    confirmation: str


@dataclass(frozen=True)
class ReminderSent:
    """Nobody answered yet: the question is asked again (``number`` of the step's reminders).

    {"prompt_id": 12, "number": 1, "channel": "sms"}
    """

    prompt_id: int
    number: int
    channel: str


@dataclass(frozen=True)
class QuestionExpired:
    """The question's deadline passed (or its last reminder went unanswered).

    {"prompt_id": 12}
    """

    prompt_id: int


@dataclass(frozen=True)
class QuestionWaiting:
    """A question was due while the learner can still answer another one: it waits.

    {"delivery_id": 40, "until": "2026-03-25T10:00:00+00:00", "open_prompt_id": 12,
     "reason": "learner is answering another question: asked later"}
    """

    delivery_id: int
    until: datetime
    open_prompt_id: int
    reason: str = "learner is answering another question: asked later"


Event = (OptedOut | OptedIn | HelpSent | StopConfirmationAsked | ClarificationAsked | AnswerGraded
         | CardScheduled | AlertRaised | BranchTaken | FeedbackQueued | LateReplyNoted | TicketOpened
         | TicketAcknowledged | TestimonialConsentWithdrawn | ReminderSent | QuestionExpired | QuestionWaiting)
EVENT_TYPES: tuple[type[Any], ...] = (
    OptedOut, OptedIn, HelpSent, StopConfirmationAsked, ClarificationAsked, AnswerGraded, CardScheduled,
    AlertRaised, BranchTaken, FeedbackQueued, LateReplyNoted, TicketOpened, TicketAcknowledged,
    TestimonialConsentWithdrawn, ReminderSent, QuestionExpired, QuestionWaiting,
)


def as_json(event: Event) -> dict[str, Any]:
    """An event as JSON-ready data, with its kind (for logs, audits and simulation transcripts)."""
    data = dataclasses.asdict(event)
    return {"event": type(event).__name__, **json.loads(json.dumps(data, default=str))}


def _summary_and_example(kind: type[Any]) -> tuple[str, str]:
    doc = (kind.__doc__ or "").strip()
    head, _, rest = doc.partition("\n\n")
    return " ".join(head.split()), " ".join(rest.split())


def catalogue() -> str:
    """The event list for ``docs/architecture.md``, from the docstrings above."""
    lines = ["| Event | What it means | Example |", "| --- | --- | --- |"]
    for kind in EVENT_TYPES:
        summary, example = _summary_and_example(kind)
        lines.append(f"| `{kind.__name__}` | {summary} | `{example}` |")
    return "\n".join(lines)


DOC_START = "<!-- events:start -->"
DOC_END = "<!-- events:end -->"


def with_catalogue(document: str) -> str:
    """``document`` (docs/architecture.md) with the event list between its markers refreshed."""
    head, _, rest = document.partition(DOC_START)
    _, _, tail = rest.partition(DOC_END)
    return f"{head}{DOC_START}\n{catalogue()}\n{DOC_END}{tail}"


if __name__ == "__main__":  # python -m engine.core.events docs/architecture.md
    import sys
    from pathlib import Path

    target = Path(sys.argv[1])
    target.write_text(with_catalogue(target.read_text(encoding="utf-8")), encoding="utf-8")
