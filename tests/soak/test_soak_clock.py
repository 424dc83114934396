"""The endurance run's shared clock: readers in other processes agree with the driver and
never see time go back when the driver changes the speed (``bench/soak_clock.py``)."""

from __future__ import annotations

import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

from soak_clock import LEAD, SharedClock

START = datetime(2026, 3, 24, 16, 20, tzinfo=UTC)


def test_readers_agree_and_time_never_goes_back_across_speed_changes(tmp_path: Path) -> None:
    path = tmp_path / "clock.json"
    driver = SharedClock.create(path, start=START, origin=time.time(), speed=14_400)
    speeds: list[float] = []
    reader = SharedClock(path, on_speed=speeds.append, trailing=0.1)
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
    # The fastest speed known is reported: thresholds kept in real seconds never get shorter.
    assert speeds[0] == 14_400.0 and 1_800.0 in speeds and 900.0 in speeds


def test_a_slowdown_is_reported_once_the_trailing_window_has_passed(tmp_path: Path) -> None:
    """A send marked just before the clock slows has aged at the old speed: thresholds keep it a while."""
    path = tmp_path / "clock.json"
    driver = SharedClock.create(path, start=START, origin=time.time() - 10, speed=14_400)
    speeds: list[float] = []
    reader = SharedClock(path, on_speed=speeds.append, trailing=1.5)
    driver.set_speed(900.0)
    changed = time.time() + LEAD
    while time.time() < changed + 1.0:
        reader()
        time.sleep(0.01)
    assert reader.speed() == 900.0 and speeds == [14_400.0]  # in force, not yet reported
    while time.time() < changed + 2.0:
        reader()
        time.sleep(0.01)
    assert speeds == [14_400.0, 900.0]
    assert reader.fastest_since(changed - 1) == 14_400.0 and reader.fastest_since(changed + 0.01) == 900.0


def test_the_clock_stands_still_before_its_origin(tmp_path: Path) -> None:
    clock = SharedClock.create(tmp_path / "clock.json", start=START, origin=time.time() + 60, speed=14_400)
    assert clock() == START
