"""Dashboard test data: two trainers and a quality manager, a session each with learners whose
histories cover every page (survey answers, quiz answers, failures, tickets, alerts, tasks, cards).

Rows are written directly (no campaign is played), on the pinned version of
``suivi-standard`` so that the read models find real question types and quiz items.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.core.spaced import new_state, record_answer
from engine.services.accounts import create_api_key, create_trainer
from engine.services.catalog import Catalog, pin_version
from engine.settings import PROJECT_ROOT
from engine.store.models import (
    Alert,
    ApiKey,
    Attendance,
    Delivery,
    Enrollment,
    Learner,
    Prompt,
    Reply,
    ReviewCard,
    Ticket,
    TrainingSession,
)

PASSWORD = "demo-ancrage-test"
FIRST = ["Camille", "Yanis", "Léa", "Hugo", "Inès", "Lucas", "Chloé", "Nathan", "Manon", "Théo"]
LAST = ["Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau"]
CRITERIA = ["accueil", "contenu", "equipe-pedagogique", "moyens", "accompagnement"]
COMMENTS = ["Très bonne formation, concrète et utile.", "Un peu rapide sur la fin mais très clair.",
            "Déçu par les supports, c'est inadmissible de ne pas les avoir reçus.", "Formatrice à l'écoute, merci !"]


@dataclass
class SeededSession:
    id: int
    learner_ids: list[int] = field(default_factory=list)
    ticket_ids: list[int] = field(default_factory=list)
    alert_ids: list[int] = field(default_factory=list)
    task_ids: list[int] = field(default_factory=list)
    enrollment_ids: list[int] = field(default_factory=list)


@dataclass
class Seeded:
    trainer_a: int
    trainer_b: int
    quality: int
    a: SeededSession
    b: SeededSession
    emails: dict[str, str]
    api_key_id: int = 0


_catalog: Catalog | None = None


def _campaign_catalog() -> Catalog:
    global _catalog
    if _catalog is None:
        _catalog = Catalog.load(PROJECT_ROOT / "campaigns", PROJECT_ROOT / "content")
    return _catalog


async def seed_dashboard(maker: async_sessionmaker[AsyncSession], *, now: datetime, learners: int = 5,
                         learners_b: int = 3, phone_prefix: str = "+336120") -> Seeded:
    """Two sessions (trainer A's with ``learners``, trainer B's with ``learners_b``) and three accounts."""
    catalog = _campaign_catalog()
    async with maker() as db:
        a = await create_trainer(db, email="formatrice@test.local", name="Claire Formatrice", password=PASSWORD,
                                 now=now)
        b = await create_trainer(db, email="formateur2@test.local", name="Bruno Formateur", password=PASSWORD,
                                 now=now)
        q = await create_trainer(db, email="qualite@test.local", name="Inès Qualité", role="quality",
                                 password=PASSWORD, now=now)
        version = await pin_version(db, campaign=catalog.campaigns["suivi-standard"], library=catalog.library)
        rng = random.Random(7)
        seeded_a = await _session(db, title="Manager coach — Lyon", trainer_id=a.id or 0, version_id=version.id or 0,
                                  now=now, count=learners, rng=rng, phone_prefix=phone_prefix + "1")
        seeded_b = await _session(db, title="Manager coach — Nantes", trainer_id=b.id or 0,
                                  version_id=version.id or 0, now=now, count=learners_b, rng=rng,
                                  phone_prefix=phone_prefix + "2")
        await create_api_key(db, "LMS de Claire", a.id)
        await db.commit()
        [key] = (await db.exec(select(ApiKey))).all()
        return Seeded(trainer_a=a.id or 0, trainer_b=b.id or 0, quality=q.id or 0, a=seeded_a, b=seeded_b,
                      emails={"trainer": a.email, "other": b.email, "quality": q.email}, api_key_id=key.id or 0)


async def _session(db: AsyncSession, *, title: str, trainer_id: int, version_id: int, now: datetime, count: int,
                   rng: random.Random, phone_prefix: str) -> SeededSession:
    ends = now - timedelta(days=20)
    training = TrainingSession(title=title, trainer_id=trainer_id, starts_at=ends - timedelta(hours=7),
                               ends_at=ends, campaign_names=["suivi-standard"], location="Salle 2",
                               ended_processed_at=ends)
    db.add(training)
    await db.flush()
    seeded = SeededSession(id=training.id or 0)
    await _learners(db, seeded, trainer_id=trainer_id, version_id=version_id, ends=ends, now=now, start=0,
                    count=count, rng=rng, phone_prefix=phone_prefix)
    return seeded


async def grow_session(maker: async_sessionmaker[AsyncSession], seeded: SeededSession, *, trainer_id: int,
                       now: datetime, count: int) -> None:
    """Adds ``count`` more learners (with full histories) to a seeded session."""
    async with maker() as db:
        training = await db.get(TrainingSession, seeded.id)
        enrollment = await db.get(Enrollment, seeded.enrollment_ids[0])
        assert training is not None and enrollment is not None
        start = len(seeded.learner_ids)
        await _learners(db, seeded, trainer_id=trainer_id, version_id=enrollment.campaign_version_id,
                        ends=training.ends_at, now=now, start=start, count=count, rng=random.Random(start),
                        phone_prefix=f"+33613{start % 10}")
        await db.commit()


async def _learners(db: AsyncSession, seeded: SeededSession, *, trainer_id: int, version_id: int, ends: datetime,
                    now: datetime, start: int, count: int, rng: random.Random, phone_prefix: str) -> None:
    for n in range(start, start + count):
        learner = Learner(first_name=FIRST[n % len(FIRST)], last_name=f"{LAST[n % len(LAST)]}{'' if n < 10 else n}",
                          phone=f"{phone_prefix}{n:05d}", email=f"l{trainer_id}-{n}@example.org")
        db.add(learner)
        await db.flush()
        lid = learner.id or 0
        seeded.learner_ids.append(lid)
        db.add(Attendance(session_id=seeded.id, learner_id=lid))
        enrollment = Enrollment(learner_id=lid, session_id=seeded.id, campaign_name="suivi-standard",
                                anchor_at=ends, campaign_version_id=version_id)
        db.add(enrollment)
        await db.flush()
        eid = enrollment.id or 0
        seeded.enrollment_ids.append(eid)
        silent = n % 4 == 3
        await _survey(db, lid, eid, ends + timedelta(hours=2), rng, silent=silent, comment=COMMENTS[n % 4])
        await _quiz(db, lid, eid, ends + timedelta(days=7), rng, silent=silent)
        failed = Delivery(enrollment_id=eid, learner_id=lid, step_id="rappel-j1", kind="lesson",
                          content_ref="management/feedback-sbi", channels=["sms"], channel="sms",
                          due_at=ends + timedelta(days=1), status="failed" if n % 5 == 4 else "delivered",
                          status_reason="numéro injoignable" if n % 5 == 4 else None,
                          sent_at=ends + timedelta(days=1), rendered={"body": "Rappel : le feedback SBI"})
        db.add(failed)
        db.add(Delivery(enrollment_id=eid, learner_id=lid, step_id="defi-j30", kind="lesson",
                        content_ref="management/defi-j30", channels=["sms"], due_at=ends + timedelta(days=30)))
        if n % 3 == 0:
            ticket = Ticket(learner_id=lid, session_id=seeded.id,
                            body="Bonjour, je n'ai pas reçu mon attestation de fin de formation" if n % 2 == 0
                            else "Je suis déçu, les supports promis ne sont jamais arrivés",
                            faq_entry_id="attestation" if n % 2 == 0 else None,
                            created_at=now - timedelta(hours=60 - 10 * n), due_by=now - timedelta(hours=12 - 10 * n))
            db.add(ticket)
            await db.flush()
            seeded.ticket_ids.append(ticket.id or 0)
        if n % 4 == 1:
            alert = Alert(learner_id=lid, enrollment_id=eid, session_id=seeded.id, kind="low_rating",
                          reason="Note 2/5 : contenu", created_at=ends + timedelta(hours=3))
            db.add(alert)
            await db.flush()
            seeded.alert_ids.append(alert.id or 0)
        if n % 5 == 0:
            task = Alert(learner_id=lid, enrollment_id=eid, session_id=seeded.id, kind="task",
                         reason=f"Appeler {learner.first_name} pour faire le point", created_at=ends + timedelta(days=10))
            db.add(task)
            await db.flush()
            seeded.task_ids.append(task.id or 0)
        if silent:
            learner.at_risk = True
            db.add(learner)


async def add_enrolled(db: AsyncSession, session_id: int, version_id: int, first_name: str, last_name: str,
                       anchor_at: datetime) -> tuple[int, int]:
    """A learner enrolled in ``session_id`` on the pinned campaign version: (learner id, enrollment id)."""
    learner = Learner(first_name=first_name, last_name=last_name)
    db.add(learner)
    await db.flush()
    enrollment = Enrollment(learner_id=learner.id or 0, session_id=session_id, campaign_name="suivi-standard",
                            anchor_at=anchor_at, campaign_version_id=version_id)
    db.add(enrollment)
    await db.flush()
    return learner.id or 0, enrollment.id or 0


async def add_answer(db: AsyncSession, lid: int, eid: int, step: str, kind: str, ref: str, at: datetime,
                  answer: object | None, raw: str, correct: bool | None = None, channel: str = "sms") -> None:
    delivery = Delivery(enrollment_id=eid, learner_id=lid, step_id=step, occurrence=abs(hash(ref)) % 10_000,
                        kind=kind, channels=[channel], channel=channel, due_at=at, status="delivered", sent_at=at,
                        rendered={"body": f"Question {ref}"})
    db.add(delivery)
    await db.flush()
    prompt = Prompt(delivery_id=delivery.id or 0, learner_id=lid, enrollment_id=eid, step_id=step, channel=channel,
                    kind=kind, question_ref=ref, opened_at=at, expires_at=at + timedelta(days=3),
                    status="expired" if answer is None else "answered",
                    answered_at=None if answer is None else at + timedelta(minutes=20))
    db.add(prompt)
    await db.flush()
    if answer is not None:
        db.add(Reply(prompt_id=prompt.id, learner_id=lid, enrollment_id=eid, kind=kind, raw_text=raw,
                     value={"question": ref, "value": answer, "status": "answered"}, correct=correct,
                     created_at=at + timedelta(minutes=20)))


async def _survey(db: AsyncSession, lid: int, eid: int, at: datetime, rng: random.Random, *, silent: bool,
                  comment: str) -> None:
    for question in CRITERIA:
        score = None if silent else rng.choice([3, 4, 4, 5, 5, 2])
        await add_answer(db, lid, eid, "satisfaction-chaud", "survey", f"satisfaction-chaud#{question}", at, score,
                      str(score))
    nps = None if silent else rng.choice([6, 8, 9, 10, 10])
    await add_answer(db, lid, eid, "satisfaction-chaud", "survey", "satisfaction-chaud#nps", at, nps, str(nps))
    await add_answer(db, lid, eid, "satisfaction-chaud", "survey", "satisfaction-chaud#accompagne", at,
                  None if silent else rng.random() < 0.8, "oui")
    await add_answer(db, lid, eid, "satisfaction-chaud", "survey", "satisfaction-chaud#commentaire", at,
                  None if silent else comment, comment)


async def _quiz(db: AsyncSession, lid: int, eid: int, at: datetime, rng: random.Random, *, silent: bool) -> None:
    for item, right, wrong in (("sbi-situation", "A", "B"), ("sbi-impact", "B", "C"), ("sbi-jugement", "C", "A")):
        correct = rng.random() < 0.6
        letter = right if correct else wrong
        await add_answer(db, lid, eid, "quiz-j7", "quiz", f"management/quiz-sbi#{item}", at,
                      None if silent else letter, letter, None if silent else correct)
        if not silent:
            state = record_answer(new_state(item, now=at), correct=correct, at=at, horizon_days=60)
            db.add(ReviewCard(learner_id=lid, bank_ref="management/quiz-sbi", item_id=item, state=state.to_dict(),
                              due_at=state.due, retired=state.retired))
