"""Delivery state changes by compare-and-set, singly or for a whole batch, with their audit rows.

A change applies only if the delivery is still in the expected state, which is
what makes a second worker, a retried job or a redelivered callback harmless.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, BindParameter, Integer, String, Text, bindparam, text, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.sqltypes import AutoString

from engine.store.audit import record_audits
from engine.store.base import DeliveryStatus
from engine.store.models import Delivery
from engine.store.types import JSONType


async def set_status(session: AsyncSession, delivery: Delivery, to_status: str, *, now: datetime,
               expect: str = DeliveryStatus.QUEUED, **values: Any) -> bool:
    """Compare-and-set one delivery from ``expect``; keeps the ORM object in step.

    ``synchronize_session=False``: the default ("evaluate") scans the whole
    identity map on every UPDATE, quadratic in the batch; the one object that
    changed is updated here instead, as committed state (no second UPDATE at flush).
    """
    result = await session.exec(update(Delivery).where(
        col(Delivery.id) == delivery.id, col(Delivery.status) == expect,
    ).values(status=to_status, updated_at=now, **values).execution_options(synchronize_session=False))
    if not result.rowcount:
        return False
    detail = {k: v for k, v in values.items() if k in ("status_reason", "channel", "error_code")}
    if "due_at" in values and values["due_at"] != delivery.due_at:
        # A retry's new time, and the time it had: the audit trail keeps when it was meant to go.
        detail |= {"due_at": values["due_at"].isoformat(), "was_due_at": delivery.due_at.isoformat()}
    _in_step(delivery, {"status": to_status, **values})
    await record_audits(session, entity="delivery", entity_ids=[delivery.id or 0], action="dispatch",
                        at=now, from_state=expect, to_state=to_status, detail=detail)
    return True



def _in_step(delivery: Delivery, values: dict[str, Any]) -> None:
    """Mirrors values just written by a bulk UPDATE onto the ORM object, as already saved."""
    for key, value in values.items():
        set_committed_value(delivery, key, value)


async def set_many(session: AsyncSession, items: list[tuple[Delivery, dict[str, Any]]], to_status: str, *,
                    now: datetime, expect: str, **common: Any) -> list[Delivery]:
    """Compare-and-set many deliveries from ``expect`` at once; returns those that moved.

    Only rows still in ``expect`` move (the rows another worker moved meanwhile
    are left out), each with its own values (``channel``, ``rendered``,
    ``provider_id``, ``attempts``), and the audit rows follow. PostgreSQL: one
    ``UPDATE ... FROM unnest(...) RETURNING`` and one ``INSERT ... SELECT unnest``
    per channel, whatever the size of the wave; SQLite: the compare-and-set
    UPDATE, an executemany of the values, an executemany of the audit rows.
    """
    if not items:
        return []
    if session.get_bind().dialect.name == "postgresql":
        won = await _set_many_postgres(session, items, to_status, now=now, expect=expect, common=common)
        moved = [(delivery, values) for delivery, values in items if delivery.id in won]
        if not moved:
            return []
    else:
        moved = await _set_many_generic(session, items, to_status, now=now, expect=expect, common=common)
        if not moved:
            return []
    by_channel: dict[str | None, list[int]] = {}
    for delivery, values in moved:
        _in_step(delivery, {"status": to_status, **common, **values})
        by_channel.setdefault(values.get("channel"), []).append(delivery.id or 0)
    for channel, channel_ids in by_channel.items():
        await record_audits(session, entity="delivery", entity_ids=channel_ids, action="dispatch", at=now,
                            from_state=expect, to_state=to_status,
                            detail={"channel": channel} if channel is not None else {})
    return [delivery for delivery, _ in moved]


async def _set_many_generic(session: AsyncSession, items: list[tuple[Delivery, dict[str, Any]]], to_status: str, *,
                            now: datetime, expect: str, common: dict[str, Any]) -> list[tuple[Delivery, dict[str, Any]]]:
    """SQLite: the compare-and-set UPDATE, then an executemany of each winner's own values."""
    ids = [delivery.id for delivery, _ in items]
    result = await session.exec(update(Delivery).where(
        col(Delivery.id).in_(ids), col(Delivery.status) == expect,
    ).values(status=to_status, updated_at=now, **common).returning(col(Delivery.id))
        .execution_options(synchronize_session=False))
    won = set(result.scalars().all())
    moved = [(delivery, values) for delivery, values in items if delivery.id in won]
    if not moved:
        return []
    keys = sorted(moved[0][1])
    if keys:  # every item of one call carries the same keys
        table = Delivery.__table__  # type: ignore[attr-defined]
        details = update(table).where(table.c.id == bindparam("b_id")).values(
            updated_at=now, **{key: bindparam(f"b_{key}") for key in keys})
        await (await session.connection()).execute(details, [
            {"b_id": delivery.id, **{f"b_{key}": values[key] for key in keys}} for delivery, values in moved])
    return moved


async def _set_many_postgres(session: AsyncSession, items: list[tuple[Delivery, dict[str, Any]]], to_status: str,
                             *, now: datetime, expect: str, common: dict[str, Any]) -> set[int]:
    """PostgreSQL: the compare-and-set and every row's own values in one ``UPDATE ... FROM unnest``.

    ``WHERE d.status = :expect`` decides row by row, as the generic path's first
    UPDATE does; each winner gets its own values from the arrays (one per column,
    one parameter each), and ``RETURNING`` names the winners. One statement and
    one round trip per wave, whatever its size.
    """
    table = Delivery.__table__  # type: ignore[attr-defined]
    keys = sorted(items[0][1])
    fixed = {"status": to_status, "updated_at": now, **common}
    assignments = [f"{key} = :c_{key}" for key in fixed]
    columns = ["id"]
    casts: list[str] = []
    params: dict[str, Any] = {"ids": [delivery.id for delivery, _ in items], "expect": expect}
    binds: list[BindParameter[Any]] = [bindparam("ids", type_=ARRAY(BigInteger)), bindparam("expect", type_=String())]
    for key, value in fixed.items():
        params[f"c_{key}"] = value
        binds.append(bindparam(f"c_{key}", type_=table.c[key].type))
    for key in keys:
        column_type = table.c[key].type
        column_values = [values[key] for _, values in items]
        if isinstance(column_type, JSONType):  # jsonb travels as text, cast on the server
            params[f"v_{key}"] = [None if v is None else json.dumps(v) for v in column_values]
            binds.append(bindparam(f"v_{key}", type_=ARRAY(Text())))
            assignments.append(f"{key} = v.{key}::jsonb")
        elif isinstance(column_type, (Integer, BigInteger)):
            params[f"v_{key}"] = column_values
            binds.append(bindparam(f"v_{key}", type_=ARRAY(BigInteger)))
            assignments.append(f"{key} = v.{key}")
        elif isinstance(column_type, (String, AutoString)):
            params[f"v_{key}"] = column_values
            binds.append(bindparam(f"v_{key}", type_=ARRAY(Text())))
            assignments.append(f"{key} = v.{key}")
        else:
            raise TypeError(f"set_many: no PostgreSQL array for column {key} ({column_type})")
        columns.append(key)
        casts.append(f":v_{key}")
    statement = text(
        f"UPDATE delivery AS d SET {', '.join(assignments)} "
        f"FROM unnest(:ids{''.join(', ' + c for c in casts)}) AS v({', '.join(columns)}) "
        "WHERE d.id = v.id AND d.status = :expect RETURNING d.id"
    ).bindparams(*binds)
    result = await session.exec(statement, params=params)  # type: ignore[call-overload]
    return {int(row[0]) for row in result.all()}


def attempt_record(to: str, now: datetime) -> dict[str, str]:
    """What a send is about to do, kept in ``rendered["attempt"]`` when it is marked ``sending``.

    The address and the time; the body is ``rendered["body"]``. Recovery looks the
    message up at the provider with these, not with the learner's current
    address, which may have changed since.
    """
    return {"to": to, "at": now.isoformat()}


def recorded_attempt(delivery: Delivery) -> tuple[str | None, datetime | None]:
    """The address and time of the delivery's last attempt, when recorded."""
    attempt = (delivery.rendered or {}).get("attempt") or {}
    try:
        at = datetime.fromisoformat(attempt["at"]) if attempt.get("at") else None
    except (TypeError, ValueError):
        at = None
    return attempt.get("to") or None, at
