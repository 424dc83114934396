"""Who the demo's history is about: accounts, past sessions and their learners.

A :class:`HistoryPlan` says how many sessions, who leads them, when they ended
and how many learners each had; :func:`add_cohorts` writes the trainers,
sessions, learners and attendance rows (the people, not what happened to them:
that is the engine's job, see :mod:`engine.demo.history`). Everything is drawn
from one seeded random generator, so a plan and a seed give the same rows.
"""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.store.base import TrainerRole
from engine.store.models import Attendance, Learner, Trainer, TrainingSession

PARIS = ZoneInfo("Europe/Paris")
DEMO_PASSWORD = "demo-ancrage"

_FIRST = ("Camille", "Léa", "Manon", "Chloé", "Inès", "Sarah", "Julie", "Emma", "Louise", "Alice", "Nadia",
          "Claire", "Sophie", "Amina", "Pauline", "Lucas", "Hugo", "Yanis", "Thomas", "Nicolas", "Karim",
          "Julien", "Antoine", "Mehdi", "Maxime", "Romain", "Bastien", "Olivier", "Samuel", "Théo")
_LAST = ("Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy", "Moreau",
         "Simon", "Laurent", "Lefebvre", "Michel", "Garcia", "David", "Bertrand", "Roux", "Vincent", "Fournier",
         "Morel", "Girard", "Andre", "Mercier", "Dupont", "Lambert", "Bonnet", "Francois", "Martinez", "Benali")
_PLACES = ("Lyon", "Paris", "Nantes", "Lille", "Bordeaux", "Toulouse", "Marseille", "Rennes")
#: Persona shares in a cohort (the rest of the mix is silent learners).
PERSONA_MIX = (("assidu", 0.4), ("tardif", 0.25), ("en-difficulte", 0.2), ("silencieux", 0.15))


@dataclass(frozen=True)
class TrainerSpec:
    name: str
    email: str
    role: str = TrainerRole.TRAINER


@dataclass(frozen=True)
class SessionSpec:
    """A past session: its trainer (by e-mail), how long ago it ended, how many attended."""

    title: str
    trainer_email: str
    ended_days_ago: int
    learners: int = 25
    campaign: str = "suivi-standard"
    location: str = "Lyon"


@dataclass(frozen=True)
class HistoryPlan:
    trainers: tuple[TrainerSpec, ...]
    sessions: tuple[SessionSpec, ...]
    seed: int = 2026
    password: str = DEMO_PASSWORD
    extra_accounts: tuple[TrainerSpec, ...] = field(default_factory=tuple)


DEMO_TRAINERS = (
    TrainerSpec("Camille Laurent", "formatrice@demo.local"),
    TrainerSpec("Thomas Moreau", "formateur2@demo.local"),
    TrainerSpec("Nathalie Girard", "qualite@demo.local", TrainerRole.QUALITY),
)
DEMO_PLAN = HistoryPlan(trainers=DEMO_TRAINERS, sessions=(
    SessionSpec("Manager coach — Lyon (printemps)", "formatrice@demo.local", 190, location="Lyon"),
    SessionSpec("Manager coach — Paris", "formateur2@demo.local", 100, location="Paris"),
    SessionSpec("Manager coach — Nantes", "formatrice@demo.local", 40, location="Nantes"),
    SessionSpec("Manager coach — Lyon (automne)", "formatrice@demo.local", 12, location="Lyon"),
))


def with_learners(plan: HistoryPlan, learners: int) -> HistoryPlan:
    """The same sessions with ``learners`` attendees each (a quick demo, a test)."""
    return replace(plan, sessions=tuple(replace(spec, learners=learners) for spec in plan.sessions))


@dataclass(frozen=True)
class Cohort:
    """One seeded session: its id, end, and each learner's (id, persona, phone)."""

    session_id: int
    ends_at: datetime
    learners: tuple[tuple[int, str, str], ...]


def session_end(spec: SessionSpec, until: datetime) -> datetime:
    """17:30 Paris on the working day ``ended_days_ago`` before ``until``."""
    day = (until.astimezone(PARIS) - timedelta(days=spec.ended_days_ago)).date()
    while day.weekday() >= 5:
        day -= timedelta(days=1)
    return datetime.combine(day, time(17, 30), tzinfo=PARIS)


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def _personas(rng: random.Random, count: int) -> list[str]:
    names = [name for name, share in PERSONA_MIX for _ in range(round(share * count))]
    names = (names + ["assidu"] * count)[:count]
    rng.shuffle(names)
    return names


async def ensure_trainers(session: AsyncSession, specs: tuple[TrainerSpec, ...], password: str) -> dict[str, int]:
    """The accounts (argon2 hashes, made once per account); existing e-mails are kept. E-mail -> id."""
    from pwdlib import PasswordHash

    hasher = PasswordHash.recommended()
    existing = {t.email: t.id or 0 for t in (await session.exec(select(Trainer).where(
        col(Trainer.email).in_([spec.email for spec in specs])))).all()}
    for spec in specs:
        if spec.email not in existing:
            trainer = Trainer(name=spec.name, email=spec.email, role=spec.role, password_hash=hasher.hash(password))
            session.add(trainer)
            await session.flush()
            existing[spec.email] = trainer.id or 0
    return existing


async def add_cohorts(session: AsyncSession, plan: HistoryPlan, *, until: datetime,
                      phone_base: int = 610_000_000) -> list[Cohort]:
    """Trainers, past sessions, learners and attendance for ``plan``; the rows are in bulk."""
    rng = random.Random(plan.seed)
    trainer_ids = await ensure_trainers(session, plan.trainers + plan.extra_accounts, plan.password)
    trainings = [TrainingSession(title=spec.title, trainer_id=trainer_ids[spec.trainer_email], location=spec.location,
                                 starts_at=session_end(spec, until) - timedelta(days=1, hours=8),
                                 ends_at=session_end(spec, until), campaign_names=[spec.campaign])
                 for spec in plan.sessions]
    session.add_all(trainings)
    await session.flush()
    first_id = (await session.exec(select(Learner.id).order_by(col(Learner.id).desc()).limit(1))).first() or 0
    rows: list[dict[str, object]] = []
    personas: list[str] = []
    for spec in plan.sessions:
        for persona in _personas(rng, spec.learners):
            first, last = rng.choice(_FIRST), rng.choice(_LAST)
            number = phone_base + len(rows) + 1
            rows.append({"first_name": first, "last_name": last, "phone": f"+33{number}",
                         "email": _ascii(f"{first}.{last}.{len(rows) + 1}@exemple.fr"),
                         "manager_name": f"{rng.choice(_FIRST)} {rng.choice(_LAST)}",
                         "manager_email": f"manager.{len(rows) + 1}@exemple.fr", "consent_push": False})
            personas.append(persona)
    await session.exec(insert(Learner.__table__), params=rows)  # type: ignore[attr-defined]
    ids = list((await session.exec(select(Learner.id).where(col(Learner.id) > first_id)
                                   .order_by(col(Learner.id)))).all())
    cohorts, attendance, start = [], [], 0
    for spec, training in zip(plan.sessions, trainings, strict=True):
        members = tuple((ids[start + n] or 0, personas[start + n], str(rows[start + n]["phone"]))
                        for n in range(spec.learners))
        attendance += [{"session_id": training.id, "learner_id": lid} for lid, _, _ in members]
        cohorts.append(Cohort(training.id or 0, training.ends_at, members))
        start += spec.learners
    await session.exec(insert(Attendance.__table__), params=attendance)  # type: ignore[attr-defined]
    return cohorts
