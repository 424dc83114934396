"""What the operators' commands do: sessions, CSV enrolment, running the worker and the web app."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import insert
from sqlmodel import col, select

from engine.redis_server import PrivateRedis
from engine.services.attendees import parse_attendees
from engine.services.catalog import Catalog
from engine.services.enrolment import enrol_many, late_start
from engine.settings import Settings
from engine.store.db import create_engine, session_factory
from engine.store.migrate import upgrade_async
from engine.store.models import Attendance, Learner, LearnerCreate, TrainingSession


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
                      location: str | None = None) -> int | str:
    """Creates a session; returns its id, or a message saying what is wrong."""
    catalog = Catalog.load(settings.campaigns_dir, settings.content_dir)
    unknown = [name for name in campaigns if name not in catalog.campaigns]
    if unknown:
        return f"unknown campaign(s): {', '.join(unknown)} (known: {', '.join(sorted(catalog.campaigns))})"
    async with _sessions(settings) as maker, maker() as session, session.begin():
        training = TrainingSession(title=title, starts_at=starts_at or ends_at - timedelta(hours=7),
                                   ends_at=ends_at, timezone=timezone, campaign_names=campaigns,
                                   external_id=external_id, location=location)
        session.add(training)
        await session.flush()
        return training.id or 0


async def list_sessions(settings: Settings) -> list[str]:
    async with _sessions(settings) as maker, maker() as session:
        rows = (await session.exec(select(TrainingSession).order_by(col(TrainingSession.ends_at)))).all()
    return [f"{s.id}\t{s.ends_at:%Y-%m-%d %H:%M}Z\t{','.join(s.campaign_names)}\t{s.title}" for s in rows]


@dataclass
class EnrolReport:
    errors: list[str] = field(default_factory=list)
    summary: str = ""


#: Told (phase, done, total) as an import goes, for a progress bar.
ImportProgress = Callable[[str, int, int], None]


def _consent_text(defaults: dict[str, bool]) -> str:
    chosen = [name.removeprefix("consent_") for name, given in defaults.items() if given]
    return ", ".join(chosen) if chosen else "none"


async def enrol_csv(settings: Settings, *, session_id: int, csv_text: str, campaign: str | None,
                    start: str | None = None, progress: ImportProgress | None = None) -> EnrolReport:
    """Adds a CSV's attendees to a session, all or nothing; enrols them at once if it has ended.

    A session that ended more than ``settings.late_enrolment_days`` ago is refused
    unless ``start`` says when its campaigns begin (see :func:`late_start`). Learners
    already known (same phone, else same e-mail) are reused, not duplicated; the
    work is done in bulk (a few statements per 2,000 rows).
    """
    learners, errors = parse_attendees(csv_text, region=settings.default_region,
                                       default_timezone=settings.default_timezone)
    report = EnrolReport(errors=[e.format() for e in errors])
    if errors:
        return report
    catalog = Catalog.load(settings.campaigns_dir, settings.content_dir)
    if campaign is not None and campaign not in catalog.campaigns:
        report.errors.append(f"unknown campaign '{campaign}'")
        return report
    now = datetime.now(UTC)
    consent = settings.consent_defaults
    async with _sessions(settings) as maker, maker() as session, session.begin():
        training = await session.get(TrainingSession, session_id)
        if training is None:
            report.errors.append(f"no session {session_id}")
            return report
        plan = late_start(ends_at=training.ends_at, tz=ZoneInfo(training.timezone), now=now,
                          limit_days=settings.late_enrolment_days, choice=start, forced=campaign is not None)
        if plan.refused:
            report.errors.append(plan.refused)
            return report
        rows, known = await _learners_for(session, learners, consent=consent)
        if progress is not None:
            progress("learners", len(rows), len(rows))
        added = await _attend(session, session_id=session_id, learner_ids=[row.id or 0 for row in rows], now=now)
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
                          f"known, matched by phone or e-mail); {enrolled} enrolment(s) created{already}; "
                          f"{plan.message}. Consent where the file says nothing: {_consent_text(consent)} "
                          f"(ANCRAGE_DEFAULT_CONSENT)")
    return report


async def _learners_for(session: Any, learners: list[LearnerCreate], *, consent: dict[str, bool]
                        ) -> tuple[list[Learner], int]:
    """The rows' learners: known ones (same phone, else same e-mail, not erased) or new ones, in bulk.

    A consent the file gives is applied to known learners too (a "non" must be
    honoured); where it says nothing, new learners get the organisation's default.
    """
    phones = [data.phone for data in learners if data.phone]
    emails = [data.email for data in learners if data.email]
    by_phone: dict[str, Learner] = {}
    by_email: dict[str, Learner] = {}
    for first in range(0, max(len(phones), len(emails)), _LOOKUP_BATCH):
        for row in (await session.exec(select(Learner).where(
                col(Learner.erased_at).is_(None),
                col(Learner.phone).in_(phones[first:first + _LOOKUP_BATCH])
                | col(Learner.email).in_(emails[first:first + _LOOKUP_BATCH])))).all():
            if row.phone:
                by_phone.setdefault(row.phone, row)
            if row.email:
                by_email.setdefault(row.email, row)
    rows: list[Learner] = []
    fresh: list[Learner] = []
    for data in learners:
        found = (by_phone.get(data.phone) if data.phone else None) or (
            by_email.get(data.email) if data.email else None)
        given = {name: getattr(data, name) for name in consent if name in data.model_fields_set}
        if found is None:
            found = Learner.model_validate({**data.model_dump(), **consent, **given})
            fresh.append(found)
        else:
            for name, value in given.items():
                setattr(found, name, value)
        session.add(found)
        rows.append(found)
    await session.flush()
    return rows, len(rows) - len(fresh)


_LOOKUP_BATCH = 2_000


async def _attend(session: Any, *, session_id: int, learner_ids: list[int], now: datetime) -> int:
    """Records attendance for those not yet in the session; how many were added."""
    present: set[int] = set()
    for first in range(0, len(learner_ids), _LOOKUP_BATCH):
        present.update((await session.exec(select(Attendance.learner_id).where(
            Attendance.session_id == session_id,
            col(Attendance.learner_id).in_(learner_ids[first:first + _LOOKUP_BATCH])))).all())
    missing = list(dict.fromkeys(learner_id for learner_id in learner_ids if learner_id not in present))
    if missing:
        await session.exec(insert(Attendance.__table__), params=[  # type: ignore[attr-defined]
            {"session_id": session_id, "learner_id": learner_id, "created_at": now} for learner_id in missing])
    return len(missing)


async def export_learner_data(settings: Settings, *, learner_id: int) -> dict[str, Any] | None:
    from engine.services.privacy import export_learner

    async with _sessions(settings) as maker, maker() as session:
        return await export_learner(session, learner_id=learner_id)


async def erase_learner_data(settings: Settings, *, learner_id: int) -> bool:
    from engine.services.privacy import erase_learner

    async with _sessions(settings) as maker, maker() as session, session.begin():
        return await erase_learner(session, learner_id=learner_id, now=datetime.now(UTC))


def resolve_redis(settings: Settings) -> tuple[str, PrivateRedis | None]:
    """``REDIS_URL``, or a private Redis started under the data folder."""
    if settings.redis_url:
        return settings.redis_url, None
    private = PrivateRedis(settings.data_dir / "redis")
    return private.start(), private


def run_worker(settings: Settings) -> int:
    """Runs one arq worker until interrupted."""
    from arq.worker import Worker

    from engine.store.migrate import upgrade
    from engine.worker import worker_settings

    upgrade(settings)  # migrations are applied on start, by whichever process starts first
    url, private = resolve_redis(settings)
    try:
        Worker(**worker_settings(settings.model_copy(update={"redis_url": url}), url)).run()
    finally:
        if private is not None:
            private.stop()
    return 0


def fast_http() -> dict[str, str]:
    """uvicorn options for production: the httptools parser and the uvloop event loop
    (``uvicorn[standard]``), or the pure-Python ones where they are not installed."""
    import importlib.util

    return {"http": "httptools" if importlib.util.find_spec("httptools") else "h11",
            "loop": "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"}


def run_fast(main: Coroutine[Any, Any, None]) -> None:
    """``asyncio.run`` on uvloop when it is installed (uvicorn's ``loop`` option only applies
    to a loop uvicorn creates itself; here the web app shares the loop with the worker)."""
    factory: Callable[[], asyncio.AbstractEventLoop] | None = None
    if fast_http()["loop"] == "uvloop":
        import uvloop

        factory = uvloop.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(main)


async def serve_all(settings: Settings, *, host: str, port: int, extra: list[Any] | None = None) -> None:
    """The web app and an arq worker in one event loop, stopped together."""
    import uvicorn
    from arq.worker import Worker

    from engine.worker import worker_settings
    from webhooks.app import create_app

    assert settings.redis_url is not None
    app = create_app(settings)
    if settings.sandbox:  # nothing real is sent: the sandbox phone pages are safe to show
        from webhooks import sandbox

        app.include_router(sandbox.router)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                           http=fast_http()["http"]))
    options = worker_settings(settings, settings.redis_url)
    options["handle_signals"] = False
    worker = Worker(**options)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    serving = asyncio.create_task(server.serve())
    tasks = [asyncio.create_task(worker.async_run()), *[asyncio.create_task(job) for job in (extra or [])]]
    waiter = asyncio.create_task(stop.wait())
    await asyncio.wait([waiter, serving, *tasks], return_when=asyncio.FIRST_COMPLETED)
    for task in tasks:  # extras and the worker first, so nothing talks to a closing app
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await worker.close()
    server.should_exit = True  # uvicorn finishes its requests and runs the lifespan shutdown
    try:
        await asyncio.wait_for(serving, timeout=10)
    except TimeoutError:
        serving.cancel()
    waiter.cancel()


def run_all(settings: Settings, *, host: str, port: int) -> int:
    url, private = resolve_redis(settings)
    try:
        print(f"Ancrage on http://{host}:{port} (Ctrl-C to stop)")
        run_fast(serve_all(settings.model_copy(update={"redis_url": url}), host=host, port=port))
    finally:
        if private is not None:
            private.stop()
    return 0
