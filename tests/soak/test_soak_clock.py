"""The endurance run's shared clock: readers in other processes agree with the driver and
never see time go back when the driver changes the speed (``bench/soak_clock.py``)."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from soak_clock import LEAD, SharedClock

START = datetime(2026, 3, 24, 16, 20, tzinfo=UTC)


def test_readers_agree_and_time_never_goes_back_across_speed_changes(tmp_path: Path) -> None:
    path = tmp_path / "clock.json"
    driver = SharedClock.create(path, start=START, origin=time.time(), speed=14_400)
    told: list[float] = []
    reader = SharedClock(path, on_span=lambda span: told.append(span(1.0)))
    previous = reader()
    for speed in (1_800.0, 900.0, 14_400.0):
        driver.set_speed(speed)
        deadline = time.time() + LEAD * 1.5
        while time.time() < deadline:
            now = reader()
            assert now >= previous
            previous = now
            time.sleep(0.01)
        assert abs((reader() - driver()).total_seconds()) < 0.02 * 14_400  # same instant, within 20 ms
    assert reader.speed() == 14_400.0
    assert told  # the thresholds are told at each look at the file


def test_a_span_is_what_the_last_real_seconds_lasted_whatever_the_speed_did(tmp_path: Path) -> None:
    """A send marked just before the clock slows has aged at the old speed: the threshold that stands
    for 30 real seconds is the virtual length of the last 30 real seconds, not 30 s at the new speed,
    and once those seconds are all slow it is 30 s at the slow speed (not the fast one)."""
    path = tmp_path / "clock.json"
    origin = time.time() - 100
    driver = SharedClock.create(path, start=START, origin=origin, speed=14_400)
    driver.set_speed(900.0)
    changed = driver.segments[-1][0]
    reader = SharedClock(path)
    assert reader.span(30, at=changed - 1) == pytest.approx(30 * 14_400, abs=0.01)
    assert reader.span(30, at=changed + 10) == pytest.approx(20 * 14_400 + 10 * 900, abs=0.01)  # partly slow
    assert reader.span(30, at=changed + 40) == pytest.approx(30 * 900, abs=0.01)
    # Something begun less than 30 real seconds ago is younger than the threshold, at any moment.
    begun = changed - 5
    for now in (changed + 1, changed + 20, changed + 24.9):
        age = reader.virtual(now) - reader.virtual(begun)
        assert age < reader.span(30, at=now)


def test_the_clock_stands_still_before_its_origin(tmp_path: Path) -> None:
    clock = SharedClock.create(tmp_path / "clock.json", start=START, origin=time.time() + 60, speed=14_400)
    assert clock() == START
