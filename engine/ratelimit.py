"""Per-sender send rates shared by every worker, kept in Redis.

Twilio sends one SMS per second from a long code (more from a short code or a
Messaging Service); every worker asks the same Redis counter before it calls
the provider, so the rate holds however many workers run.
"""

from __future__ import annotations

import asyncio
import math
import time

from redis.asyncio import Redis

_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return count
"""


class SenderRateLimiter:
    """Fixed windows of ``1/rate`` granularity: at most ``rate`` sends a second per sender."""

    def __init__(self, redis: Redis, *, prefix: str, rates: dict[str, float]) -> None:
        self.redis = redis
        self.prefix = prefix
        self.rates = rates
        self._script = redis.register_script(_SCRIPT)

    async def acquire(self, sender: str, *, clock: float | None = None) -> float:
        """Waits for a send slot for ``sender``; returns the seconds waited."""
        rate = self.rates.get(sender)
        if rate is None or rate <= 0:
            return 0.0
        waited = 0.0
        # Windows of one second hold ceil(rate) sends; a sub-1/s rate uses longer windows.
        window_ms = 1000 if rate >= 1 else int(1000 / rate)
        allowed = max(1, math.floor(rate)) if rate >= 1 else 1
        while True:
            now_ms = int((clock if clock is not None else time.time()) * 1000)
            slot = now_ms // window_ms
            key = f"{self.prefix}:rate:{sender}:{slot}"
            count = int(await self._script(keys=[key], args=[window_ms * 2]))
            if count <= allowed:
                return waited
            pause = (slot + 1) * window_ms - now_ms
            await asyncio.sleep(pause / 1000)
            waited += pause / 1000
            clock = None
