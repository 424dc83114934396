"""Fault injection for the fake providers: a share of sends answered 500, 429 or never.

An ASGI wrapper, so any fake (Twilio, FCM) gets it without changing: requests
whose method and path match are drawn against the rates; a drawn fault answers
before the fake sees the request (the provider did not accept the message), and
a "timeout" holds the request open longer than any client waits.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

Scope = dict[str, Any]
ASGI = Any


@dataclass
class Faults:
    """Rates per fault (``500``, ``429``, ``timeout``) for requests matching ``path`` (a regex)."""

    app: ASGI
    server_error: float = 0.05
    rate_limited: float = 0.02
    timeout: float = 0.01
    path: str = r".*/(Messages\.json|messages:send)$"
    hold_seconds: float = 60.0
    seed: int | None = None
    counts: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)
        self._path = re.compile(self.path)

    def draw(self) -> str | None:
        """Which fault (if any) the next matching request gets."""
        roll = self._random.random()
        for name, rate in (("500", self.server_error), ("429", self.rate_limited), ("timeout", self.timeout)):
            if roll < rate:
                return name
            roll -= rate
        return None

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST" or not self._path.search(scope["path"]):
            await self.app(scope, receive, send)
            return
        fault = self.draw()
        self.counts[fault or "ok"] += 1
        if fault is None:
            await self.app(scope, receive, send)
        elif fault == "timeout":
            with contextlib.suppress(asyncio.CancelledError):  # the server stopping ends the hold
                await asyncio.sleep(self.hold_seconds)
        else:
            status = int(fault)
            body = json.dumps({"code": 20000 + status, "message": "injected fault", "status": status}).encode()
            headers = [(b"content-type", b"application/json")]
            if status == 429:
                headers.append((b"retry-after", b"1"))
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": body})
