"""One conversation turn: a reply graded or recorded, a clarification asked once, alerts raised."""

from __future__ import annotations

from typing import Any

import pytest

from engine.content.models import Question, QuizItem
from engine.core.branching import Outcome
from engine.core.conversation import (
    answer_question,
    answer_quiz,
    clarification,
    expectation_from,
    outcome_from_trail,
    thanks,
)
from engine.core.replies import Expectation
from engine.core.trail import Trail

ITEM = QuizItem(id="sbi", question="Que signifie SBI ?", choices=["Solution", "Signal", "Situation"],
                answer="C", explanation="Situation, Behavior, Impact.")


def question(kind: str, **extra: Any) -> Question:
    return Question.model_validate({"id": f"q-{kind}".replace("_", "-"), "type": kind, "text": "Votre avis ?",
                                    **extra})


RATING = question("rating")
NPS = question("nps")
TEXT = question("text", optional=True)
YES_NO = question("yes_no")
CHOICE = question("choice", choices=[{"value": "fait", "label": "C'est fait"},
                                     {"value": "bloque", "label": "Je suis bloqué(e)"}])


@pytest.mark.parametrize(
    ("text", "clarified", "status", "value", "correct", "feedback_start"),
    [
        ("C", False, "answered", "C", True, "Bravo"),
        ("la c", False, "answered", "C", True, "Bravo"),
        ("3", False, "answered", "C", True, "Bravo"),
        ("b)", False, "answered", "B", False, "Pas tout à fait : la bonne réponse est C."),
        ("je ne sais pas", False, "clarify", None, None, "Je n'ai pas bien compris. Répondez avec une seule lettre : A, B, C."),
        ("je ne sais pas", True, "gave_up", None, None, None),
    ],
)
def test_answer_quiz(text: str, clarified: bool, status: str, value: str | None, correct: bool | None,
                     feedback_start: str | None) -> None:
    turn = answer_quiz(ITEM, text, trail=None, clarified=clarified)
    assert (turn.status, turn.value, turn.correct) == (status, value, correct)
    if feedback_start is None:
        assert turn.feedback is None
    else:
        assert turn.feedback is not None and turn.feedback.startswith(feedback_start)


@pytest.mark.parametrize(
    ("replies", "correct", "total", "score"),
    [([], 0, 0, None), (["C"], 1, 1, 1.0), (["C", "A"], 1, 2, 0.5), (["A", "B", "C"], 1, 3, 1 / 3),
     (["A", "??"], 0, 1, 0.0)],
)
def test_quiz_trail_carries_the_score_across_questions(replies: list[str], correct: int, total: int,
                                                        score: float | None) -> None:
    trail: Trail | None = None
    for text in replies:
        trail = answer_quiz(ITEM, text, trail=trail, clarified=True).trail
    trail = trail or Trail()
    assert (trail.correct, trail.total) == (correct, total)
    assert outcome_from_trail("quiz", trail) == Outcome(score=score)


@pytest.mark.parametrize(
    ("asked", "text", "status", "value", "alerts"),
    [
        (RATING, "4", "answered", 4, ()),
        (RATING, "2/5", "answered", 2, (("low_rating", "Note 2/5 : Votre avis ?"),)),
        (NPS, "9", "answered", 9, ()),
        (NPS, "6 sur 10", "answered", 6, (("detractor", "NPS 6/10 (détracteur)"),)),
        (YES_NO, "oui", "answered", True, ()),
        (YES_NO, "n", "answered", False, ()),
        (CHOICE, "B", "answered", "bloque", ()),
        (CHOICE, "c'est fait", "answered", "fait", ()),
        (TEXT, "Très utile", "answered", "Très utile", ()),
        (TEXT, "passer", "skipped", None, ()),
        (RATING, "bof", "clarify", None, ()),
    ],
)
def test_answer_question(asked: Question, text: str, status: str, value: object,
                         alerts: tuple[tuple[str, str], ...]) -> None:
    turn = answer_question(asked, text, trail=None, clarified=False)
    assert (turn.status, turn.value, turn.alerts) == (status, value, alerts)


def test_complaint_words_raise_an_alert() -> None:
    turn = answer_question(TEXT, "Formation nulle, je suis déçu", trail=None, clarified=False)
    assert turn.status == "answered"
    assert [kind for kind, _ in turn.alerts] == ["complaint"]


@pytest.mark.parametrize(
    ("asked", "clarified", "status"),
    [(RATING, False, "clarify"), (RATING, True, "gave_up"), (YES_NO, False, "clarify")],
)
def test_one_clarification_then_give_up(asked: Question, clarified: bool, status: str) -> None:
    assert answer_question(asked, "euh", trail=None, clarified=clarified).status == status


def test_survey_trail_becomes_the_outcome() -> None:
    trail: Trail | None = None
    for asked, text in ((RATING, "2"), (NPS, "5"), (CHOICE, "B"), (YES_NO, "oui")):
        trail = answer_question(asked, text, trail=trail, clarified=False).trail
    assert trail is not None
    assert outcome_from_trail("survey", trail) == Outcome(
        answers={"q-rating": 2, "q-nps": 5, "q-choice": "bloque", "q-yes-no": True}, ratings=(2,), nps=5,
    )


@pytest.mark.parametrize(
    ("expected", "locale", "text"),
    [
        (Expectation("choice", choices=("a", "b")), "fr", "Je n'ai pas bien compris. Répondez avec une seule lettre : A, B."),
        (Expectation("rating", scale=(1, 5)), "en", "Sorry, I did not understand. Reply with a rating from 1 to 5."),
        (Expectation("yes_no"), "de", "Je n'ai pas bien compris. Répondez OUI ou NON."),
    ],
)
def test_clarification(expected: Expectation, locale: str, text: str) -> None:
    assert clarification(expected, locale) == text


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"kind": "choice", "choices": ["x", "y"], "values": ["a", "b"]},
         Expectation("choice", choices=("x", "y"), values=("a", "b"))),
        ({"kind": "nps", "scale": [0, 10]}, Expectation("nps", scale=(0, 10))),
        ({}, Expectation("text")),
    ],
)
def test_expectation_from_stored_prompt(data: dict[str, Any], expected: Expectation) -> None:
    assert expectation_from(data) == expected


@pytest.mark.parametrize(("locale", "text"), [("fr", "Merci, c'est noté."), ("en", "Thank you, noted."),
                                              ("es", "Merci, c'est noté.")])
def test_thanks(locale: str, text: str) -> None:
    assert thanks(locale) == text
