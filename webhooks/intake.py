"""The fast path every provider webhook shares: read a bounded form, store it once.

A webhook is acknowledged only after its row is committed, so intake must be
cheap: the form is parsed with the standard library (bounded, strict UTF-8),
and the event is written with one prepared ``INSERT ... ON CONFLICT DO NOTHING
RETURNING id`` on a pooled connection, without ORM objects. A duplicate
(provider retry) returns ``None`` and is not enqueued again.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

from fastapi import HTTPException, Request, status
from sqlalchemy import Insert, Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from engine.store.base import InboundStatus
from engine.store.models import InboundEvent
from engine.store.types import utc_now

MAX_BODY_BYTES = 64 * 1024
MAX_FIELDS = 200
#: Column widths (PostgreSQL enforces them; a longer value must be a 400, not a 500).
MAX_PROVIDER_ID = 128
MAX_ADDRESS = 512

_TABLE: Table = InboundEvent.__table__  # type: ignore[attr-defined]
_STATEMENTS: dict[str, Insert] = {}


def _insert_statement(dialect: str) -> Insert:
    """Built once per dialect; parameters are bound per call (SQLAlchemy caches the SQL)."""
    statement = _STATEMENTS.get(dialect)
    if statement is None:
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        statement = (insert(_TABLE)
                     .on_conflict_do_nothing(index_elements=["provider", "provider_id"])
                     .returning(_TABLE.c.id))
        _STATEMENTS[dialect] = statement
    return statement


async def insert_inbound(
    engine: AsyncEngine, *, provider: str, provider_id: str, channel: str, sender: str,
    received_at: datetime, recipient: str | None = None, body: str = "",
    raw: dict[str, Any] | None = None, learner_id: int | None = None,
) -> int | None:
    """Store a raw inbound event and commit; its id when new, ``None`` for a duplicate.

    Same semantics as :func:`engine.store.inbound.store_inbound_event` (same
    unique key), one round trip instead of three.
    """
    params = {"provider": provider, "provider_id": provider_id, "channel": channel,
              "sender": sender, "recipient": recipient, "body": body, "raw": raw or {},
              "received_at": received_at, "status": InboundStatus.RECEIVED.value,
              "learner_id": learner_id, "created_at": utc_now()}
    async with engine.begin() as connection:
        result = await connection.execute(_insert_statement(engine.dialect.name), params)
        new_id = result.scalar_one_or_none()
    return int(new_id) if new_id is not None else None


def _bad_request(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_400_BAD_REQUEST, detail)


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request body, refusing (413) more than ``limit`` bytes before reading them all."""
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise _bad_request("invalid Content-Length")
        if int(declared) > limit:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"body over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"body over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def parse_form(body: bytes, content_type: str | None) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body as a dict (last value wins).

    Strict UTF-8, both raw and percent-encoded, and no NUL characters (PostgreSQL
    text cannot hold them): anything else is a 400 rather than a crash later.
    """
    media = (content_type or "").split(";", 1)[0].strip().lower()
    if media != "application/x-www-form-urlencoded":
        raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
                            "expected application/x-www-form-urlencoded")
    try:
        text = body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="strict",
                          max_num_fields=MAX_FIELDS)
    except UnicodeDecodeError:
        raise _bad_request("form is not valid UTF-8") from None
    except ValueError:
        raise _bad_request(f"too many form fields (over {MAX_FIELDS})") from None
    form = dict(pairs)
    if any("\x00" in key or "\x00" in value for key, value in form.items()):
        raise _bad_request("NUL character in form")
    return form
