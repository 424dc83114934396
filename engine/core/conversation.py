"""One turn of a conversation: a learner's reply to the open question, understood and judged.

Pure: the inbound job loads the prompt and content, calls :func:`answer_quiz` or
:func:`answer_question`, and saves what the returned :class:`Turn` says. A
*trail* travels from one question of a step to the next (score so far, answers,
ratings) so the step's branching runs once, on the whole step, at its end.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.content.models import Question, QuizItem
from engine.core.branching import Outcome
from engine.core.grading import grade_answer
from engine.core.prompts import LETTERS, is_skip
from engine.core.replies import Expectation, parse_reply
from engine.core.signals import complaint_words
from engine.core.trail import Trail

LOW_RATING = 2
DETRACTOR_NPS = 6

_CLARIFY = {
    "fr": {
        "choice": "Je n'ai pas bien compris. Répondez avec une seule lettre : {letters}.",
        "rating": "Je n'ai pas bien compris. Répondez avec une note de 1 à 5.",
        "nps": "Je n'ai pas bien compris. Répondez avec une note de 0 à 10.",
        "yes_no": "Je n'ai pas bien compris. Répondez OUI ou NON.",
        "text": "Je n'ai pas bien compris. Pouvez-vous reformuler ?",
    },
    "en": {
        "choice": "Sorry, I did not understand. Reply with one letter: {letters}.",
        "rating": "Sorry, I did not understand. Reply with a rating from 1 to 5.",
        "nps": "Sorry, I did not understand. Reply with a rating from 0 to 10.",
        "yes_no": "Sorry, I did not understand. Reply YES or NO.",
        "text": "Sorry, I did not understand. Could you rephrase?",
    },
}
_THANKS = {"fr": "Merci, c'est noté.", "en": "Thank you, noted."}


@dataclass(frozen=True)
class Turn:
    """What one reply did: recorded or not, feedback to send, alerts to raise, updated trail."""

    status: str  # answered | clarify | gave_up | skipped
    value: object | None = None
    correct: bool | None = None
    feedback: str | None = None
    trail: Trail = field(default_factory=Trail)
    alerts: tuple[tuple[str, str], ...] = ()


def expectation_from(data: dict[str, Any]) -> Expectation:
    """The parser's expectation from a prompt's stored JSON."""
    scale = data.get("scale")
    return Expectation(kind=data.get("kind", "text"), choices=tuple(data.get("choices") or ()),
                       values=tuple(data.get("values") or ()),
                       scale=tuple(scale) if scale else (0, 0))


def clarification(expected: Expectation, locale: str) -> str:
    texts = _CLARIFY.get(locale, _CLARIFY["fr"])
    letters = ", ".join(LETTERS[: expected.size])
    return texts[expected.kind].format(letters=letters)


def answer_quiz(item: QuizItem, text: str, *, trail: Trail | dict[str, Any] | None, clarified: bool,
                locale: str = "fr") -> Turn:
    """Grades a reply to a quiz item, or asks once for a clearer answer."""
    expected = Expectation.for_quiz_item(item)
    parsed = parse_reply(text, expected)
    state = Trail.load(trail)
    if parsed.status != "ok" or not isinstance(parsed.value, int) or isinstance(parsed.value, bool):
        if clarified:
            return Turn("gave_up", trail=state)
        return Turn("clarify", feedback=clarification(expected, locale), trail=state)
    grade = grade_answer(item, parsed.value, locale=locale)
    state = state.model_copy(update={"total": state.total + 1, "correct": state.correct + int(grade.correct),
                                     "answers": {**state.answers, item.id: LETTERS[parsed.value]}})
    return Turn("answered", value=LETTERS[parsed.value], correct=grade.correct, feedback=grade.feedback,
                trail=state)


def answer_question(question: Question, text: str, *, trail: Trail | dict[str, Any] | None, clarified: bool,
                    locale: str = "fr") -> Turn:
    """Records a reply to a survey or check-in question, with the alerts it deserves."""
    state = Trail.load(trail)
    if question.optional and is_skip(text):
        return Turn("skipped", trail=state)
    expected = Expectation.for_question(question)
    parsed = parse_reply(text, expected)
    if parsed.status != "ok":
        if clarified:
            return Turn("gave_up", trail=state)
        return Turn("clarify", feedback=clarification(expected, locale), trail=state)
    value = parsed.value
    alerts: list[tuple[str, str]] = []
    update: dict[str, Any] = {"answers": {**state.answers, question.id: value}}
    if question.type == "rating" and isinstance(value, int):
        update["ratings"] = (*state.ratings, value)
        if value <= LOW_RATING:
            alerts.append(("low_rating", f"Note {value}/5 : {question.text}"))
    if question.type == "nps" and isinstance(value, int):
        update["nps"] = value
        if value <= DETRACTOR_NPS:
            alerts.append(("detractor", f"NPS {value}/10 (détracteur)"))
    if question.type == "text" and isinstance(value, str):
        words = complaint_words(value)
        if words:
            alerts.append(("complaint", f"Mots de mécontentement : {', '.join(words)}"))
    # One alert of each kind per step: a learner who rates everything 1 is one alert, not five.
    already = set(state.alerted)
    alerts = [(kind, reason) for kind, reason in alerts if kind not in already]
    update["alerted"] = tuple(sorted(already | {kind for kind, _ in alerts}))
    state = state.model_copy(update=update)
    return Turn("answered", value=value, feedback=None, trail=state, alerts=tuple(alerts))


def thanks(locale: str) -> str:
    return _THANKS.get(locale, _THANKS["fr"])


def outcome_from_trail(kind: str, trail: Trail | dict[str, Any]) -> Outcome:
    """The whole step's outcome, for branching, from the trail carried across its questions."""
    state = Trail.load(trail)
    if kind in ("quiz", "review"):
        return Outcome(score=(state.correct / state.total) if state.total else None)
    return Outcome(answers=dict(state.answers), ratings=state.ratings, nps=state.nps)
