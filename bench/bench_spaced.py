"""Compare FSRS (engine.core.spaced) with Qstream's fixed cadence on synthetic learners.

Run: ``.venv/bin/python bench/bench_spaced.py``. Prints messages sent per learner and the
mean predicted recall of the quiz items at the end of the horizon.

The synthetic learner forgets exponentially, p(recall after t days) = exp(-t / S). Each item
has a difficulty d in [0.1, 0.9]: the course leaves S0 = 4 + 16 (1 - d) days. A right answer
multiplies S by a spacing-aware gain (larger when recall was harder, the desirable-difficulty
effect); a wrong answer, with the correct answer shown as feedback, relearns the item:
S = max(0.7 S0, 0.6 S). The model is deliberately not FSRS's own,
so FSRS is not graded on its own assumptions. Both schedulers get the same budget: one quiz
a day at most and ``per_week`` in any rolling 7 days, sent at 09:00 UTC.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from engine.core.spaced import (
    ReviewState,
    new_state,
    pick_due_items,
    qstream_next,
    record_answer,
    within_weekly_cap,
)

START = datetime(2025, 1, 6, 9, 0, tzinfo=UTC)
COURSE_AGE_DAYS = 7  # the review window opens a week after the course (``from: +8d``)


@dataclass
class _Memory:
    difficulty: float
    initial: float
    stability: float
    last: float  # day of last exposure, relative to START

    def recall(self, day: float) -> float:
        return math.exp(-(day - self.last) / self.stability)

    def answer(self, day: float, rng: random.Random) -> bool:
        p = self.recall(day)
        correct = rng.random() < p
        if correct:
            self.stability *= 1.5 + (2 + 3 * (1 - self.difficulty)) * (1 - p)
        else:
            self.stability = max(0.7 * self.initial, 0.6 * self.stability)
        self.last = day
        return correct


@dataclass(frozen=True)
class Result:
    messages: float
    recall: float
    retired: float


def _learner(n_items: int, rng: random.Random) -> list[_Memory]:
    items = []
    for _ in range(n_items):
        d = rng.uniform(0.1, 0.9)
        s0 = 4 + 16 * (1 - d)
        items.append(_Memory(d, s0, s0, -COURSE_AGE_DAYS))
    return items


def _run_fsrs(
    horizon: int, per_week: int, retention: float, mem: list[_Memory], rng: random.Random
) -> tuple[int, float, int]:
    ids = [f"q{i:02d}" for i in range(len(mem))]
    states: dict[str, ReviewState] = {i: new_state(i, now=START) for i in ids}
    sent: list[datetime] = []
    for day in range(horizon):
        now = START + timedelta(days=day)
        if not within_weekly_cap(sent, now=now, per_week=per_week):
            continue
        for item in pick_due_items(states, now=now, limit=1):
            correct = mem[ids.index(item)].answer(day, rng)
            states[item] = record_answer(
                states[item],
                correct=correct,
                at=now,
                horizon_days=horizon - day,
                desired_retention=retention,
            )
            sent.append(now)
    recall = sum(m.recall(horizon) for m in mem) / len(mem)
    return len(sent), recall, sum(s.retired for s in states.values())


def _run_qstream(
    horizon: int, per_week: int, mem: list[_Memory], rng: random.Random
) -> tuple[int, float, int]:
    due: dict[int, datetime | None] = dict.fromkeys(range(len(mem)), START)
    history: dict[int, list[bool]] = {i: [] for i in range(len(mem))}
    sent: list[datetime] = []
    for day in range(horizon):
        now = START + timedelta(days=day)
        if not within_weekly_cap(sent, now=now, per_week=per_week):
            continue
        ready = sorted((d, i) for i, d in due.items() if d is not None and d <= now)
        for _, item in ready[:1]:
            history[item].append(mem[item].answer(day, rng))
            due[item] = qstream_next(history[item], last_at=now)
            sent.append(now)
    recall = sum(m.recall(horizon) for m in mem) / len(mem)
    return len(sent), recall, sum(d is None for d in due.values())


def compare_schedulers(
    *, learners: int, n_items: int, horizon: int, per_week: int, seed: int = 7
) -> dict[str, Result]:
    """Mean messages, end recall and retired items per learner for each scheduler."""
    runs: dict[str, Callable[[list[_Memory], random.Random], tuple[int, float, int]]] = {
        "none": lambda mem, rng: (0, sum(m.recall(horizon) for m in mem) / len(mem), 0),
        "qstream": lambda mem, rng: _run_qstream(horizon, per_week, mem, rng),
        "fsrs r=0.70": lambda mem, rng: _run_fsrs(horizon, per_week, 0.70, mem, rng),
        "fsrs r=0.80": lambda mem, rng: _run_fsrs(horizon, per_week, 0.80, mem, rng),
        "fsrs r=0.90": lambda mem, rng: _run_fsrs(horizon, per_week, 0.90, mem, rng),
    }
    out = {}
    for name, run in runs.items():
        totals = [0.0, 0.0, 0.0]
        for k in range(learners):
            # Same learner (items and answer luck) for every scheduler.
            rng = random.Random(seed * 100_003 + k)
            mem = _learner(n_items, rng)
            for j, v in enumerate(run(mem, rng)):
                totals[j] += v
        out[name] = Result(*(t / learners for t in totals))
    return out


def main() -> None:
    print(
        f"{'horizon':>7} {'items':>5} {'/week':>5}  {'scheduler':<12} {'msgs':>6} "
        f"{'recall@end':>10} {'retired':>7}"
    )
    for horizon, n_items, per_week in [(60, 4, 2), (60, 8, 3), (90, 6, 2), (180, 8, 3)]:
        for name, r in compare_schedulers(
            learners=300, n_items=n_items, horizon=horizon, per_week=per_week
        ).items():
            print(
                f"{horizon:>7} {n_items:>5} {per_week:>5}  {name:<12} {r.messages:>6.1f} "
                f"{r.recall:>10.3f} {r.retired:>7.1f}"
            )


if __name__ == "__main__":
    main()
