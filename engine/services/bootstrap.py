"""Building a process's runtime from settings: database, channels, Redis, clock."""

from __future__ import annotations

import json
import os
from typing import Any

from redis.asyncio import Redis

from engine.channels.base import Channel
from engine.channels.registry import build_channels, close_channels
from engine.clock import clock_from_env
from engine.ratelimit import SenderRateLimiter
from engine.services.runtime import Clock, Runtime, system_clock
from engine.settings import Settings
from engine.store.db import create_engine, session_factory


def channel_settings(settings: Settings) -> dict[str, Any]:
    """The registry's settings mapping from our flat settings (sandbox unless providers are set)."""
    if settings.sandbox:
        return {"mode": "sandbox"}
    config: dict[str, Any] = {"mode": "live"}
    callback = settings.public_url.rstrip("/")
    if settings.twilio_account_sid and settings.twilio_auth_token:
        twilio: dict[str, Any] = {"account_sid": settings.twilio_account_sid,
                                  "auth_token": settings.twilio_auth_token,
                                  "messaging_service_sid": settings.twilio_messaging_service_sid,
                                  "from_number": settings.twilio_from,
                                  "whatsapp_from": settings.twilio_whatsapp_from,
                                  "status_callback_base": callback,
                                  "concurrency": settings.twilio_concurrency}
        if settings.twilio_api_base:
            twilio["api_base"] = settings.twilio_api_base
        config["twilio"] = {k: v for k, v in twilio.items() if v is not None}
    if settings.fcm_service_account_file:
        fcm: dict[str, Any] = {"service_account": json.loads(settings.fcm_service_account_file.read_text())}
        if settings.fcm_api_base:
            fcm["api_base"] = settings.fcm_api_base
        config["fcm"] = fcm
    if settings.smtp_host:
        config["smtp"] = {"from_address": settings.email_from, "host": settings.smtp_host,
                          "port": settings.smtp_port, "username": settings.smtp_user,
                          "password": settings.smtp_password, "starttls": settings.smtp_starttls or None}
    return config


async def build_runtime(settings: Settings, *, redis: Redis | None = None,
                        channels: dict[str, Channel] | None = None, clock: Clock | None = None) -> Runtime:
    """Everything a worker or web process needs, from settings alone.

    ``channels`` and ``clock`` are for tests and simulations; otherwise the clock
    is the warped one described by ``ANCRAGE_CLOCK_*`` (demo) or the system clock.
    """
    engine = create_engine(settings)
    built = channels if channels is not None else build_channels(channel_settings(settings))
    limiter = None
    if redis is not None and not settings.sandbox:
        limiter = SenderRateLimiter(redis, prefix=settings.redis_prefix,
                                    rates={"sms": settings.twilio_rate_per_second,
                                           "whatsapp": settings.twilio_rate_per_second})
    chosen: Clock = clock or clock_from_env(dict(os.environ)) or system_clock
    return Runtime(settings=settings, engine=engine, sessions=session_factory(engine),
                   channels=dict(built), redis=redis, limiter=limiter, clock=chosen)


async def close_runtime(rt: Runtime) -> None:
    await close_channels(rt.channels)  # type: ignore[arg-type]
    await rt.engine.dispose()
