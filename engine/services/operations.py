"""What the operators' commands do: sessions, CSV enrolment, a learner's data (export, erasure).

Starting the worker and the web app is the commands' own business: :mod:`engine.commands.processes`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from engine.services.attendees import add_attendees, parse_attendees
from engine.services.catalog import Catalog
from engine.services.enrolment import enrol_many, late_start
from engine.settings import Settings
from engine.store.db import create_engine, session_factory
from engine.store.migrate import upgrade_async
from engine.store.models import LearnerCreate, TrainingSession


@contextlib.asynccontextmanager
async def _sessions(settings: Settings) -> AsyncIterator[Any]:
    engine = create_engine(settings)
    try:
        await upgrade_async(engine)
        yield session_factory(engine)
    finally:
        await engine.dispose()


async def add_session(settings: Settings, *, title: str, starts_at: datetime | None, ends_at: datetime,
                      timezone: str, campaigns: list[str], external_id: str | None = None,
                      location: str | None = None, trainer_email: str | None = None) -> int | str:
    """Creates a session (led by ``trainer_email``); returns its id, or a message saying what is wrong."""
    from engine.services.accounts import find_trainer

    catalog = Catalog.load(settings.campaigns_dir, settings.content_dir)
    unknown = [name for name in campaigns if name not in catalog.campaigns]
    if unknown:
        return f"unknown campaign(s): {', '.join(unknown)} (known: {', '.join(sorted(catalog.campaigns))})"
    async with _sessions(settings) as maker, maker() as session, session.begin():
        trainer = await find_trainer(session, trainer_email) if trainer_email else None
        if trainer_email and trainer is None:
            return f"no trainer {trainer_email} (create one with `ancrage trainer add`)"
        training = TrainingSession(title=title, starts_at=starts_at or ends_at - timedelta(hours=7),
                                   ends_at=ends_at, timezone=timezone, campaign_names=campaigns,
                                   external_id=external_id, location=location,
                                   trainer_id=trainer.id if trainer else None)
        session.add(training)
        await session.flush()
        return training.id or 0


async def list_sessions(settings: Settings) -> str:
    """The sessions as a table with a header (``ancrage session list``)."""
    from engine.services.session_list import format_rows, session_rows

    async with _sessions(settings) as maker, maker() as session:
        return format_rows(await session_rows(session))


@dataclass
class EnrolReport:
    errors: list[str] = field(default_factory=list)
    summary: str = ""


#: Told (phase, done, total) as an import goes, for a progress bar.
ImportProgress = Callable[[str, int, int], None]


def _consent_text(defaults: dict[str, bool]) -> str:
    chosen = [name.removeprefix("consent_") for name, given in defaults.items() if given]
    return ", ".join(chosen) if chosen else "none"


class _Refused(Exception):
    """Ends an import's transaction with nothing written: the message is the report's error."""


async def enrol_csv(settings: Settings, *, session_id: int, csv_text: str, campaign: str | None,
                    start: str | None = None, progress: ImportProgress | None = None) -> EnrolReport:
    """Adds a CSV's attendees to a session, all or nothing; enrols them at once if it has ended.

    A session that ended more than ``settings.late_enrolment_days`` ago is refused
    unless ``start`` says when its campaigns begin (see :func:`late_start`). Learners
    already known (same phone, else same e-mail) are reused, not duplicated; the
    work is done in bulk (a few statements per 2,000 rows). The campaigns are read
    (YAML parsed and linted: tenths of a second) in a thread while the database
    takes the attendees; an unknown ``campaign`` rolls the attendees back.
    """
    learners, errors = parse_attendees(csv_text, region=settings.default_region,
                                       default_timezone=settings.default_timezone)
    report = EnrolReport(errors=[e.format() for e in errors])
    if errors:
        return report
    try:
        await _enrol_rows(settings, report, learners, session_id=session_id, campaign=campaign,
                          start=start, progress=progress)
    except _Refused as refused:
        report.errors.append(str(refused))
    return report


async def _enrol_rows(settings: Settings, report: EnrolReport, learners: list[LearnerCreate], *,
                      session_id: int, campaign: str | None, start: str | None,
                      progress: ImportProgress | None) -> None:
    now = datetime.now(UTC)
    consent = settings.consent_defaults
    async with _sessions(settings) as maker, maker() as session, session.begin():
        training = await session.get(TrainingSession, session_id)
        if training is None:
            raise _Refused(f"no session {session_id}")
        plan = late_start(ends_at=training.ends_at, tz=ZoneInfo(training.timezone), now=now,
                          limit_days=settings.late_enrolment_days, choice=start, forced=campaign is not None)
        if plan.refused:
            raise _Refused(plan.refused)
        # The campaigns are read (CPU) while this process mostly waits for the database to take the
        # attendees; started earlier, the thread would slow the connection and migration check.
        loading = asyncio.ensure_future(asyncio.to_thread(Catalog.load_cached, settings.campaigns_dir,
                                                          settings.content_dir))
        try:
            imported = await add_attendees(session, training=training, learners=learners, now=now,
                                           consent=consent)
        finally:
            await asyncio.wait([loading])  # a thread cannot be cancelled: never leave it running
        catalog = loading.result()
        if campaign is not None and campaign not in catalog.campaigns:
            raise _Refused(f"unknown campaign '{campaign}'")
        rows = [entry.learner for entry in imported]
        added = sum(1 for entry in imported if entry.joined)
        known = sum(1 for entry in imported if not entry.created)
        if progress is not None:
            progress("learners", len(rows), len(rows))
        enrolled = 0
        if plan.enrol_now:
            for name in [campaign] if campaign else list(training.campaign_names):
                def told(done: int, total: int, name: str = name) -> None:
                    if progress is not None:
                        progress(f"enrolment {name}", done, total)

                enrolled += len(await enrol_many(session, learners=rows, campaign=catalog.campaigns[name],
                                                 library=catalog.library, training=training, now=now,
                                                 anchor=plan.anchor, progress=told))
        already = "" if enrolled or not plan.enrol_now else " (every attendee was already enrolled)"
        report.summary = (f"{len(rows)} attendee(s) read, {added} added to session {session_id} ({known} already "
                          f"known, matched by external id, phone or e-mail); {enrolled} enrolment(s) created{already}; "
                          f"{plan.message}. Consent where the file says nothing: {_consent_text(consent)} "
                          f"(ANCRAGE_DEFAULT_CONSENT)")


async def export_learner_data(settings: Settings, *, learner_id: int) -> dict[str, Any] | None:
    from engine.services.privacy import export_learner

    async with _sessions(settings) as maker, maker() as session:
        return await export_learner(session, learner_id=learner_id)


async def erase_learner_data(settings: Settings, *, learner_id: int) -> bool:
    from engine.services.privacy import erase_learner

    async with _sessions(settings) as maker, maker() as session, session.begin():
        return await erase_learner(session, learner_id=learner_id, now=datetime.now(UTC))
