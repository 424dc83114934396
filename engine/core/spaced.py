"""Spaced repetition for quiz items sent by message: FSRS tuned to days, plus the Qstream baseline.

FSRS (the ``fsrs`` package) is built for flashcard apps, where a failed card comes back
after 1 or 10 minutes. By SMS that is meaningless, so the scheduler here has no learning or
relearning steps: every answer, right or wrong, schedules the next ask at least one day
later. Intervals are capped by what is left of the campaign's review window, fuzzing is off
so that the same answers always give the same dates, and all datetimes are UTC-aware.

Answer to rating (kept deliberately small, a learner replies "B", not a self-grade):
wrong → ``Again``; right → ``Good``; right but ``slow`` (the caller decides, e.g. the
learner needed the reminder) → ``Hard``.

Retirement: an item is retired when it was just answered right and FSRS predicts the
learner will still recall it at the close of the review window with at least the desired
retention, i.e. the next interval reaches past the remaining horizon. Asking again inside
the campaign would spend a message for nothing. A later wrong answer un-retires it.

Qstream's published cadence is kept as the fixed baseline to beat (:func:`qstream_next`).
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from fsrs import Card, Rating, Scheduler
from fsrs.card import CardDict

__all__ = [
    "QSTREAM_AFTER_RIGHT",
    "QSTREAM_AFTER_WRONG",
    "ReviewState",
    "mean_retrievability",
    "new_state",
    "pick_due_items",
    "qstream_next",
    "rating_for",
    "record_answer",
    "retrievability",
    "within_weekly_cap",
]

QSTREAM_AFTER_WRONG = timedelta(days=12)
QSTREAM_AFTER_RIGHT = timedelta(days=24)
_WEEK = timedelta(days=7)
# Retrievability only depends on the FSRS weights, not on retention or caps.
_PARAMETERS_ONLY = Scheduler(learning_steps=(), relearning_steps=(), enable_fuzzing=False)


def _utc(moment: datetime, name: str) -> datetime:
    """Return ``moment`` in UTC; a naive datetime is a bug upstream, so refuse it."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {moment.isoformat()}")
    return moment.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class ReviewState:
    """One learner's memory of one quiz item, as stored in a JSON column.

    ``due`` is when the item should next be asked (UTC); ``card`` is the fsrs card dict
    (stability, difficulty, last review) that FSRS needs to continue.
    """

    item_id: str
    card: CardDict = field(hash=False)
    due: datetime
    reps: int = 0
    lapses: int = 0
    consecutive_correct: int = 0
    retired: bool = False

    def __post_init__(self) -> None:
        if self.due.tzinfo is None or self.due.utcoffset() != timedelta(0):
            raise ValueError("ReviewState.due must be an aware UTC datetime")

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (strings, numbers, booleans, null) for the database."""
        return {
            "item_id": self.item_id,
            "card": dict(self.card),
            "due": self.due.isoformat(),
            "reps": self.reps,
            "lapses": self.lapses,
            "consecutive_correct": self.consecutive_correct,
            "retired": self.retired,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ReviewState:
        """Inverse of :meth:`to_dict`; ``from_dict(s.to_dict()) == s`` exactly."""
        card = Card.from_dict(data["card"])  # validates the card shape
        return cls(
            item_id=str(data["item_id"]),
            card=card.to_dict(),
            due=_utc(datetime.fromisoformat(data["due"]), "due"),
            reps=int(data["reps"]),
            lapses=int(data["lapses"]),
            consecutive_correct=int(data["consecutive_correct"]),
            retired=bool(data["retired"]),
        )


def _scheduler(horizon_days: int, desired_retention: float) -> Scheduler:
    return Scheduler(
        desired_retention=desired_retention,
        learning_steps=(),
        relearning_steps=(),
        maximum_interval=horizon_days,
        enable_fuzzing=False,
    )


def new_state(item_id: str, *, now: datetime) -> ReviewState:
    """State for an item never asked: due at once, nothing known about the learner yet."""
    now = _utc(now, "now")
    # A stable id from the item id: fsrs otherwise stamps the wall clock (and sleeps 1 ms).
    card = Card(card_id=zlib.crc32(item_id.encode()), due=now)
    return ReviewState(item_id=item_id, card=card.to_dict(), due=now)


def rating_for(correct: bool, *, slow: bool = False) -> Rating:
    """Map a graded quiz answer to an FSRS rating (see the module docstring)."""
    if not correct:
        return Rating.Again
    return Rating.Hard if slow else Rating.Good


def record_answer(
    state: ReviewState,
    *,
    correct: bool,
    at: datetime,
    horizon_days: int,
    desired_retention: float = 0.9,
    slow: bool = False,
) -> ReviewState:
    """Feed one graded answer to FSRS and return the new state with its next ``due``.

    ``horizon_days`` is what is left of the review window from ``at``, in whole days; the
    next ask never lands beyond it (and never sooner than one day: a message a day at most).
    """
    at = _utc(at, "at")
    if not 0 < desired_retention < 1:
        raise ValueError(f"desired_retention must be in (0, 1), got {desired_retention}")
    cap = max(1, horizon_days)
    scheduler = _scheduler(cap, desired_retention)
    card, _ = scheduler.review_card(
        Card.from_dict(state.card), rating_for(correct, slow=slow), review_datetime=at
    )
    end = at + timedelta(days=cap)
    retired = correct and scheduler.get_card_retrievability(card, end) >= desired_retention
    return ReviewState(
        item_id=state.item_id,
        card=card.to_dict(),
        due=_utc(card.due, "due"),
        reps=state.reps + 1,
        lapses=state.lapses + (0 if correct else 1),
        consecutive_correct=state.consecutive_correct + 1 if correct else 0,
        retired=retired,
    )


def retrievability(state: ReviewState, *, now: datetime) -> float:
    """Predicted probability (0..1) that the learner recalls the item at ``now``.

    A never-answered item returns 0.0: unknown is treated as not known, so new items are
    asked before items the learner is merely starting to forget.
    """
    now = _utc(now, "now")
    return float(_PARAMETERS_ONLY.get_card_retrievability(Card.from_dict(state.card), now))


def mean_retrievability(states: Sequence[ReviewState], moments: Sequence[datetime]) -> list[float | None]:
    """The mean of :func:`retrievability` over ``states`` at each of ``moments`` (None when empty).

    Each card is read once, whatever the number of moments (a retention curve).
    """
    cards = [Card.from_dict(state.card) for state in states]
    out: list[float | None] = []
    for moment in moments:
        at = _utc(moment, "moment")
        out.append(sum(float(_PARAMETERS_ONLY.get_card_retrievability(card, at)) for card in cards) / len(cards)
                   if cards else None)
    return out


def pick_due_items(states: Mapping[str, ReviewState], *, now: datetime, limit: int) -> list[str]:
    """Which items to ask now: due and not retired, weakest memory first, at most ``limit``.

    Order: lowest retrievability, then earliest due (most overdue), then item id, so
    the same states always give the same pick.
    """
    now = _utc(now, "now")
    if limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit}")
    due = [
        (retrievability(s, now=now), s.due, item_id)
        for item_id, s in states.items()
        if not s.retired and s.due <= now
    ]
    return [item_id for _, _, item_id in sorted(due)[:limit]]


def within_weekly_cap(sent_times: Sequence[datetime], *, now: datetime, per_week: int) -> bool:
    """True when one more send at ``now`` keeps the learner within ``per_week`` sends.

    The window is rolling, the 7 days up to and including ``now`` (not the calendar week),
    so a learner never gets a burst across a Sunday night.
    """
    now = _utc(now, "now")
    if per_week < 0:
        raise ValueError(f"per_week must be >= 0, got {per_week}")
    start = now - _WEEK
    recent = sum(1 for t in sent_times if start < _utc(t, "sent_times") <= now)
    return recent < per_week


def qstream_next(history: Sequence[bool], *, last_at: datetime) -> datetime | None:
    """Qstream's fixed cadence: +12 days after a wrong answer, +24 after a right one.

    ``history`` is the item's answers, oldest first, the last one given at ``last_at``.
    Returns None (retired) after two right answers in a row.
    """
    last_at = _utc(last_at, "last_at")
    if not history:
        raise ValueError("qstream_next needs at least one answer")
    if len(history) >= 2 and history[-1] and history[-2]:
        return None
    return last_at + (QSTREAM_AFTER_RIGHT if history[-1] else QSTREAM_AFTER_WRONG)
