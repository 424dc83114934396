"""One seeder for the store and web tests: rows created and committed with sensible defaults.

Tests state only what matters. The defaults come in two sets: :data:`PLANNED` (the store
tests: lessons planned at :data:`T0`) and :data:`SENT_QUIZ` (the web tests: a quiz sent by
e-mail an hour before :data:`NOW`, its prompt open for three days).
"""

from __future__ import annotations

import hashlib
import itertools
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.store.models import CampaignVersion, Delivery, Enrollment, Learner, Prompt

T0 = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)
NOW = datetime(2025, 3, 4, 9, 30, tzinfo=UTC)
PROMPT_LIFETIME = timedelta(days=3)


@dataclass(frozen=True)
class Defaults:
    """What a seeded row holds unless the test says otherwise."""

    anchor_at: datetime
    learner: dict[str, Any] = field(default_factory=dict)
    delivery: dict[str, Any] = field(default_factory=dict)
    prompt: dict[str, Any] = field(default_factory=dict)


PLANNED = Defaults(
    anchor_at=T0,
    delivery={"kind": "lesson", "channels": ["sms", "email"], "due_at": T0},
    prompt={"channel": "sms", "question_ref": "management/quiz-sbi/q1",
            "expectation": {"kind": "choice", "choices": ["A", "B", "C"]},
            "opened_at": T0, "expires_at": T0 + PROMPT_LIFETIME},
)
SENT_QUIZ = Defaults(
    anchor_at=NOW - timedelta(days=2),
    learner={"email": "c{n}@example.org"},
    delivery={"kind": "quiz", "channels": ["email"], "due_at": NOW - timedelta(hours=1), "status": "sent",
              "channel": "email", "sent_at": NOW - timedelta(hours=1),
              "rendered": {"body": "Quiz : Quelle est la première étape du feedback SBI ?",
                           "subject": "Quiz management"}},
    prompt={"channel": "email", "question_ref": "management/quiz-sbi#q1",
            "expectation": {"kind": "choice", "choices": ["Situation", "Jugement", "Solution"],
                            "values": [], "scale": None},
            "opened_at": NOW - timedelta(hours=1), "expires_at": NOW + PROMPT_LIFETIME},
)


class Seed:
    """Creates and commits rows with the ``defaults`` given, so tests state only what matters."""

    def __init__(self, maker: async_sessionmaker[AsyncSession], defaults: Defaults = PLANNED) -> None:
        self.maker = maker
        self.defaults = defaults
        self._counter = itertools.count(1)

    async def save(self, row: Any) -> Any:
        async with self.maker() as session:
            session.add(row)
            await session.commit()
            return row

    async def learner(self, **fields: Any) -> Learner:
        n = next(self._counter)
        values: dict[str, Any] = {"first_name": f"Camille{n}", "last_name": "Martin", "phone": f"+3361234{n:04d}"}
        values.update({name: value.format(n=n) for name, value in self.defaults.learner.items()})
        values.update(fields)
        learner: Learner = await self.save(Learner(**values))
        return learner

    async def enrollment(self, *, learner: Learner | None = None, **fields: Any) -> Enrollment:
        learner = learner or await self.learner()
        assert learner.id is not None
        n = next(self._counter)
        version = await self.save(CampaignVersion(
            name="suivi-standard", content_hash=hashlib.sha256(f"v{n}".encode()).hexdigest(),
            definition={"campaign": "suivi-standard", "steps": []}))
        enrollment: Enrollment = await self.save(Enrollment(
            learner_id=learner.id, campaign_name=f"suivi-standard-{n}", campaign_version_id=version.id,
            anchor_at=self.defaults.anchor_at, **fields))
        return enrollment

    async def delivery(self, *, enrollment: Enrollment, **fields: Any) -> Delivery:
        values: dict[str, Any] = {"enrollment_id": enrollment.id, "learner_id": enrollment.learner_id,
                                  "step_id": f"step-{next(self._counter)}", **self.defaults.delivery}
        values.update(fields)
        delivery: Delivery = await self.save(Delivery(**values))
        return delivery

    async def many_deliveries(self, *, enrollment: Enrollment, count: int, due_at: datetime,
                              recipient: str = "learner") -> None:
        """Bulk insert ``count`` planned deliveries (one statement, for the load tests)."""
        rows = [{"enrollment_id": enrollment.id, "learner_id": enrollment.learner_id, "step_id": "daily-tip",
                 "occurrence": i, "kind": "lesson", "recipient": recipient, "origin": "plan",
                 "channels": ["sms"], "due_at": due_at - timedelta(seconds=i), "status": "planned",
                 "attempts": 0, "created_at": T0, "updated_at": T0}
                for i in range(count)]
        async with self.maker() as session:
            await session.exec(insert(Delivery).values(rows))
            await session.commit()

    async def prompt(self, *, delivery: Delivery, **fields: Any) -> Prompt:
        """A prompt on ``delivery``; one opened at another time expires three days after it."""
        values: dict[str, Any] = {"delivery_id": delivery.id, "learner_id": delivery.learner_id,
                                  "enrollment_id": delivery.enrollment_id, "step_id": delivery.step_id,
                                  "kind": "quiz", **self.defaults.prompt}
        if "opened_at" in fields and "expires_at" not in fields:
            values["expires_at"] = fields["opened_at"] + PROMPT_LIFETIME
        values.update(fields)
        prompt: Prompt = await self.save(Prompt(**values))
        return prompt
