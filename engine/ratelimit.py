"""Per-sender send rates shared by every worker, kept in Redis.

Twilio sends one SMS per second from a long code (more from a short code or a
Messaging Service); every worker reserves its send slot in the same Redis key
before it calls the provider, so the rate holds however many workers run.

Slots are spaced evenly (a GCRA-style schedule, ``1/rate`` apart, on Redis's
own clock so worker clocks need not agree): "at most ``rate`` sends in *any*
one-second window", not "per calendar second" (fixed windows let ``2 × rate``
through across a window boundary). A reservation is one atomic script call:
no polling, no lost slot. A sender whose next free slot is further away than
``max_wait`` is refused rather than reserved, so a send never waits long in
``sending`` (where the stale-send recovery would take it for a dead worker).
"""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis

# KEYS[1] = the sender's schedule; ARGV = interval, max wait (microseconds).
# Returns {wait, refused}: sleep ``wait`` µs then send, or refused = 1.
_SCRIPT = """
local interval = tonumber(ARGV[1])
local max_wait = tonumber(ARGV[2])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local next_free = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(next_free, now)
local wait = slot - now
if wait > max_wait then return {wait, 1} end
redis.call('SET', KEYS[1], string.format('%d', slot + interval), 'PX', math.ceil((wait + interval) / 1000) + 1000)
return {wait, 0}
"""

# Same schedule as _SCRIPT, ARGV[3] slots at once: returns {wait of the first, slots granted}.
_RESERVE_SCRIPT = """
local interval = tonumber(ARGV[1])
local max_wait = tonumber(ARGV[2])
local count = tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
local next_free = tonumber(redis.call('GET', KEYS[1]) or '0')
local slot = math.max(next_free, now)
local wait = slot - now
if wait > max_wait then return {wait, 0} end
local granted = math.min(count, math.floor((max_wait - wait) / interval) + 1)
local last = wait + (granted - 1) * interval
redis.call('SET', KEYS[1], string.format('%d', slot + granted * interval), 'PX', math.ceil((last + interval) / 1000) + 1000)
return {wait, granted}
"""

#: Longest a send waits for its slot before it is handed back to be sent later.
MAX_WAIT_SECONDS = 60.0


class SenderRateLimiter:
    """At most ``rate`` sends in any one-second window per sender, across processes."""

    def __init__(self, redis: Redis, *, prefix: str, rates: dict[str, float]) -> None:
        self.redis = redis
        self.prefix = prefix
        self.rates = rates
        self._script = redis.register_script(_SCRIPT)
        self._reserve = redis.register_script(_RESERVE_SCRIPT)

    async def acquire(self, sender: str, *, max_wait: float = MAX_WAIT_SECONDS) -> float | None:
        """Reserves the next slot for ``sender`` and sleeps until it; returns the seconds waited.

        ``None``: the next slot is more than ``max_wait`` away; nothing was
        reserved, and the caller should hand the send back for later.
        """
        rate = self.rates.get(sender)
        if rate is None or rate <= 0:
            return 0.0
        interval_us = round(1_000_000 / rate)
        wait_us, refused = await self._script(keys=[f"{self.prefix}:rate:{sender}"],
                                              args=[interval_us, round(max_wait * 1_000_000)])
        if int(refused):
            return None
        wait = int(wait_us) / 1_000_000
        if wait > 0:
            await asyncio.sleep(wait)
        return wait

    async def reserve(self, sender: str, count: int, *, max_wait: float = MAX_WAIT_SECONDS) -> list[float]:
        """Reserves up to ``count`` consecutive slots for ``sender`` in one Redis call.

        Returns each reserved slot's delay from now, in seconds (``1/rate``
        apart): the same schedule as ``count`` calls to :meth:`acquire`, for one
        round trip instead of ``count``. Slots further than ``max_wait`` away are
        not reserved: the list is then shorter than ``count`` (empty when the
        sender is busy for longer than ``max_wait``).
        """
        rate = self.rates.get(sender)
        if count <= 0:
            return []
        if rate is None or rate <= 0:
            return [0.0] * count
        interval_us = round(1_000_000 / rate)
        wait_us, granted = await self._reserve(keys=[f"{self.prefix}:rate:{sender}"],
                                               args=[interval_us, round(max_wait * 1_000_000), count])
        return [(int(wait_us) + i * interval_us) / 1_000_000 for i in range(int(granted))]
