"""A big organisation's history for benchmarks: a few sessions played by the engine, then copied.

Playing 10,000 learners through the engine would take hours, so
:func:`seed_org` plays a small template (:func:`engine.demo.history.seed_history`:
``template_sessions`` sessions of ``template_learners`` learners, ended at
different ages) and then copies every row the engine wrote for them (learners,
enrolments, deliveries, prompts, inbound events, replies, review cards,
alerts, tickets and their messages, audit events) in bulk, with new ids and
the foreign keys moved along, until there are ``sessions`` sessions of
``learners`` learners. The copies are shaped exactly like the engine's rows
because they are the engine's rows.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, func, insert, text
from sqlalchemy import select as select_rows
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.demo.cohort import HistoryPlan, SessionSpec, TrainerSpec
from engine.demo.history import seed_history
from engine.services.catalog import Catalog
from engine.services.runtime import Runtime
from engine.store.base import TrainerRole
from engine.store.models import (
    Alert,
    Attendance,
    AuditEvent,
    Delivery,
    Enrollment,
    InboundEvent,
    Learner,
    Prompt,
    Reply,
    ReviewCard,
    Ticket,
    TicketMessage,
    TrainingSession,
)

#: Ages (days since the end) of the template sessions: a finished campaign, cold surveys, reviews, fresh.
TEMPLATE_AGES = (185, 100, 45, 12)
_ROWS_PER_INSERT = 5000

#: Copied tables, parents first, with each foreign key column and the table it points to.
_TABLES: tuple[tuple[Any, dict[str, str]], ...] = (
    (Learner, {}),
    (Attendance, {"learner_id": "learner", "session_id": "training_session"}),
    (Enrollment, {"learner_id": "learner", "session_id": "training_session"}),
    (Delivery, {"enrollment_id": "enrollment", "learner_id": "learner"}),
    (Prompt, {"delivery_id": "delivery", "learner_id": "learner", "enrollment_id": "enrollment"}),
    (InboundEvent, {"learner_id": "learner"}),
    (Reply, {"inbound_event_id": "inbound_event", "prompt_id": "prompt", "learner_id": "learner",
             "enrollment_id": "enrollment"}),
    (ReviewCard, {"learner_id": "learner"}),
    (Alert, {"learner_id": "learner", "enrollment_id": "enrollment", "session_id": "training_session"}),
    (Ticket, {"learner_id": "learner", "session_id": "training_session", "inbound_event_id": "inbound_event"}),
    (TicketMessage, {"ticket_id": "ticket"}),
    (AuditEvent, {}),
)


@dataclass
class OrgReport:
    sessions: int
    learners: int
    rows: int
    replay_seconds: float
    copy_seconds: float


def org_plan(*, trainers: int, template_sessions: int, template_learners: int, seed: int) -> HistoryPlan:
    """The template: sessions of every age, led by the organisation's trainers in turn."""
    people = tuple(TrainerSpec(f"Formateur {n}", f"formateur{n}@bench.local") for n in range(1, trainers + 1))
    specs = tuple(SessionSpec(f"Session {n + 1}", people[n % trainers].email,
                              TEMPLATE_AGES[n % len(TEMPLATE_AGES)] + 7 * (n // len(TEMPLATE_AGES)),
                              learners=template_learners) for n in range(template_sessions))
    quality = (TrainerSpec("Responsable qualité", "qualite@bench.local", TrainerRole.QUALITY),)
    return HistoryPlan(trainers=people + quality, sessions=specs, seed=seed)


async def seed_org(rt: Runtime, catalog: Catalog, *, sessions: int, learners: int, until: datetime,
                   trainers: int = 10, template_sessions: int = 4, template_learners: int = 10,
                   seed: int = 2026) -> OrgReport:
    """``sessions`` × ``learners`` with full histories, on an empty database (SQLite or PostgreSQL).

    ``sessions`` must be a multiple of ``template_sessions`` and ``learners`` of ``template_learners``.
    """
    if sessions % template_sessions or learners % template_learners:
        raise ValueError("sessions and learners must be multiples of the template's")
    plan = org_plan(trainers=trainers, template_sessions=template_sessions,
                    template_learners=template_learners, seed=seed)
    replay = await seed_history(rt, catalog, plan=plan, until=until)
    started = time.perf_counter()
    per_session = learners // template_learners  # template copies merged into one session
    copies = sessions // template_sessions * per_session
    rows = 0
    async with rt.sessions() as db, db.begin():
        template = {table.__tablename__: await _rows(db, table.__table__) for table, _ in _TABLES}
        spans = {name: max((row["id"] for row in found), default=0) for name, found in template.items()}
        originals = list((await db.exec(select(TrainingSession).order_by(col(TrainingSession.id)))).all())
        spans["training_session"] = max((t.id or 0 for t in originals), default=0)
        trainer_ids = sorted({t.trainer_id for t in originals if t.trainer_id is not None})
        for copy in range(1, copies):
            block = copy // per_session
            moved: dict[int, int] = {}
            for number, original in enumerate(originals):
                if block == 0:
                    moved[original.id or 0] = original.id or 0
                    continue
                new_id = spans["training_session"] + (block - 1) * len(originals) + number + 1
                moved[original.id or 0] = new_id
                if copy % per_session == 0:
                    await _insert(db, TrainingSession.__table__, [{  # type: ignore[attr-defined]
                        **original.model_dump(), "id": new_id, "title": f"{original.title} ({block + 1})",
                        "trainer_id": trainer_ids[(block * len(originals) + number) % len(trainer_ids)]}])
            for table, keys in _TABLES:
                name = table.__tablename__
                copied = [_moved(row, copy, name, keys, spans, moved) for row in template[name]]
                await _insert(db, table.__table__, copied)
                rows += len(copied)
        if rt.engine.dialect.name == "postgresql":
            for name in ["training_session", *template]:
                await db.exec(text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'),"  # type: ignore[call-overload]
                                   f" (SELECT max(id) FROM {name}))"))
        total = (await db.exec(select(func.count(col(Learner.id))))).one()
    if rt.engine.dialect.name == "postgresql":
        # What autovacuum would do after a while: planner statistics (on the never-analysed bulk copy the
        # planner picks nested loops sized for a few rows: a session page took 0.5 s instead of 50 ms) and
        # the visibility map (index-only scans).
        async with rt.engine.connect() as conn:
            await (await conn.execution_options(isolation_level="AUTOCOMMIT")).execute(text("VACUUM ANALYZE"))
    return OrgReport(sessions=sessions, learners=int(total), rows=rows, replay_seconds=replay.seconds,
                     copy_seconds=time.perf_counter() - started)


async def _rows(db: AsyncSession, table: Table) -> list[dict[str, Any]]:
    result = await db.exec(select_rows(table).order_by(table.c.id))  # type: ignore[call-overload]
    return [dict(row._mapping) for row in result.all()]


async def _insert(db: AsyncSession, table: Any, rows: list[dict[str, Any]]) -> None:
    for start in range(0, len(rows), _ROWS_PER_INSERT):
        await db.exec(insert(table), params=rows[start:start + _ROWS_PER_INSERT])


def _moved(row: dict[str, Any], copy: int, name: str, keys: dict[str, str], spans: dict[str, int],
           sessions: dict[int, int]) -> dict[str, Any]:
    """One template row as copy number ``copy``: its id, foreign keys and unique values shifted."""
    new = {**row, "id": row["id"] + copy * spans[name]}
    for column, target in keys.items():
        value = row[column]
        if value is not None:
            new[column] = sessions[value] if target == "training_session" else value + copy * spans[target]
    if name == "learner":
        new["phone"] = f"+336{new['id']:08d}" if row["phone"] else None
        new["email"] = f"apprenant{new['id']}@exemple.fr" if row["email"] else None
    elif name == "inbound_event":
        new["provider_id"] = f"{row['provider_id']}-{copy}"
        if row["learner_id"] is not None:
            prefix = "whatsapp:" if row["sender"].startswith("whatsapp:") else ""
            new["sender"] = f"{prefix}+336{new['learner_id']:08d}"
    elif name == "audit_event" and row["entity"] in spans:
        new["entity_id"] = row["entity_id"] + copy * spans[row["entity"]]
    return new
