"""The append-only audit trail, written in the same transaction as the change."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, bindparam, insert, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.store.models_support import AuditEvent
from engine.store.types import utc_now


async def record_audit(
    session: AsyncSession,
    *,
    entity: str,
    entity_id: int,
    action: str,
    at: datetime,
    from_state: str | None = None,
    to_state: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Append one state change; committed (or rolled back) with the caller's change."""
    await record_audits(
        session,
        entity=entity,
        entity_ids=[entity_id],
        action=action,
        at=at,
        from_state=from_state,
        to_state=to_state,
        detail=detail,
    )


async def record_audits(
    session: AsyncSession,
    *,
    entity: str,
    entity_ids: Iterable[int],
    action: str,
    at: datetime,
    from_state: str | None = None,
    to_state: str | None = None,
    detail: Mapping[str, Any] | None = None,
) -> None:
    """Append the same change for many rows in one statement (claims, cancels, send waves)."""
    written_at = utc_now()
    if session.get_bind().dialect.name == "postgresql":
        ids = list(entity_ids)
        if ids:
            # One statement and one parameter set whatever the count: the ids travel as one
            # array (a send wave's executemany bound, encoded and sent every row's values).
            await session.exec(_PG_INSERT_MANY, params={  # type: ignore[call-overload]
                "entity": entity, "ids": ids, "action": action, "from_state": from_state,
                "to_state": to_state, "detail": dict(detail or {}), "at": at, "created_at": written_at})
        return
    rows = [
        {
            "entity": entity,
            "entity_id": entity_id,
            "action": action,
            "from_state": from_state,
            "to_state": to_state,
            "detail": dict(detail or {}),
            "at": at,
            "created_at": written_at,
        }
        for entity_id in entity_ids
    ]
    if not rows:
        return
    # An executemany: the INSERT is compiled once (SQLAlchemy's cache) and the
    # driver sends every row's parameters in one pipelined batch, with no
    # bound-parameter limit whatever the claim size. A multi-row
    # ``.values(rows)`` was compiled anew on every call (most of a send
    # batch's CPU time).
    await session.exec(insert(AuditEvent.__table__), params=rows)  # type: ignore[attr-defined]


_table = AuditEvent.__table__  # type: ignore[attr-defined]
_PG_INSERT_MANY = text(
    "INSERT INTO audit_event (entity, entity_id, action, from_state, to_state, detail, at, created_at) "
    "SELECT :entity, ids.id, :action, :from_state, :to_state, :detail, :at, :created_at "
    "FROM unnest(:ids) AS ids(id)"
).bindparams(
    bindparam("ids", type_=ARRAY(BigInteger)),
    bindparam("entity", type_=_table.c.entity.type),
    bindparam("action", type_=_table.c.action.type),
    bindparam("from_state", type_=_table.c.from_state.type),
    bindparam("to_state", type_=_table.c.to_state.type),
    bindparam("detail", type_=_table.c.detail.type),
    bindparam("at", type_=_table.c.at.type),
    bindparam("created_at", type_=_table.c.created_at.type),
)
