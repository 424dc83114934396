"""An unanswered question at its checks: remind, then the silence branch, else expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from engine.campaign.schema import Campaign
from engine.core import events as ev
from engine.core.silence import UnansweredQuestion, on_silence

ASKED = datetime(2026, 3, 31, 8, 0, tzinfo=UTC)  # a Tuesday, 10:00 in Paris
CAMPAIGN = Campaign.model_validate({"campaign": "silence", "title": "Silence", "steps": [
    {"id": "quiz", "at": "+7d", "quiz": "management/quiz-sbi",
     "on_silence": {"after": "1d", "remind": 1, "then": {"alert": "trainer", "reason": "Sans réponse"}}},
    {"id": "tip", "at": "+8d", "quiz": "management/quiz-sbi"}]})
QUIZ, TIP = CAMPAIGN.steps


def question(reminders: int = 0, expires: timedelta = timedelta(days=3)) -> UnansweredQuestion:
    return UnansweredQuestion(prompt_id=4, channel="sms", opened_at=ASKED, expires_at=ASKED + expires,
                              reminders_sent=reminders)


@pytest.mark.parametrize(
    ("asked", "step", "after", "events", "check_in"),
    [(question(), QUIZ, timedelta(hours=23), (), timedelta(days=1)),
     (question(), QUIZ, timedelta(days=1), (ev.ReminderSent(4, 1, "sms"),), timedelta(days=2)),
     (question(1), QUIZ, timedelta(days=2), (ev.QuestionExpired(4), ev.BranchTaken("quiz", -1, 49)), None),
     (question(expires=timedelta(hours=12)), QUIZ, timedelta(hours=12), (ev.QuestionExpired(4),), None),
     (question(), TIP, timedelta(days=1), (), timedelta(days=3)),
     (question(), TIP, timedelta(days=3), (ev.QuestionExpired(4),), None),
     (question(), None, timedelta(days=3), (ev.QuestionExpired(4),), None)],
)
def test_on_silence(asked: UnansweredQuestion, step: object, after: timedelta, events: tuple[ev.Event, ...],
                    check_in: timedelta | None) -> None:
    checked = on_silence(asked, step, now=ASKED + after, tz="Europe/Paris")  # type: ignore[arg-type]
    assert checked.events == events
    assert checked.check_at == (None if check_in is None else ASKED + check_in)


def test_a_reminder_reopens_the_question_for_as_long_again() -> None:
    checked = on_silence(question(), QUIZ, now=ASKED + timedelta(days=1), tz="Europe/Paris")
    assert checked.check_at == ASKED + timedelta(days=2)  # the next check, before the new deadline (day 4)
