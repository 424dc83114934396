"""Raw inbound events, stored once per provider message id.

Providers redeliver webhooks (timeouts, retries) and may do so concurrently;
the unique (provider, provider_id) constraint plus ``ON CONFLICT DO NOTHING``
makes the second copy a no-op on both backends without a failed transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.store.base import InboundStatus
from engine.store.models_messages import InboundEvent
from engine.store.types import utc_now

#: Provider name of answers given on a one-tap answer page (an e-mail or push question's link).
LINK_PROVIDER = "link"


async def store_inbound_event(
    session: AsyncSession,
    *,
    provider: str,
    provider_id: str,
    channel: str,
    sender: str,
    received_at: datetime,
    recipient: str | None = None,
    body: str = "",
    raw: dict[str, Any] | None = None,
    learner_id: int | None = None,
) -> tuple[InboundEvent, bool]:
    """Insert the event unless already stored; returns ``(event, created)``.

    Commit before acknowledging the provider: the stored row, not Redis, is
    what guarantees the reply is processed.
    """
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = (
        insert(InboundEvent)
        .values(
            provider=provider,
            provider_id=provider_id,
            channel=channel,
            sender=sender,
            recipient=recipient,
            body=body,
            raw=raw or {},
            received_at=received_at,
            status=InboundStatus.RECEIVED,
            learner_id=learner_id,
            created_at=utc_now(),
        )
        .on_conflict_do_nothing(index_elements=["provider", "provider_id"])
        .returning(col(InboundEvent.id))
    )
    new_id = (await session.exec(statement)).scalar_one_or_none()
    if new_id is not None:
        created = await session.get(InboundEvent, new_id)
        assert created is not None
        return created, True
    existing = (
        await session.exec(
            select(InboundEvent).where(
                col(InboundEvent.provider) == provider,
                col(InboundEvent.provider_id) == provider_id,
            )
        )
    ).one()
    return existing, False
