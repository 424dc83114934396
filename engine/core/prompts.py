"""How a question is put to a learner by message, and what reply it expects.

One question per message: quizzes and surveys go question by question, so every
reply answers exactly one open prompt.
"""

from __future__ import annotations

from engine.content.models import Question, QuizItem
from engine.core.replies import Expectation

LETTERS = "ABCDEF"

_TEXT = {
    "fr": {
        "choose": "Répondez {letters}",
        "rating": "Note de 1 à 5 (5 = excellent)",
        "nps": "Note de 0 à 10",
        "yes_no": "Répondez OUI ou NON",
        "text": "Répondez librement",
        "optional": " (ou PASSER)",
        "or": " ou ",
    },
    "en": {
        "choose": "Reply {letters}",
        "rating": "Rate from 1 to 5 (5 = excellent)",
        "nps": "Rate from 0 to 10",
        "yes_no": "Reply YES or NO",
        "text": "Reply in your own words",
        "optional": " (or SKIP)",
        "or": " or ",
    },
}


def _letters(count: int, locale: str) -> str:
    letters = list(LETTERS[:count])
    return ", ".join(letters[:-1]) + _TEXT[locale]["or"] + letters[-1]


def _lang(locale: str) -> str:
    return locale if locale in _TEXT else "fr"


def format_quiz_item(item: QuizItem, *, locale: str = "fr") -> str:
    """A quiz question as one message: question, lettered choices, how to answer."""
    lang = _lang(locale)
    lines = [item.question]
    lines += [f"{LETTERS[i]}) {choice}" for i, choice in enumerate(item.choices)]
    lines.append(_TEXT[lang]["choose"].format(letters=_letters(len(item.choices), lang)))
    return "\n".join(lines)


def format_question(question: Question, *, locale: str = "fr") -> str:
    """A survey or check-in question as one message."""
    lang = _lang(locale)
    lines = [question.text]
    if question.type == "choice":
        lines += [f"{LETTERS[i]}) {c.label}" for i, c in enumerate(question.choices)]
        instruction = _TEXT[lang]["choose"].format(letters=_letters(len(question.choices), lang))
    else:
        instruction = _TEXT[lang][question.type]
    if question.optional:
        instruction += _TEXT[lang]["optional"]
    lines.append(instruction)
    return "\n".join(lines)


def expectation_for_item(item: QuizItem) -> Expectation:
    """A quiz item expects one of its lettered choices."""
    return Expectation.for_quiz_item(item)


def expectation_for_question(question: Question) -> Expectation:
    """What a survey or check-in question accepts as an answer."""
    return Expectation.for_question(question)


SKIP_WORDS = frozenset({"passer", "skip", "suivant", "next", "passe"})


def is_skip(text: str) -> bool:
    """Whether a reply skips an optional question."""
    return text.strip().strip(".!").lower() in SKIP_WORDS
