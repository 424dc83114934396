"""A question nobody answered, at one of its checks: remind, run the silence branch, or expire.

Pure: the tick loads the open question and calls :func:`on_silence`; the events it returns
(:class:`ReminderSent`, :class:`BranchTaken` with index -1, :class:`QuestionExpired`) are
applied by ``engine/services/silence.py``; the simulator walks the same checks
(:func:`engine.core.branching.silence_check_at`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from engine.campaign.schema import Step
from engine.core import events as ev
from engine.core.branching import extended_deadline, silence_check_at

#: The trigger of a silence branch, from its question (keys the rows it creates).
SILENCE_TRIGGER = 9


@dataclass(frozen=True)
class UnansweredQuestion:
    """An open question as the silence check sees it."""

    prompt_id: int
    channel: str
    opened_at: datetime
    expires_at: datetime
    reminders_sent: int


@dataclass(frozen=True)
class SilenceChecked:
    """What a check decided, and when the question must be looked at next (None: closed)."""

    events: tuple[ev.Event, ...]
    check_at: datetime | None


def on_silence(question: UnansweredQuestion, step: Step | None, *, now: datetime,
               tz: ZoneInfo | str) -> SilenceChecked:
    """The fate of an unanswered question at ``now``: a reminder, the silence branch, expiry or nothing yet."""
    rule = step.on_silence if step is not None else None
    if rule is not None and step is not None:
        due = silence_check_at(question.opened_at, rule.after, question.reminders_sent + 1, tz)
        if due <= now:
            if question.reminders_sent < rule.remind:
                expires = extended_deadline(question.opened_at, question.expires_at, now)
                # From now: a reminder sent late (the worker was down) is still followed by a
                # full ``after`` before the next check.
                following = silence_check_at(now, rule.after, 1, tz)
                reminder = ev.ReminderSent(question.prompt_id, question.reminders_sent + 1, question.channel)
                return SilenceChecked((reminder,), min(following, expires))
            branch = ev.BranchTaken(step.id, -1, question.prompt_id * 10 + SILENCE_TRIGGER)
            return SilenceChecked((ev.QuestionExpired(question.prompt_id), branch), None)
        if question.expires_at > now:
            return SilenceChecked((), min(due, question.expires_at))
    if question.expires_at <= now:
        return SilenceChecked((ev.QuestionExpired(question.prompt_id),), None)
    return SilenceChecked((), question.expires_at)
