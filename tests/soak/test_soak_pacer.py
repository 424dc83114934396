"""The endurance run's pacer slows the clock on the engine's backlog in real seconds (the unit of
the overdue threshold), not on a fixed virtual lag (``bench/soak.py``)."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from soak import Pacer
from soak_clock import SharedClock

NOMINAL = 14_400.0


def pacer(tmp_path: Path, *, budget: float = 3600.0) -> Pacer:
    clock = SharedClock.create(tmp_path / "clock.json", start=datetime(2026, 3, 24, 16, 20, tzinfo=UTC),
                               origin=time.time() - 7200, speed=NOMINAL)
    return Pacer(clock, budget=time.monotonic() + budget)


def test_the_speed_halves_per_doubling_of_the_backlog_over_two_seconds(tmp_path: Path) -> None:
    p = pacer(tmp_path)
    assert [p.factor(backlog) for backlog in (1.0, 2.0, 3.0, 5.0, 9.0, 48.0, 600.0)] == [
        1.0, 1.0, 1 / 2, 1 / 4, 1 / 8, 1 / 16, 1 / 16]


def test_the_backlog_is_the_real_time_a_virtual_lag_took(tmp_path: Path) -> None:
    """The same virtual lag is one real second at full speed and sixteen at 1/16 of it; across a
    change, the real seconds the clock actually took."""
    p = pacer(tmp_path)
    clock = p.clock
    assert clock.real_span(4 * 3600) == pytest.approx(1.0, abs=1e-3)
    clock.set_speed(NOMINAL / 16)
    changed = clock.segments[-1][0]
    assert clock.real_span(4 * 3600, at=changed + 30) == pytest.approx(16.0, abs=1e-3)
    assert clock.real_span(5 * 900 + 14_400 * 2, at=changed + 5) == pytest.approx(7.0, abs=1e-3)


def test_no_slowing_once_the_budget_is_spent(tmp_path: Path) -> None:
    assert pacer(tmp_path, budget=-1.0).factor(600.0) == 1.0
