"""Spaced repetition: day-scale FSRS invariants, serialisation, picking, caps, Qstream table."""

from __future__ import annotations

import importlib.util
import itertools
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fsrs import Rating
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.core.spaced import (
    ReviewState,
    mean_retrievability,
    new_state,
    pick_due_items,
    qstream_next,
    rating_for,
    record_answer,
    retrievability,
    within_weekly_cap,
)

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
PARIS = ZoneInfo("Europe/Paris")


def _play(answers: list[bool], *, horizon_days: int = 365) -> list[ReviewState]:
    """Answer each time the item falls due; return the state after each answer."""
    state = new_state("q1", now=T0)
    states = []
    for correct in answers:
        state = record_answer(state, correct=correct, at=state.due, horizon_days=horizon_days)
        states.append(state)
    return states


@pytest.mark.parametrize(
    ("correct", "slow", "rating"),
    [
        (False, False, Rating.Again),
        (False, True, Rating.Again),
        (True, False, Rating.Good),
        (True, True, Rating.Hard),
    ],
)
def test_rating_for(correct: bool, slow: bool, rating: Rating) -> None:
    assert rating_for(correct, slow=slow) is rating


@pytest.mark.parametrize(
    "answers",
    [[False], [False, False], [True, False], [True, True, False], [False, True, False]],
)
def test_wrong_answer_comes_back_a_day_later_not_ten_minutes(answers: list[bool]) -> None:
    states = _play(answers)
    before = states[-2].due if len(states) > 1 else T0
    last = states[-1]
    assert last.due - before >= timedelta(days=1)
    assert (last.reps, last.consecutive_correct, last.retired) == (len(answers), 0, False)
    assert last.lapses == answers.count(False)


@pytest.mark.parametrize(("answers", "n_rights"), [([True] * 4, 4), ([False] + [True] * 4, 4)])
def test_interval_grows_after_consecutive_rights(answers: list[bool], n_rights: int) -> None:
    states = _play(answers)
    at = [T0, *(s.due for s in states)]
    gaps = [at[i + 1] - at[i] for i in range(len(states))][-n_rights:]
    assert all(a < b for a, b in itertools.pairwise(gaps)), gaps
    assert states[-1].consecutive_correct == n_rights


@pytest.mark.parametrize(
    ("horizon_days", "answers", "max_gap", "retired"),
    [
        (10, [True, True, True], 10, True),  # capped, then retired: known past the window
        (3, [True, True], 3, True),
        (10, [False, False], 10, False),  # wrong answers are never retired
        (0, [True], 1, True),  # window closing: still at least a day, never same-day
        (365, [True, True], 365, False),  # far from the horizon: keep asking
    ],
)
def test_interval_capped_by_horizon_and_retire_rule(
    horizon_days: int, answers: list[bool], max_gap: int, retired: bool
) -> None:
    states = _play(answers, horizon_days=horizon_days)
    at = [T0, *(s.due for s in states)]
    assert all(at[i + 1] - at[i] <= timedelta(days=max_gap) for i in range(len(states)))
    assert states[-1].retired is retired


def test_wrong_answer_unretires() -> None:
    states = _play([True, True, True, False], horizon_days=10)
    assert states[-2].retired and not states[-1].retired


@pytest.mark.parametrize(
    "call",
    [
        lambda: new_state("q", now=datetime(2025, 1, 1)),
        lambda: record_answer(
            new_state("q", now=T0), correct=True, at=datetime(2025, 1, 1), horizon_days=30
        ),
        lambda: retrievability(new_state("q", now=T0), now=datetime(2025, 1, 1)),
        lambda: pick_due_items({}, now=datetime(2025, 1, 1), limit=1),
        lambda: within_weekly_cap([], now=datetime(2025, 1, 1), per_week=2),
        lambda: within_weekly_cap([datetime(2025, 1, 1)], now=T0, per_week=2),
        lambda: qstream_next([True], last_at=datetime(2025, 1, 1)),
        lambda: record_answer(
            new_state("q", now=T0), correct=True, at=T0, horizon_days=30, desired_retention=1.0
        ),
        lambda: pick_due_items({}, now=T0, limit=-1),
        lambda: qstream_next([], last_at=T0),
    ],
)
def test_invalid_input_rejected(call: object) -> None:
    with pytest.raises(ValueError):
        call()  # type: ignore[operator]


def test_aware_non_utc_input_is_converted_to_utc() -> None:
    state = record_answer(
        new_state("q", now=T0.astimezone(PARIS)),
        correct=True,
        at=T0.astimezone(PARIS),
        horizon_days=30,
    )
    assert state.due.utcoffset() == timedelta(0)
    assert state == record_answer(new_state("q", now=T0), correct=True, at=T0, horizon_days=30)


@pytest.mark.parametrize("answers", [[], [False], [True, True], [True, False, True, True, True]])
def test_round_trip_to_dict_is_exact_and_json_safe(answers: list[bool]) -> None:
    state = _play(answers)[-1] if answers else new_state("q1", now=T0)
    data = json.loads(json.dumps(state.to_dict()))
    assert ReviewState.from_dict(data) == state
    assert ReviewState.from_dict(data).to_dict() == state.to_dict()


def test_retrievability_decreases_over_time() -> None:
    assert retrievability(new_state("q", now=T0), now=T0) == 0.0
    state = _play([True, True])[-1]
    last = datetime.fromisoformat(str(state.card["last_review"]))
    values = [retrievability(state, now=last + timedelta(days=d)) for d in range(0, 60, 5)]
    assert values[0] == 1.0
    assert all(0.0 < v <= 1.0 for v in values)
    assert all(a > b for a, b in itertools.pairwise(values)), values


def test_mean_retrievability_is_the_mean_of_each_state_at_each_moment() -> None:
    states = list(_states().values())
    moments = [T0 + timedelta(days=d) for d in (1, 7, 30)]
    expected = [sum(retrievability(s, now=m) for s in states) / len(states) for m in moments]
    assert mean_retrievability(states, moments) == pytest.approx(expected)
    assert expected[0] > expected[2]
    assert mean_retrievability([], moments) == [None, None, None]
    with pytest.raises(ValueError, match="timezone-aware"):
        mean_retrievability(states, [datetime(2025, 3, 4)])


def _states() -> dict[str, ReviewState]:
    strong = _play([True, True, True])[-1]  # due far ahead
    weak = record_answer(new_state("weak", now=T0), correct=False, at=T0, horizon_days=60)
    weak_b = record_answer(new_state("weak-b", now=T0), correct=False, at=T0, horizon_days=60)
    right = record_answer(new_state("right", now=T0), correct=True, at=T0, horizon_days=60)
    gone = record_answer(new_state("gone", now=T0), correct=True, at=T0, horizon_days=1)
    return {
        "new": new_state("new", now=T0 + timedelta(days=1)),
        "weak": weak,
        "weak-b": weak_b,
        "right": right,
        "strong": strong,
        "gone": gone,
    }


@pytest.mark.parametrize(
    ("days_later", "limit", "expected"),
    [
        (0, 5, []),  # nothing due yet
        (1, 5, ["new", "weak", "weak-b"]),  # unknown first, then weakest; ids break ties
        (1, 2, ["new", "weak"]),
        (3, 10, ["new", "weak", "weak-b", "right"]),  # "gone" is retired, "strong" not due
        (3, 0, []),
    ],
)
def test_pick_due_items_order_and_limit(days_later: int, limit: int, expected: list[str]) -> None:
    assert _states()["gone"].retired
    now = T0 + timedelta(days=days_later)
    assert pick_due_items(_states(), now=now, limit=limit) == expected


@pytest.mark.parametrize(
    ("history", "expected"),
    [
        ([False], timedelta(days=12)),
        ([True], timedelta(days=24)),
        ([True, True], None),
        ([False, True], timedelta(days=24)),
        ([False, True, True], None),
        ([True, False], timedelta(days=12)),
        ([True, False, True], timedelta(days=24)),
    ],
)
def test_qstream_cadence(history: list[bool], expected: timedelta | None) -> None:
    got = qstream_next(history, last_at=T0)
    assert got == (None if expected is None else T0 + expected)


@pytest.mark.parametrize(
    ("ago_days", "per_week", "allowed"),
    [
        ([], 2, True),
        ([1], 2, True),
        ([1, 3], 2, False),
        ([1, 7], 2, True),  # exactly 7 days ago has left the rolling window
        ([1, 6.9], 2, False),
        ([8, 9, 10], 1, True),
        ([-1, 1], 2, True),  # future (planned) sends are not counted as sent
        ([], 0, False),
    ],
)
def test_within_weekly_cap_rolling_window(
    ago_days: list[float], per_week: int, allowed: bool
) -> None:
    sent = [(T0 - timedelta(days=d)).astimezone(PARIS) for d in ago_days]
    assert within_weekly_cap(sent, now=T0, per_week=per_week) is allowed


@settings(max_examples=300, deadline=None)
@given(
    answers=st.lists(
        st.tuples(st.booleans(), st.booleans(), st.floats(min_value=0, max_value=120)),
        min_size=1,
        max_size=12,
    ),
    horizon_days=st.integers(min_value=0, max_value=400),
    retention=st.floats(min_value=0.7, max_value=0.97),
)
def test_due_after_review_and_within_horizon(
    answers: list[tuple[bool, bool, float]], horizon_days: int, retention: float
) -> None:
    state = new_state("q", now=T0)
    at = T0
    for correct, slow, wait_days in answers:
        at = at + timedelta(days=wait_days)
        state = record_answer(
            state,
            correct=correct,
            at=at,
            horizon_days=horizon_days,
            desired_retention=retention,
            slow=slow,
        )
        assert at + timedelta(days=1) <= state.due <= at + timedelta(days=max(1, horizon_days))
        assert not (state.retired and not correct)
        assert 0.0 <= retrievability(state, now=at) <= 1.0
    assert ReviewState.from_dict(json.loads(json.dumps(state.to_dict()))) == state


def _bench() -> Any:
    """The FSRS-vs-Qstream simulator lives in bench/, outside the package; load it by path."""
    if "bench_spaced" not in sys.modules:
        path = Path(__file__).parents[3] / "bench" / "bench_spaced.py"
        spec = importlib.util.spec_from_file_location("bench_spaced", path)
        assert spec is not None and spec.loader is not None
        # Registered before running: its dataclasses look their module up in sys.modules.
        sys.modules[spec.name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(sys.modules[spec.name])
    return sys.modules["bench_spaced"]


@pytest.mark.parametrize(("horizon", "n_items", "per_week"), [(30, 3, 2), (45, 5, 3)])
def test_compare_schedulers_invariants(horizon: int, n_items: int, per_week: int) -> None:
    bench = _bench()
    kwargs = {"learners": 4, "n_items": n_items, "horizon": horizon, "per_week": per_week}
    results = bench.compare_schedulers(**kwargs)
    assert results == bench.compare_schedulers(**kwargs)  # seeded: same figures every run
    assert results["none"].messages == 0
    budget = min(horizon, per_week * -(-horizon // 7))  # one a day, per_week a rolling week
    for r in results.values():
        assert 0 <= r.messages <= budget
        assert 0.0 <= r.recall <= 1.0
        assert 0 <= r.retired <= n_items
        assert r.recall >= results["none"].recall  # asking (with feedback) never hurts here
