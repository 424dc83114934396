"""Branching: which actions a finished question (or a silence) triggers.

Pure functions over a step and an :class:`Outcome`; the engine and the simulator
both call them, so a campaign behaves the same in a simulation and for real.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from engine.campaign.schema import Action, Condition, Step
from engine.core.offsets import Duration, Offset
from engine.core.timeline import apply_offset


@dataclass(frozen=True)
class Outcome:
    """What a learner answered to one step: a quiz score, or survey answers by question id."""

    score: float | None = None
    answers: Mapping[str, object] = field(default_factory=dict)
    ratings: tuple[int, ...] = ()
    nps: int | None = None


def answer_token(value: object) -> str | None:
    """The token an ``answer:`` test compares with: a choice value, or oui/non."""
    if isinstance(value, bool):
        return "oui" if value else "non"
    if isinstance(value, str):
        return value
    return None


def condition_holds(condition: Condition, outcome: Outcome) -> bool:
    """Whether one ``if`` entry holds for this outcome (a missing answer never holds)."""
    if condition.score_below is not None:
        return outcome.score is not None and outcome.score < condition.score_below
    if condition.score_at_least is not None:
        return outcome.score is not None and outcome.score >= condition.score_at_least
    if condition.rating_below is not None:
        return any(rating < condition.rating_below for rating in outcome.ratings)
    if condition.nps_below is not None:
        return outcome.nps is not None and outcome.nps < condition.nps_below
    if condition.answer is not None:
        wanted = {condition.answer} if isinstance(condition.answer, str) else set(condition.answer)
        given = {answer_token(value) for value in outcome.answers.values()}
        return bool(wanted & given)
    return False


def actions_for_outcome(step: Step, outcome: Outcome) -> list[Action]:
    """Every action of every ``if`` entry that holds, in the order the designer wrote them."""
    actions: list[Action] = []
    for condition in step.if_:
        if condition_holds(condition, outcome):
            actions.extend(condition.actions)
    return actions


def newly_holding(step: Step, outcome: Outcome, *, fired: set[int], final: bool) -> list[tuple[int, list[Action]]]:
    """Branches to run now, by index, that have not run yet.

    Answer, rating and NPS tests fire as soon as they hold (a blocked action plan
    alerts at once, even if the learner skips the optional questions after it);
    score tests need the whole quiz, so they wait for ``final``.
    """
    due = []
    for index, condition in enumerate(step.if_):
        if index in fired:
            continue
        is_score = condition.score_below is not None or condition.score_at_least is not None
        if is_score and not final:
            continue
        if condition_holds(condition, outcome):
            due.append((index, condition.actions))
    return due


@dataclass(frozen=True)
class SilenceCheck:
    """One moment to look for a reply: send reminder ``number``, or run the silence branch."""

    after: Duration
    number: int
    is_final: bool


def silence_checks(step: Step) -> list[SilenceCheck]:
    """The reminders then the final branch for a step with ``on_silence``, each ``after`` apart."""
    if step.on_silence is None:
        return []
    rule = step.on_silence
    checks = [SilenceCheck(rule.after, number, False) for number in range(1, rule.remind + 1)]
    checks.append(SilenceCheck(rule.after, rule.remind + 1, True))
    return checks


def silence_actions(step: Step) -> list[Action]:
    """What happens when every reminder went unanswered."""
    return step.on_silence.actions if step.on_silence is not None else []


def is_expired(expires_at: datetime, now: datetime) -> bool:
    """Whether a question no longer accepts replies."""
    return now >= expires_at


def silence_check_at(opened_at: datetime, after: Duration, number: int, tz: ZoneInfo | str) -> datetime:
    """When silence check ``number`` (1-based) of a question falls: ``after`` apart from when
    it was asked, on the wall clock (the reminder it sends then waits for the send window)."""
    due = opened_at
    for _ in range(number):
        due = apply_offset(due, Offset(after), tz)
    return due


def extended_deadline(opened_at: datetime, expires_at: datetime, reminded_at: datetime) -> datetime:
    """A reminder reopens the question for as long as it was open so far."""
    return max(expires_at, reminded_at + (expires_at - opened_at))
