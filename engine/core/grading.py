"""Grading a quiz answer with the feedback the learner receives straight away.

Feedback is the immediate reward of spaced retrieval, so it is plain text ready to
send. It is kept in the GSM-7 alphabet (straight apostrophe, ordinary space before
"!") so that an SMS does not silently switch to UCS-2 and cost twice as much.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from engine.content.models import QuizItem

_FEEDBACK = {
    "fr": (
        "Bravo, c'est bien la réponse {right} !",
        "Pas tout à fait : la bonne réponse est {right}.",
    ),
    "en": ("Well done, {right} is the right answer!", "Not quite: the right answer is {right}."),
}


@dataclass(frozen=True)
class Grade:
    """The verdict on one answer (an ``AnswerGraded`` event carries it)."""

    correct: bool
    chosen_index: int
    correct_index: int
    feedback: str


def _letter(index: int) -> str:
    return chr(ord("A") + index)


def grade_answer(item: QuizItem, chosen_index: int, *, locale: str = "fr") -> Grade:
    """Compare a parsed choice with the item's answer; a wrong answer's feedback carries
    the explanation, since that is the moment the learner is ready to read it.

    ``locale`` may be a tag such as ``fr-FR``; languages without wording fall back to French.
    """
    if not 0 <= chosen_index < len(item.choices):
        raise ValueError(
            f"choice index {chosen_index} out of range for {len(item.choices)} choices"
        )
    right = item.answer_index
    praise, correction = _FEEDBACK.get(
        locale.replace("_", "-").split("-")[0].lower(), _FEEDBACK["fr"]
    )
    correct = chosen_index == right
    if correct:
        feedback = praise.format(right=_letter(right))
    else:
        feedback = f"{correction.format(right=_letter(right))} {item.explanation.strip()}".strip()
    return Grade(correct, chosen_index, right, feedback)


def score(grades: Iterable[Grade]) -> float:
    """Fraction of correct answers, 0.0 when nothing was answered (no division by zero)."""
    results = [grade.correct for grade in grades]
    return sum(results) / len(results) if results else 0.0
