"""The team page (quality managers): dashboard accounts and their sessions."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import func
from sqlalchemy import select as sa_select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.reports.facts import fetch
from engine.store.models import Trainer, TrainingSession


class Member(BaseModel):
    id: int
    name: str
    email: str
    role: str
    invited: bool
    last_login_at: datetime | None
    sessions: int


async def team(db: AsyncSession) -> list[Member]:
    counts = sa_select(col(TrainingSession.trainer_id), func.count().label("n")).group_by(
        col(TrainingSession.trainer_id)).subquery()
    rows = await fetch(db, sa_select(Trainer, counts.c.n).join(
        counts, counts.c.trainer_id == col(Trainer.id), isouter=True).where(
        col(Trainer.disabled_at).is_(None)).order_by(col(Trainer.name)))
    return [Member(id=t.id or 0, name=t.name, email=t.email, role=t.role, invited=not t.password_hash,
                   last_login_at=t.last_login_at, sessions=n or 0) for t, n in rows]
