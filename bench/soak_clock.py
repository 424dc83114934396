"""The endurance run's warped clock, whose speed the driver may change while every process reads it.

``engine.clock.WarpedClock`` has one speed for the whole run. On the shared two
cores, a full run at a fixed x14,400 fell behind by virtual days when the
machine was loaded (one step's 2,000 sends took longer than the 14 virtual hours
to the next step), so what the run checked depended on the load. Here the
driver slows the clock while the engine has a backlog and speeds it up again
once it has caught up (:func:`control`), between a floor and the nominal speed.

Every process (driver, workers, web app, fakes) reads the same file of
segments ``(real time from, virtual epoch then, speed)``. A change is written
ahead of time (:data:`LEAD` real seconds) and readers look at the file at
least every :data:`RECHECK` seconds, so they all know a change before it takes
effect: they agree on the virtual time and it never goes back.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ENV = "ANCRAGE_SOAK_CLOCK"
LEAD = 0.5
RECHECK = 0.05
#: Real seconds a slower speed waits before it is reported to ``on_speed``: the longest threshold
#: kept in real seconds (``recovery.STALE_AFTER``, 30 s). A send in flight when the clock slows
#: has aged at the old speed; measured against the new one it looked stale seconds after the
#: change, and was sent again while its first call could still be accepted.
TRAILING = 30.0


class SharedClock:
    """Virtual now from the last segment that has begun; before the first, its start (stands still)."""

    def __init__(self, path: Path, on_speed: Callable[[float], None] | None = None, *,
                 trailing: float = TRAILING) -> None:
        self.path = path
        #: Called, whenever it changes, with the fastest speed in force over the last ``trailing``
        #: real seconds or announced: a threshold kept in real seconds never gets shorter than meant.
        self.on_speed = on_speed
        self.trailing = trailing
        self._announced = 0.0
        self.segments: list[tuple[float, float, float]] = []
        self._checked = 0.0
        self._mtime = -1
        self._reload(force=True)

    @classmethod
    def create(cls, path: Path, *, start: datetime, origin: float, speed: float) -> SharedClock:
        _write(path, [(origin, start.timestamp(), speed)])
        return cls(path)

    @property
    def start(self) -> datetime:
        return datetime.fromtimestamp(self.segments[0][1], UTC)

    @property
    def nominal(self) -> float:
        return self.segments[0][2]

    def speed(self, real: float | None = None) -> float:
        return self._segment(time.time() if real is None else real)[2]

    def virtual(self, real: float) -> float:
        since, base, speed = self._segment(real)
        return base + max(0.0, real - since) * speed

    def __call__(self) -> datetime:
        real = time.time()
        if real - self._checked > RECHECK:
            self._reload()
        return datetime.fromtimestamp(self.virtual(real), UTC)

    def now(self) -> datetime:
        return self()

    def real_seconds(self, virtual: timedelta) -> float:
        return virtual.total_seconds() / self.speed()

    def fastest_since(self, real: float) -> float:
        """The fastest speed in force at any moment from ``real`` on, announced changes included."""
        return max([self._segment(real)[2], *(speed for since, _, speed in self.segments[1:] if since > real)])

    def set_speed(self, speed: float) -> None:
        """The driver's change, from :data:`LEAD` seconds on (the one writer)."""
        if abs(speed - self.speed(time.time() + LEAD)) < 1e-9:
            return
        at = time.time() + LEAD
        segments = [*self.segments, (at, self.virtual(at), speed)]
        _write(self.path, [segments[0], *segments[1:][-20:]])
        self._reload(force=True)

    def _segment(self, real: float) -> tuple[float, float, float]:
        chosen = self.segments[0]
        for segment in self.segments[1:]:
            if segment[0] <= real:
                chosen = segment
        return chosen

    def _reload(self, *, force: bool = False) -> None:
        self._checked = time.time()
        try:
            mtime = os.stat(self.path).st_mtime_ns
        except OSError:
            return
        if mtime != self._mtime or force:
            self._mtime = mtime
            self.segments = [tuple(s) for s in json.loads(self.path.read_text(encoding="utf-8"))]
        # While a change is announced, and for ``trailing`` seconds after a slowdown, the faster speed:
        # thresholds kept in real seconds are then never shorter in real time than meant.
        fastest = self.fastest_since(self._checked - self.trailing)
        if self.on_speed is not None and fastest != self._announced:
            self._announced = fastest
            self.on_speed(fastest)


def _write(path: Path, segments: list[tuple[float, float, float]]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(segments), encoding="utf-8")
    os.replace(tmp, path)


def from_env(env: dict[str, str] | None = None,
             on_speed: Callable[[float], None] | None = None) -> SharedClock | None:
    path = (env if env is not None else os.environ).get(ENV)
    return SharedClock(Path(path), on_speed) if path else None


def install(on_speed: Callable[[float], None] | None = None) -> None:
    """In a child process: the runtime (and so the engine) reads the shared clock; ``on_speed``
    follows its speed (the thresholds that stand for real durations)."""
    clock = from_env(on_speed=on_speed)
    if clock is None:
        return
    from engine.services import bootstrap

    setattr(bootstrap, "clock_from_env", lambda env: clock)  # noqa: B010 (a patch, on purpose)
