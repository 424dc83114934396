"""Grading a quiz answer and the feedback sent straight back."""

from __future__ import annotations

import pytest

from engine.content.models import QuizItem
from engine.core.grading import Grade, grade_answer, score

ITEM = QuizItem(
    id="sbi-1",
    question="Quel feedback décrit une situation, un comportement et son impact ?",
    choices=["Le feedback sandwich", "Le feedback SBI", "Le feedback à chaud"],
    answer="B",
    explanation="Le SBI s'appuie sur des faits observables.",
)


@pytest.mark.parametrize(
    ("chosen", "locale", "correct", "feedback"),
    [
        (1, "fr", True, "Bravo, c'est bien la réponse B !"),
        (
            0,
            "fr",
            False,
            "Pas tout à fait : la bonne réponse est B. Le SBI s'appuie sur des faits observables.",
        ),
        (
            2,
            "fr",
            False,
            "Pas tout à fait : la bonne réponse est B. Le SBI s'appuie sur des faits observables.",
        ),
        (1, "en", True, "Well done, B is the right answer!"),
        (
            0,
            "en",
            False,
            "Not quite: the right answer is B. Le SBI s'appuie sur des faits observables.",
        ),
        (1, "fr-FR", True, "Bravo, c'est bien la réponse B !"),
        (1, "en_GB", True, "Well done, B is the right answer!"),
        (1, "de", True, "Bravo, c'est bien la réponse B !"),
    ],
)
def test_grade_answer(chosen: int, locale: str, correct: bool, feedback: str) -> None:
    grade = grade_answer(ITEM, chosen, locale=locale)
    assert grade == Grade(correct=correct, chosen_index=chosen, correct_index=1, feedback=feedback)


def test_french_is_the_default() -> None:
    assert grade_answer(ITEM, 1).feedback == "Bravo, c'est bien la réponse B !"


def test_wrong_answer_without_explanation_ends_cleanly() -> None:
    item = ITEM.model_copy(update={"explanation": "  "})
    assert grade_answer(item, 0).feedback == "Pas tout à fait : la bonne réponse est B."


@pytest.mark.parametrize("chosen", [-1, 3, 10])
def test_out_of_range_choice_is_refused(chosen: int) -> None:
    with pytest.raises(ValueError, match="out of range"):
        grade_answer(ITEM, chosen)


@pytest.mark.parametrize("locale", ["fr", "en"])
def test_feedback_stays_in_sms_friendly_characters(locale: str) -> None:
    # GSM-7 has é and à but no curly apostrophe nor non-breaking space.
    for chosen in range(3):
        feedback = grade_answer(ITEM, chosen, locale=locale).feedback
        assert not set(feedback) & {"’", "\u00a0", "\u202f", "«", "»"}


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        ([], 0.0),
        ([1], 1.0),
        ([0], 0.0),
        ([1, 0], 0.5),
        ([1, 1, 0, 2], 0.5),
        ([1, 1, 1, 0], 0.75),
    ],
)
def test_score(answers: list[int], expected: float) -> None:
    assert score(grade_answer(ITEM, chosen) for chosen in answers) == expected
