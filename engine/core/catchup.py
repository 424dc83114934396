"""No catch-up spam: what happens to messages that are overdue after a pause or an outage.

Each step says what an overdue message does (``overdue``): wait for the next
window (``next_window``), be dropped (``skip``), or be dropped once older than
``expire_after`` (``expire``). Messages that still go out are spread one a day
so a learner back from a pause never gets the whole backlog at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from engine.campaign.schema import SendWindow
from engine.core.windows import next_open

#: A message this late is "overdue"; anything less late just goes out (a busy queue).
LATE_AFTER = timedelta(hours=1)


@dataclass(frozen=True)
class OverdueItem:
    """One planned message, as the catch-up rule sees it."""

    key: int
    due_at: datetime
    policy: Literal["next_window", "skip", "expire"]
    expire_after: timedelta
    window: SendWindow


@dataclass(frozen=True)
class CatchUpDecision:
    key: int
    action: Literal["send", "skip", "expire"]
    due_at: datetime | None
    reason: str


def is_overdue(due_at: datetime, now: datetime) -> bool:
    return now - due_at > LATE_AFTER


def catch_up(items: Sequence[OverdueItem], *, now: datetime, tz: ZoneInfo,
             spacing: timedelta = timedelta(days=1),
             upcoming: Sequence[OverdueItem] = ()) -> list[CatchUpDecision]:
    """Decisions for one learner's overdue messages: oldest first, survivors one per ``spacing``.

    ``upcoming`` are the learner's later planned messages (not overdue): those due
    before the last survivor's slot plus ``spacing`` are moved after it, each
    keeping its gap to the one before (at most ``spacing``), so that none is sent
    before an earlier step of the campaign. Only moved ones get a decision.
    """
    decisions: list[CatchUpDecision] = []
    slot = now
    for item in sorted(items, key=lambda i: (i.due_at, i.key)):
        late = now - item.due_at
        if item.policy == "skip":
            decisions.append(CatchUpDecision(item.key, "skip", None, f"overdue by {_human(late)}: step skips late messages"))
            continue
        if item.policy == "expire" and late > item.expire_after:
            decisions.append(CatchUpDecision(item.key, "expire", None, f"overdue by {_human(late)}: expired"))
            continue
        due = next_open(slot, item.window, tz)
        reason = "overdue: sent at the next window" if due == slot == now else "overdue: spread to the next window"
        decisions.append(CatchUpDecision(item.key, "send", due, reason))
        slot = due + spacing
    if slot == now:  # nothing spread: nothing to make way for
        return decisions
    previous: OverdueItem | None = None
    for item in sorted(upcoming, key=lambda i: (i.due_at, i.key)):
        earliest = slot if previous is None else slot + min(item.due_at - previous.due_at, spacing)
        if item.due_at >= earliest:
            break  # late enough already, and so is everything after it
        due = next_open(earliest, item.window, tz)
        decisions.append(CatchUpDecision(item.key, "send", due, "moved after an earlier overdue message"))
        previous, slot = item, due
    return decisions


def _human(span: timedelta) -> str:
    hours = int(span.total_seconds() // 3600)
    return f"{hours // 24}d{hours % 24}h" if hours >= 24 else f"{hours}h"
