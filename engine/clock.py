"""Clocks: the system clock, and a time-warped one for demos and simulations.

A :class:`WarpedClock` runs ``speed`` times faster than real time from a chosen
start. Every process given the same (start, origin, speed) computes the same
virtual time, so a web process and its workers agree without talking.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


@dataclass(frozen=True)
class WarpedClock:
    """Virtual now = ``start`` + (real now − ``origin``) × ``speed``; it stands still at
    ``start`` until ``origin`` (an origin a little ahead lets processes finish starting)."""

    start: datetime
    origin: float
    speed: float = 1.0

    def __call__(self) -> datetime:
        elapsed = max(0.0, time.time() - self.origin) * self.speed
        return self.start + timedelta(seconds=elapsed)

    def real_seconds(self, virtual: timedelta) -> float:
        """How long a virtual span takes in real seconds."""
        return virtual.total_seconds() / self.speed

    def as_env(self) -> dict[str, str]:
        return {"ANCRAGE_CLOCK_START": self.start.isoformat(), "ANCRAGE_CLOCK_ORIGIN": repr(self.origin),
                "ANCRAGE_CLOCK_SPEED": repr(self.speed)}


def clock_from_env(env: dict[str, str]) -> WarpedClock | None:
    """The warped clock described by environment variables, if any."""
    start = env.get("ANCRAGE_CLOCK_START")
    if not start:
        return None
    return WarpedClock(datetime.fromisoformat(start).astimezone(UTC),
                       float(env.get("ANCRAGE_CLOCK_ORIGIN", time.time())),
                       float(env.get("ANCRAGE_CLOCK_SPEED", "1")))
