"""The small rules of a conversation, each in one place, for the engine and the simulator.

Every number a trainer could ask about ("after how many wrong answers am I told?",
"how long does a closed question still take a late 'B'?") is a constant here, and
every rule a plain function of plain data with the clock passed in.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from engine.campaign.schema import Campaign
from engine.content.models import QuizItem
from engine.core.signals import complaint_words
from engine.core.spaced import ReviewState, pick_due_items
from engine.core.timeline import apply_offset

#: Wrong quiz answers in a row (any quiz of the learner) before the trainer is alerted.
REPEATED_FAILURES = 3
REPEATED_FAILURE_REASON = "Trois mauvaises réponses de suite aux quiz"
#: How long after a question closed a short reply still counts as a late answer to it.
LATE_REPLY_WINDOW = timedelta(days=7)
#: A late answer is short ("B", "4/5", "oui merci"); a longer text is a question.
LATE_REPLY_MAX_CHARS = 12
#: How sure the FAQ match must be before its answer goes out without a trainer.
FAQ_AUTOREPLY_CONFIDENCE = 0.6
#: The review horizon when the campaign has no review step with an ``until`` for that bank.
DEFAULT_HORIZON_DAYS = 60


def repeated_failure(recent: Sequence[bool]) -> bool:
    """Whether the learner's latest graded answers (latest first, this one included) are
    :data:`REPEATED_FAILURES` wrong ones in a row."""
    latest = list(recent[:REPEATED_FAILURES])
    return len(latest) == REPEATED_FAILURES and not any(latest)


def is_late_reply(text: str) -> bool:
    """Whether a message, arriving after its question closed, reads as a late answer to it
    (short, and no complaint: a complaint goes to the trainers)."""
    return len(text.strip()) <= LATE_REPLY_MAX_CHARS and not complaint_words(text)


def review_horizon_days(campaign: Campaign, bank_ref: str, *, anchor: datetime, tz: ZoneInfo | str,
                        now: datetime) -> int:
    """Days left in the review window of ``bank_ref`` (the bank's first review step with an
    ``until``), at least one; FSRS never schedules an item past it."""
    steps = [s for s in campaign.steps if s.review == bank_ref and s.until is not None]
    if not steps or steps[0].until is None:
        return DEFAULT_HORIZON_DAYS
    end = apply_offset(anchor, steps[0].until, tz)
    return max(1, (end - now).days)


def pick_quiz_items(bank_items: Sequence[QuizItem], *, ask: int, seed: str, seen: set[str]) -> list[QuizItem]:
    """``ask`` items, unseen ones first, in a stable order per learner (no two learners alike)."""
    items = list(bank_items)
    start = zlib.crc32(seed.encode()) % len(items)
    rotated = items[start:] + items[:start]
    ordered = [i for i in rotated if i.id not in seen] + [i for i in rotated if i.id in seen]
    return ordered[:ask]


def pick_review_item(bank_items: Sequence[QuizItem], cards: Mapping[str, ReviewState], *,
                     now: datetime) -> QuizItem | None:
    """The item a spaced review asks: the most forgotten due card, else the first unseen item."""
    due = pick_due_items(cards, now=now, limit=1) if cards else []
    by_id = {item.id: item for item in bank_items}
    if due and due[0] in by_id:
        return by_id[due[0]]
    return next((item for item in bank_items if item.id not in cards), None)


def quiz_seed(learner_key: int | str, step_id: str, occurrence: int) -> str:
    """The seed of a quiz's item order: one learner's enrolment, one step, one occurrence
    (what production and the simulator both know before anything is sent)."""
    return f"{learner_key}:{step_id}:{occurrence}"
