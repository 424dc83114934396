"""What jobs and web routes share at run time: settings, database sessions, channels, Redis, clock."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.channels.base import Channel
from engine.ratelimit import SenderRateLimiter
from engine.settings import Settings

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class Runtime:
    """One process's handles; built by the worker's startup or the web app's lifespan."""

    settings: Settings
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    channels: dict[str, Channel]
    redis: Redis | None = None
    limiter: SenderRateLimiter | None = None
    clock: Clock = system_clock
    worker_id: str = field(default_factory=lambda: f"{socket.gethostname()}:{uuid.uuid4().hex[:8]}")

    def now(self) -> datetime:
        return self.clock()
