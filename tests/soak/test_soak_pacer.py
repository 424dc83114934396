"""The endurance run's pacer slows the clock on the engine's backlog in real seconds (the unit of
the overdue threshold), not on a fixed virtual lag (``bench/soak.py``)."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from soak import Pacer
from soak_clock import SharedClock

NOMINAL = 14_400.0


def pacer(tmp_path: Path, *, budget: float = 3600.0) -> Pacer:
    clock = SharedClock.create(tmp_path / "clock.json", start=datetime(2026, 3, 24, 16, 20, tzinfo=UTC),
                               origin=time.time(), speed=NOMINAL)
    return Pacer(clock, budget=time.monotonic() + budget)


def test_the_same_virtual_lag_is_late_at_a_slow_speed_and_fine_at_full_speed(tmp_path: Path) -> None:
    p = pacer(tmp_path)
    # 4 virtual hours: one real second at full speed (under the 2 s target), 16 at 1/16.
    assert p.factor(timedelta(hours=4), NOMINAL) == 1.0
    assert p.factor(timedelta(hours=4), NOMINAL / 16) == 1 / 8
    # 12 virtual hours at full speed: a 3 s backlog, one halving; at 1/16 a 48 s one, the floor.
    assert p.factor(timedelta(hours=12), NOMINAL) == 1 / 2
    assert p.factor(timedelta(hours=12), NOMINAL / 16) == 1 / 16


def test_no_slowing_once_the_budget_is_spent(tmp_path: Path) -> None:
    assert pacer(tmp_path, budget=-1.0).factor(timedelta(days=3), NOMINAL) == 1.0
