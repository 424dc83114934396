"""No catch-up spam: overdue messages after a pause follow their step's policy, one a day."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from engine.campaign.schema import SendWindow
from engine.core.catchup import LATE_AFTER, CatchUpDecision, OverdueItem, catch_up, is_overdue

PARIS = ZoneInfo("Europe/Paris")
WINDOW = SendWindow.model_validate({"from": "09:00", "to": "19:00"})
# Back from a pause on Tuesday 14 April 2026 at 10:00.
NOW = datetime(2026, 4, 14, 10, 0, tzinfo=PARIS)
DAY = timedelta(days=1)


def item(key: int, days_late: float, policy: str = "next_window", expire_after: timedelta = 2 * DAY,
         window: SendWindow = WINDOW) -> OverdueItem:
    return OverdueItem(key, NOW - timedelta(days=days_late), policy, expire_after, window)  # type: ignore[arg-type]


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 4, day, hour, minute, tzinfo=PARIS)


@pytest.mark.parametrize(
    ("late", "overdue"),
    [(timedelta(0), False), (LATE_AFTER, False), (LATE_AFTER + timedelta(seconds=1), True), (3 * DAY, True)],
)
def test_is_overdue(late: timedelta, overdue: bool) -> None:
    assert is_overdue(NOW - late, NOW) is overdue


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        # Nothing overdue to decide: nothing decided.
        ([], []),
        # One survivor goes out at once, the window being open.
        ([item(1, 3)], [(1, "send", at(14, 10), "overdue: sent at the next window")]),
        # Three survivors are spread one a day, oldest first, whatever the input order.
        ([item(3, 1), item(1, 5), item(2, 3)],
         [(1, "send", at(14, 10), "overdue: sent at the next window"),
          (2, "send", at(15, 10), "overdue: spread to the next window"),
          (3, "send", at(16, 10), "overdue: spread to the next window")]),
        # skip drops; expire drops only what is older than expire_after.
        ([item(1, 5, "skip"), item(2, 3, "expire"), item(3, 1, "expire")],
         [(1, "skip", None, "overdue by 5d0h: step skips late messages"),
          (2, "expire", None, "overdue by 3d0h: expired"),
          (3, "send", at(14, 10), "overdue: sent at the next window")]),
        # Dropped items do not take a day's slot.
        ([item(1, 5, "skip"), item(2, 4), item(3, 2)],
         [(1, "skip", None, "overdue by 5d0h: step skips late messages"),
          (2, "send", at(14, 10), "overdue: sent at the next window"),
          (3, "send", at(15, 10), "overdue: spread to the next window")]),
        # A narrower step window pushes its message to that window.
        ([item(1, 2, window=SendWindow.model_validate({"from": "14:00", "to": "16:00"}))],
         [(1, "send", at(14, 14), "overdue: spread to the next window")]),
        # Spacing from Friday lands on Monday (weekend closed).
        ([item(1, 3, window=SendWindow.model_validate({"days": ["fri", "mon"], "from": "09:00", "to": "19:00"})),
          item(2, 2, window=SendWindow.model_validate({"days": ["fri", "mon"], "from": "09:00", "to": "19:00"}))],
         [(1, "send", at(17, 9), "overdue: spread to the next window"),
          (2, "send", at(20, 9), "overdue: spread to the next window")]),
    ],
)
def test_catch_up(items: list[OverdueItem], expected: list[tuple[int, str, datetime | None, str]]) -> None:
    assert catch_up(items, now=NOW, tz=PARIS) == [CatchUpDecision(*row) for row in expected]  # type: ignore[arg-type]


def test_never_two_sends_within_the_spacing() -> None:
    items = [item(key, key) for key in range(1, 8)]
    sends = [d.due_at for d in catch_up(items, now=NOW, tz=PARIS) if d.due_at is not None]
    assert len(sends) == 7
    assert all(later - earlier >= DAY for earlier, later in itertools.pairwise(sends))


def test_hours_under_a_day_are_reported_in_hours() -> None:
    decision = catch_up([item(1, 0.25, "skip")], now=NOW, tz=PARIS)[0]
    assert decision.reason == "overdue by 6h: step skips late messages"


def ahead(key: int, days: float, hour_shift: float = 0) -> OverdueItem:
    """A later planned message of the same learner, due ``days`` from now (not overdue)."""
    return OverdueItem(key, NOW + timedelta(days=days, hours=hour_shift), "next_window", 2 * DAY, WINDOW)


def test_later_messages_make_way_for_the_spread_keeping_their_gaps() -> None:
    # Three overdue reviews spread to Tue, Wed, Thu 10:00; the learner's next steps were due
    # Tue 15:00 and Wed 12:00 (21 h apart), then next Tuesday: the first two slide after
    # Thursday (Fri 10:00, then 21 h later: Sat 07:00, the window opens Monday 09:00); the
    # third, more than a day after that, keeps its time.
    upcoming = [ahead(10, 0, 5), ahead(11, 1, 2), ahead(12, 7)]
    decisions = catch_up([item(1, 5), item(2, 3), item(3, 1)], now=NOW, tz=PARIS, upcoming=upcoming)
    moved = [(d.key, d.due_at, d.reason) for d in decisions if d.key >= 10]
    assert moved == [(10, at(17, 10), "moved after an earlier overdue message"),
                     (11, at(20, 9), "moved after an earlier overdue message")]
    sends = sorted((d.due_at, d.key) for d in decisions if d.due_at is not None)
    # The campaign's order holds: overdue ones first, then the later steps in their own order.
    assert [key for _, key in sends] == [1, 2, 3, 10, 11]


def test_the_spread_spacing_holds_for_a_step_due_just_after() -> None:
    # One survivor goes out now; the next step, due in 30 minutes, waits a day; the one after,
    # two days on, keeps its time.
    decisions = catch_up([item(1, 3)], now=NOW, tz=PARIS, upcoming=[ahead(10, 0, 0.5), ahead(11, 2)])
    assert [(d.key, d.due_at) for d in decisions] == [(1, at(14, 10)), (10, at(15, 10))]


def test_nothing_spread_moves_nothing() -> None:
    decisions = catch_up([item(1, 3, "skip")], now=NOW, tz=PARIS, upcoming=[ahead(10, 0, 0.5)])
    assert [d.key for d in decisions] == [1]
