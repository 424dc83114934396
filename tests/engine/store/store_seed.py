"""Store fixtures: the shared database fixtures plus a small data seeder."""

from __future__ import annotations

import hashlib
import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.store import CampaignVersion, Delivery, Enrollment, Learner, Prompt

T0 = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)


class Seed:
    """Creates and commits rows with sensible defaults, so tests state only what matters."""

    def __init__(self, maker: async_sessionmaker[AsyncSession]) -> None:
        self.maker = maker
        self._counter = itertools.count(1)

    async def _save(self, row: Any) -> Any:
        async with self.maker() as session:
            session.add(row)
            await session.commit()
            return row

    async def learner(self, **fields: Any) -> Learner:
        n = next(self._counter)
        values: dict[str, Any] = {
            "first_name": f"Camille{n}",
            "last_name": "Martin",
            "phone": f"+3361234{n:04d}",
        }
        values.update(fields)
        learner: Learner = await self._save(Learner(**values))
        return learner

    async def enrollment(
        self, *, learner: Learner | None = None, status: str = "active"
    ) -> Enrollment:
        learner = learner or await self.learner()
        assert learner.id is not None
        n = next(self._counter)
        version = await self._save(
            CampaignVersion(
                name="suivi-standard",
                content_hash=hashlib.sha256(f"v{n}".encode()).hexdigest(),
                definition={"campaign": "suivi-standard", "steps": []},
            )
        )
        enrollment: Enrollment = await self._save(
            Enrollment(
                learner_id=learner.id,
                campaign_name=f"suivi-standard-{n}",
                campaign_version_id=version.id,
                anchor_at=T0,
                status=status,
            )
        )
        return enrollment

    async def delivery(
        self, *, enrollment: Enrollment, due_at: datetime = T0, **fields: Any
    ) -> Delivery:
        values: dict[str, Any] = {
            "enrollment_id": enrollment.id,
            "learner_id": enrollment.learner_id,
            "step_id": f"step-{next(self._counter)}",
            "kind": "lesson",
            "channels": ["sms", "email"],
            "due_at": due_at,
        }
        values.update(fields)
        delivery: Delivery = await self._save(Delivery(**values))
        return delivery

    async def many_deliveries(
        self, *, enrollment: Enrollment, count: int, due_at: datetime
    ) -> None:
        """Bulk insert ``count`` planned deliveries (one statement, for the load tests)."""
        rows = [
            {
                "enrollment_id": enrollment.id,
                "learner_id": enrollment.learner_id,
                "step_id": "daily-tip",
                "occurrence": i,
                "kind": "lesson",
                "recipient": "learner",
                "origin": "plan",
                "channels": ["sms"],
                "due_at": due_at - timedelta(seconds=i),
                "status": "planned",
                "attempts": 0,
                "created_at": T0,
                "updated_at": T0,
            }
            for i in range(count)
        ]
        async with self.maker() as session:
            await session.exec(insert(Delivery).values(rows))
            await session.commit()

    async def prompt(
        self, *, delivery: Delivery, channel: str = "sms", opened_at: datetime = T0, **fields: Any
    ) -> Prompt:
        values: dict[str, Any] = {
            "delivery_id": delivery.id,
            "learner_id": delivery.learner_id,
            "enrollment_id": delivery.enrollment_id,
            "step_id": delivery.step_id,
            "channel": channel,
            "kind": "quiz",
            "question_ref": "management/quiz-sbi/q1",
            "expectation": {"kind": "choice", "choices": ["A", "B", "C"]},
            "opened_at": opened_at,
            "expires_at": opened_at + timedelta(days=3),
        }
        values.update(fields)
        prompt: Prompt = await self._save(Prompt(**values))
        return prompt
