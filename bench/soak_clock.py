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
#: Speed changes kept in the file besides the first segment: enough to cover the longest threshold
#: kept in real seconds (30 s) at one change a second.
KEPT = 400

#: What a threshold kept in real seconds is told: ``span(r)``, the virtual seconds the last ``r``
#: real seconds lasted.
Span = Callable[[float], float]


class SharedClock:
    """Virtual now from the last segment that has begun; before the first, its start (stands still)."""

    def __init__(self, path: Path, on_span: Callable[[Span], None] | None = None) -> None:
        self.path = path
        #: Called at each look at the file (every :data:`RECHECK` s while the clock is read) with
        #: :meth:`span`: a threshold that stands for ``r`` real seconds becomes ``span(r)``, the
        #: virtual time those seconds actually lasted. Something begun less than ``r`` real seconds
        #: ago is then younger than the threshold whatever the speed did meanwhile. (The fastest
        #: speed of the last 30 s, used before, kept them at the full speed's length while the
        #: clock ran at 1/16: a send cut by a killed worker waited 8 real minutes for recovery,
        #: and the learner's next messages with it.)
        self.on_span = on_span
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

    def real_span(self, virtual_seconds: float, at: float | None = None) -> float:
        """Real seconds ago (before ``at``) the virtual clock read ``virtual_seconds`` less than it
        does now: the inverse of :meth:`span` (an hour at most)."""
        end = time.time() if at is None else at
        low, high = 0.0, 3600.0
        if self.span(high, at=end) <= virtual_seconds:
            return high
        for _ in range(40):
            middle = (low + high) / 2
            low, high = (middle, high) if self.span(middle, at=end) < virtual_seconds else (low, middle)
        return high

    def span(self, real_seconds: float, at: float | None = None) -> float:
        """Virtual seconds that passed during the last ``real_seconds`` real seconds (before ``at``)."""
        end = time.time() if at is None else at
        return self.virtual(end) - self.virtual(end - real_seconds)

    def set_speed(self, speed: float) -> None:
        """The driver's change, from :data:`LEAD` seconds on (the one writer)."""
        if abs(speed - self.speed(time.time() + LEAD)) < 1e-9:
            return
        at = time.time() + LEAD
        segments = [*self.segments, (at, self.virtual(at), speed)]
        _write(self.path, [segments[0], *segments[1:][-KEPT:]])
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
        if self.on_span is not None:
            self.on_span(self.span)


def _write(path: Path, segments: list[tuple[float, float, float]]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(segments), encoding="utf-8")
    os.replace(tmp, path)


def from_env(env: dict[str, str] | None = None,
             on_span: Callable[[Span], None] | None = None) -> SharedClock | None:
    path = (env if env is not None else os.environ).get(ENV)
    return SharedClock(Path(path), on_span) if path else None


def install(on_span: Callable[[Span], None] | None = None) -> None:
    """In a child process: the runtime (and so the engine) reads the shared clock; ``on_span``
    keeps the thresholds that stand for real durations real (see :class:`SharedClock`)."""
    clock = from_env(on_span=on_span)
    if clock is None:
        return
    from engine.services import bootstrap

    setattr(bootstrap, "clock_from_env", lambda env: clock)  # noqa: B010 (a patch, on purpose)
