"""What the operators' commands do: sessions, CSV enrolment, running the worker and the web app."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import col, select

from engine.redis_server import PrivateRedis
from engine.services.attendees import parse_attendees
from engine.services.catalog import Catalog
from engine.services.enrolment import enrol
from engine.settings import Settings
from engine.store.db import create_engine, session_factory
from engine.store.migrate import upgrade_async
from engine.store.models import Attendance, Learner, TrainingSession


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


async def enrol_csv(settings: Settings, *, session_id: int, csv_text: str, campaign: str | None) -> EnrolReport:
    """Adds a CSV's attendees to a session, all or nothing; enrols them at once if it has ended."""
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
    async with _sessions(settings) as maker, maker() as session, session.begin():
        training = await session.get(TrainingSession, session_id)
        if training is None:
            report.errors.append(f"no session {session_id}")
            return report
        added = 0
        rows: list[Learner] = []
        for data in learners:
            existing = None
            if data.phone:
                existing = (await session.exec(select(Learner).where(Learner.phone == data.phone))).first()
            if existing is None and data.email:
                existing = (await session.exec(select(Learner).where(Learner.email == data.email))).first()
            learner = existing or Learner.model_validate(data.model_dump())
            session.add(learner)
            await session.flush()
            rows.append(learner)
            present = (await session.exec(select(Attendance).where(
                Attendance.session_id == session_id, Attendance.learner_id == learner.id))).first()
            if present is None:
                session.add(Attendance(session_id=session_id, learner_id=learner.id or 0,
                                       training_completion=data.training_completion))
                added += 1
            elif data.training_completion is not None:
                present.training_completion = data.training_completion
                session.add(present)
        enrolled = 0
        names = [campaign] if campaign else list(training.campaign_names)
        if training.ends_at <= now or campaign is not None:
            for name in names:
                for learner in rows:
                    _, new = await enrol(session, learner=learner, campaign=catalog.campaigns[name],
                                         library=catalog.library, training=training, now=now)
                    enrolled += int(new)
        when = "now" if enrolled else f"when the session ends ({training.ends_at:%Y-%m-%d %H:%M} UTC)"
        report.summary = (f"{len(rows)} attendee(s) read, {added} added to session {session_id}; "
                          f"{enrolled} enrolment(s) created; campaigns start {when}")
    return report


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
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))
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
        asyncio.run(serve_all(settings.model_copy(update={"redis_url": url}), host=host, port=port))
    finally:
        if private is not None:
            private.stop()
    return 0
