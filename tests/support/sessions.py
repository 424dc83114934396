"""One way for tests to add a training session that ends at a given time, with its attendees.

The engine's tick then enrols them, as it does for a session created by the CLI or the API.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Protocol

from engine.services.runtime import Runtime
from engine.store.models import Attendance, Learner, TrainingSession


class HasRuntime(Protocol):
    """The in-process engine of tests/engine_harness.py or the worker tests' driver."""

    rt: Runtime


async def add_session(owner: HasRuntime, *, learners: list[dict[str, Any]], campaigns: list[str],
                      ends_at: datetime, title: str = "Sécurité") -> tuple[TrainingSession, list[Learner]]:
    """A session of seven hours ending at ``ends_at``, attended by new ``learners``."""
    async with owner.rt.sessions() as session, session.begin():
        training = TrainingSession(title=title, starts_at=ends_at - timedelta(hours=7), ends_at=ends_at,
                                   campaign_names=campaigns)
        session.add(training)
        await session.flush()
        rows = [Learner(**data) for data in learners]
        session.add_all(rows)
        await session.flush()
        session.add_all([Attendance(session_id=training.id or 0, learner_id=row.id or 0) for row in rows])
    return training, rows
