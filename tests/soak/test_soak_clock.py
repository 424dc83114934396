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
    reader = SharedClock(path, on_speed=speeds.append)
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


def test_the_clock_stands_still_before_its_origin(tmp_path: Path) -> None:
    clock = SharedClock.create(tmp_path / "clock.json", start=START, origin=time.time() + 60, speed=14_400)
    assert clock() == START
