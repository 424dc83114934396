"""Access logs of a real uvicorn server hold no capability token (links, push tokens, signed params)."""

from __future__ import annotations

import logging
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI

from engine.links import sign
from engine.services.compose import ANSWER_LINK_PURPOSE, UNSUBSCRIBE_PURPOSE
from engine.settings import Settings
from tests.support.web_support import NOW, served
from webhooks.access_log import redact_path


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
async def test_uvicorn_access_log_redacts_tokens(app: FastAPI, settings: Settings) -> None:
    until = NOW + timedelta(days=3)
    answer = sign(settings.secret_key, purpose=ANSWER_LINK_PURPOSE, expires_at=until,
                  data={"d": 1, "q": "x#q1"})
    unsubscribe = sign(settings.secret_key, purpose=UNSUBSCRIBE_PURPOSE, expires_at=until,
                       data={"l": 1})
    push = "fcm-device-token-ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    secrets = (answer, unsubscribe, push, "opaque-credential-123")
    lines = _Lines()
    access = logging.getLogger("uvicorn.access")
    async with served(app, log_level="info") as (base, _):
        access.addHandler(lines)  # after uvicorn configured its loggers
        try:
            async with httpx.AsyncClient(base_url=base) as http:
                await http.get(f"/r/{answer}")
                await http.post(f"/u/{unsubscribe}?lang=fr")
                await http.delete(f"/api/v1/app/devices/{push}")
                await http.get(f"/api/v1/app/messages?limit=5&token={answer}"
                               "&key=opaque-credential-123")
                await http.get("/health")
        finally:
            access.removeHandler(lines)
    assert len(lines.lines) == 5, lines.lines
    log = "\n".join(lines.lines)
    assert not [s for s in secrets if s in log], log
    assert '"GET /r/[redacted] HTTP/1.1"' in log and "/u/[redacted]?lang=fr" in log
    assert "/api/v1/app/devices/[redacted]" in log and "limit=5" in log
    assert '"GET /health HTTP/1.1" ' in log


@pytest.mark.parametrize(("path", "expected"), [
    ("/r/abc", "/r/[redacted]"),
    ("/sandbox/phone/3?x=1", "/sandbox/phone/3?x=1"),
    ("/anything/" + "a" * 20 + "." + "b" * 20 + "/more", "/anything/[redacted]/more"),
    ("/p?sig=zz&n=2", "/p?sig=[redacted]&n=2"),
])
def test_redact_path(path: str, expected: str) -> None:
    assert redact_path(path) == expected
