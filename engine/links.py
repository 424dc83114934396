"""Signed, expiring tokens for one-tap answer links and push-app authentication.

A token is ``base64url(payload).base64url(hmac_sha256(secret, payload))``; the
payload carries its purpose and expiry, so a link for one prompt can neither
be reused for another purpose nor after it expires.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import datetime
from typing import Any


class InvalidToken(ValueError):
    """A token that is malformed, forged, for another purpose, or expired."""


#: Primary keys are 32-bit integers on PostgreSQL.
MAX_ROW_ID = 2**31 - 1


def row_id(value: object) -> int | None:
    """``value`` if it can be a row id (a signed token's ``d`` or ``l``), else None: a genuine
    link can still carry an id no table holds, and the database must not be asked for it."""
    if isinstance(value, int) and not isinstance(value, bool) and 1 <= value <= MAX_ROW_ID:
        return value
    return None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, payload: bytes) -> bytes:
    return hmac.new(secret.encode("utf-8"), payload, hashlib.sha256).digest()


def sign(secret: str, *, purpose: str, data: dict[str, Any], expires_at: datetime) -> str:
    """A token for ``purpose`` carrying ``data`` until ``expires_at`` (aware)."""
    body = {"p": purpose, "d": data, "e": int(expires_at.timestamp())}
    payload = json.dumps(body, separators=(",", ":"), sort_keys=True).encode("utf-8")
    return f"{_b64(payload)}.{_b64(_mac(secret, payload))}"


def verify(secret: str, token: str, *, purpose: str, now: datetime) -> dict[str, Any]:
    """The data of a valid token; raises :class:`InvalidToken` saying why not."""
    body = _signed_body(secret, token, purpose)
    if int(body.get("e", 0)) < now.timestamp():
        raise InvalidToken("link expired")
    return _data(body)


def signed_data(secret: str, token: str, *, purpose: str) -> dict[str, Any]:
    """The data of a genuine token even past its expiry: only to say "expired" in the right
    language. Never grants anything; raises :class:`InvalidToken` if forged or malformed."""
    return _data(_signed_body(secret, token, purpose))


def _data(body: dict[str, Any]) -> dict[str, Any]:
    data = body.get("d")
    if not isinstance(data, dict):
        raise InvalidToken("malformed token")
    return data


def _signed_body(secret: str, token: str, purpose: str) -> dict[str, Any]:
    try:
        payload_text, mac_text = token.split(".", 1)
        payload = _unb64(payload_text)
        given = _unb64(mac_text)
    except (ValueError, TypeError):
        raise InvalidToken("malformed token") from None
    if not hmac.compare_digest(given, _mac(secret, payload)):
        raise InvalidToken("bad signature")
    try:
        body = json.loads(payload)
    except ValueError:
        raise InvalidToken("malformed token") from None
    if not isinstance(body, dict) or body.get("p") != purpose:
        raise InvalidToken("token is for another purpose")
    return body
