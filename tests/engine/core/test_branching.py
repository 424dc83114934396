"""Branching: which ``if`` entries hold for an outcome, and what a silence triggers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from engine.campaign.schema import Condition, Step
from engine.core.branching import (
    Outcome,
    SilenceCheck,
    actions_for_outcome,
    answer_token,
    condition_holds,
    is_expired,
    silence_actions,
    silence_checks,
)
from engine.core.offsets import Duration

ALERT = {"alert": "trainer", "reason": "r"}


def condition(**test: Any) -> Condition:
    return Condition.model_validate({**test, "then": ALERT})


@pytest.mark.parametrize(
    ("value", "token"),
    [(True, "oui"), (False, "non"), ("bloque", "bloque"), (3, None), (None, None)],
)
def test_answer_token(value: object, token: str | None) -> None:
    assert answer_token(value) == token


@pytest.mark.parametrize(
    ("test", "outcome", "holds"),
    [
        ({"score_below": 0.5}, Outcome(score=0.33), True),
        ({"score_below": 0.5}, Outcome(score=0.5), False),
        ({"score_below": 0.5}, Outcome(), False),  # unanswered quiz: no score, no branch
        ({"score_at_least": 0.5}, Outcome(score=0.5), True),
        ({"score_at_least": 0.5}, Outcome(score=0.49), False),
        ({"rating_below": 3}, Outcome(ratings=(5, 2, 4)), True),  # any criterion below
        ({"rating_below": 3}, Outcome(ratings=(3, 3)), False),
        ({"rating_below": 3}, Outcome(), False),
        ({"nps_below": 7}, Outcome(nps=6), True),
        ({"nps_below": 7}, Outcome(nps=7), False),
        ({"nps_below": 7}, Outcome(), False),
        ({"answer": "bloque"}, Outcome(answers={"statut": "bloque"}), True),
        ({"answer": "bloque"}, Outcome(answers={"statut": "fait"}), False),
        ({"answer": ["formation", "accompagnement"]}, Outcome(answers={"suite": "accompagnement"}), True),
        ({"answer": "oui"}, Outcome(answers={"consent": True}), True),
        ({"answer": "non"}, Outcome(answers={"consent": True}), False),
        ({"answer": "bloque"}, Outcome(answers={"note": 2}), False),
        ({"answer": "bloque"}, Outcome(), False),
    ],
)
def test_condition_holds(test: dict[str, Any], outcome: Outcome, holds: bool) -> None:
    assert condition_holds(condition(**test), outcome) is holds


QUIZ = Step.model_validate({
    "id": "quiz", "at": "+7d", "quiz": "q", "ask": 3,
    "if": [
        {"score_below": 0.5, "then": [{"lesson": "recap", "at": "+1d"}, {"mark": "at_risk"}]},
        {"score_below": 0.8, "then": {"alert": "trainer", "reason": "moyen"}},
        {"score_at_least": 0.8, "then": {"goto": "bravo"}},
    ],
    "on_silence": {"after": "2d", "remind": 2, "then": [{"alert": "trainer", "reason": "muet"}, {"stop": True}]},
})


@pytest.mark.parametrize(
    ("score", "expected"),
    [
        (0.0, ["lesson:recap", "mark:at_risk", "alert:trainer"]),  # every entry that holds, in order
        (0.66, ["alert:trainer"]),
        (1.0, ["goto:bravo"]),
        (None, []),
    ],
)
def test_actions_for_outcome(score: float | None, expected: list[str]) -> None:
    actions = actions_for_outcome(QUIZ, Outcome(score=score))
    described = []
    for action in actions:
        if action.send_kind:
            described.append(f"{action.send_kind}:{getattr(action, action.send_kind)}")
        elif action.mark:
            described.append(f"mark:{action.mark}")
        elif action.alert:
            described.append(f"alert:{action.alert}")
        elif action.goto:
            described.append(f"goto:{action.goto}")
    assert described == expected


@pytest.mark.parametrize(
    ("on_silence", "expected"),
    [
        (None, []),
        ({"after": "2d"}, [(Duration(days=2), 1, False), (Duration(days=2), 2, True)]),
        ({"after": "1d", "remind": 0}, [(Duration(days=1), 1, True)]),
        ({"after": "2d", "remind": 2},
         [(Duration(days=2), 1, False), (Duration(days=2), 2, False), (Duration(days=2), 3, True)]),
    ],
)
def test_silence_checks(on_silence: dict[str, Any] | None, expected: list[tuple[Duration, int, bool]]) -> None:
    step = Step.model_validate({"id": "s", "at": "+1d", "checkin": "c", "on_silence": on_silence})
    assert silence_checks(step) == [SilenceCheck(*row) for row in expected]


@pytest.mark.parametrize(
    ("step", "expected"),
    [
        (QUIZ, [("trainer", False), (None, True)]),
        (Step.model_validate({"id": "s", "at": "+1d", "checkin": "c", "on_silence": {"after": "1d"}}), []),
        (Step.model_validate({"id": "s", "at": "+1d", "lesson": "l"}), []),
    ],
)
def test_silence_actions(step: Step, expected: list[tuple[str | None, bool]]) -> None:
    assert [(a.alert, a.stop) for a in silence_actions(step)] == expected


NOON = datetime(2026, 4, 3, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "expired"),
    [(NOON - timedelta(seconds=1), False), (NOON, True), (NOON + timedelta(days=1), True)],
)
def test_is_expired(now: datetime, expired: bool) -> None:
    assert is_expired(NOON, now) is expired
