"""Real arq workers, real Redis, real provider clients against the local fakes.

What the worker tests share: the fake providers (Twilio, FCM, SMTP) and a
Settings that points the real clients at them; a per-test Redis prefix and the
cleanup of exactly those keys; a worker running in this event loop with the
test's hand clock, or in a child process (to be killed); counting what each
fake received per delivery, the proof of "nothing lost, nothing twice".
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from arq import create_pool
from arq.connections import ArqRedis
from arq.worker import Worker
from redis.asyncio import Redis
from sqlalchemy import func
from sqlmodel import col, select
from starlette.requests import Request
from starlette.responses import Response

from engine.fakes.fake_fcm import FakeFcm
from engine.fakes.fake_smtp import FakeSmtp
from engine.fakes.fake_twilio import FakeTwilio
from engine.jobs import SEND_BATCH_JOB, enqueue_job, queue_name
from engine.redis_server import PrivateRedis
from engine.services.attendees import parse_attendees
from engine.services.bootstrap import build_runtime, close_runtime
from engine.services.catalog import Catalog
from engine.services.runtime import Runtime
from engine.services.scheduler import TickReport, tick
from engine.settings import PROJECT_ROOT, Settings
from engine.store.models import Attendance, Delivery, Learner, TrainingSession
from engine.worker import redis_settings, stop_worker, worker_settings

CONTENT = PROJECT_ROOT / "content"
SENDER = "+33700000001"
TCP_REDIS = "redis://127.0.0.1:6379/0"
TERMINAL = {"sent", "delivered", "read", "failed", "skipped", "expired", "cancelled"}


@dataclass
class HoldingTwilio(FakeTwilio):
    """FakeTwilio that can hang a request, before or after recording it.

    ``hold_before``: the request never reaches "Twilio" (never recorded), like a
    black-holed connection. ``hold_after``: Twilio records (accepts) the message
    but its answer never comes back. Both hang until the server stops.
    """

    hold_before: set[str] = field(default_factory=set)
    hold_after: set[str] = field(default_factory=set)
    holding: list[str] = field(default_factory=list)
    received_at: list[float] = field(default_factory=list)  # monotonic time of each accepted message

    async def _create(self, request: Request) -> Response:
        to = str((await request.form()).get("To", ""))
        if to in self.hold_before:
            self.holding.append(to)
            await asyncio.sleep(3600)
        response = await super()._create(request)
        if response.status_code == 201:
            self.received_at.append(time.monotonic())
        if to in self.hold_after:
            self.holding.append(to)
            await asyncio.sleep(3600)
        return response


@dataclass
class Providers:
    """The three fakes, their URLs, and what each received, keyed by delivery id."""

    twilio: HoldingTwilio
    fcm: FakeFcm
    smtp: FakeSmtp
    twilio_url: str
    fcm_url: str
    smtp_host: str
    smtp_port: int
    service_account: Path

    def sms(self) -> list[tuple[int, dict[str, Any]]]:
        """(delivery id, message) for every SMS Twilio accepted; the id comes from the status callback URL."""
        return [(_delivery_from_callback(m.get("status_callback")), m) for m in list(self.twilio.messages)]

    def pushes(self) -> list[tuple[int, dict[str, Any]]]:
        return [(int(p["message"]["data"]["delivery_id"]), p) for p in list(self.fcm.sent)]

    def emails(self) -> list[tuple[int, Any]]:
        return [(int(e.message["X-Ancrage-Delivery"]), e) for e in list(self.smtp.received)]

    def per_delivery(self) -> Counter[int]:
        """How many messages each delivery produced, over every provider."""
        return Counter(d for d, _ in [*self.sms(), *self.pushes(), *self.emails()])

    def total(self) -> int:
        return len(self.twilio.messages) + len(self.fcm.sent) + len(self.smtp.received)


def _delivery_from_callback(url: str | None) -> int:
    assert url, "every SMS carries its status callback (public_url is set)"
    return int(parse_qs(urlsplit(url).query)["d"][0])


def live_settings(database_url: str, redis_url: str, tmp_path: Path, providers: Providers,
                  campaigns: Path, **overrides: Any) -> Settings:
    """Live channels (no sandbox) on the fakes, a private Redis prefix, the test's database."""
    values: dict[str, Any] = {
        "DATABASE_URL": database_url, "REDIS_URL": redis_url,
        "redis_prefix": f"t{uuid.uuid4().hex[:10]}", "data_dir": tmp_path / "data",
        "campaigns_dir": campaigns, "content_dir": CONTENT, "public_url": "https://ancrage.test",
        "sandbox": False, "secret_key": "worker-harness-secret-" + "k9Zx" * 8,
        "twilio_account_sid": providers.twilio.account_sid, "twilio_auth_token": providers.twilio.auth_token,
        "twilio_from": SENDER, "twilio_api_base": providers.twilio_url, "twilio_rate_per_second": 1000.0,
        "fcm_service_account_file": providers.service_account, "fcm_api_base": providers.fcm_url,
        "smtp_host": providers.smtp_host, "smtp_port": providers.smtp_port,
        "email_from": "Ancrage <suivi@ancrage.test>",
    }
    values.update(overrides)
    return Settings(**values)


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment a child worker process reads the same settings from."""
    env = {"DATABASE_URL": settings.resolved_database_url, "REDIS_URL": settings.redis_url or ""}
    for name, value in settings.model_dump(exclude={"database_url", "redis_url"}).items():
        if value is not None:
            env[f"ANCRAGE_{name.upper()}"] = str(value)
    return env


async def delete_keys(redis_url: str, prefix: str) -> None:
    """Deletes this test's keys only: ``<prefix>:*`` and arq's ``arq:<kind>:<prefix>:*``."""
    client = Redis.from_url(redis_url)
    try:
        for pattern in (f"{prefix}:*", f"arq:*:{prefix}:*"):
            keys = [key async for key in client.scan_iter(match=pattern, count=500)]
            for start in range(0, len(keys), 500):
                await client.delete(*keys[start:start + 500])
    finally:
        await client.aclose()


def load_catalog(settings: Settings) -> Catalog:
    catalog = Catalog.load(settings.campaigns_dir, settings.content_dir)
    errors = [d.format() for d in catalog.diagnostics if d.severity == "error"]
    assert not errors, errors
    return catalog


@dataclass
class Driver:
    """The test's side of the system: a runtime (hand clock), an arq pool and the tick."""

    settings: Settings
    rt: Runtime
    pool: ArqRedis
    catalog: Catalog
    enqueued: list[str] = field(default_factory=list)

    async def enqueue(self, key: str, ids: list[int]) -> bool:
        """What the worker's own enqueue does: one send job per batch, deterministic id."""
        self.enqueued.append(key)
        return await enqueue_job(self.pool, self.settings, SEND_BATCH_JOB, ids, key=key)

    async def tick(self) -> TickReport:
        return await tick(self.rt, catalog=self.catalog, enqueue=self.enqueue)

    async def queued_jobs(self) -> int:
        return int(await self.pool.zcard(queue_name(self.settings)))

    async def unfinished(self) -> int:
        """Deliveries not yet in a terminal state."""
        async with self.rt.sessions() as session:
            statement = select(func.count()).select_from(Delivery).where(
                col(Delivery.status).not_in(TERMINAL))
            return int((await session.exec(statement)).one())

    async def deliveries(self) -> list[Delivery]:
        async with self.rt.sessions() as session:
            return list((await session.exec(select(Delivery).order_by(Delivery.id))).all())  # type: ignore[arg-type]


async def add_session_from_csv(rt: Runtime, csv: str, *, campaign: str, ends_at: datetime,
                               title: str = "Manager coach") -> list[Learner]:
    """A session ending at ``ends_at`` with the CSV's attendees (not enrolled yet: the tick does it)."""
    learners, errors = parse_attendees(csv)
    assert not errors, [e.format() for e in errors]
    async with rt.sessions() as session, session.begin():
        training = TrainingSession(title=title, starts_at=ends_at - timedelta(hours=7), ends_at=ends_at,
                                   campaign_names=[campaign])
        session.add(training)
        rows = [Learner(**learner.model_dump()) for learner in learners]
        session.add_all(rows)
        await session.flush()
        session.add_all([Attendance(session_id=training.id or 0, learner_id=row.id or 0) for row in rows])
    return rows


@asynccontextmanager
async def driver(settings: Settings, clock: Callable[[], datetime]) -> AsyncIterator[Driver]:
    pool = await create_pool(redis_settings(settings.redis_url or ""))
    rt = await build_runtime(settings, redis=pool, clock=clock)
    try:
        yield Driver(settings, rt, pool, load_catalog(settings))
    finally:
        await close_runtime(rt)
        await pool.aclose()
        await delete_keys(settings.redis_url or "", settings.redis_prefix)


@asynccontextmanager
async def running_worker(settings: Settings, clock: Callable[[], datetime] | None = None,
                         channels: dict[str, Any] | None = None, **options: Any) -> AsyncIterator[Worker]:
    """An arq worker in this event loop (its own runtime and engine; channels from settings unless given), no cron."""
    kwargs = worker_settings(settings, settings.redis_url or "", tick_every=None, clock=clock, channels=channels)
    kwargs.update(handle_signals=False, **options)
    worker = Worker(**kwargs)
    task = asyncio.create_task(worker.async_run())
    try:
        await wait_for(lambda: _started(worker, task), timeout=30, what="worker startup")
        yield worker
    finally:
        await stop_worker(worker)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def idle(worker: Worker) -> bool:
    """No job still finishing: arq records a job's result after its queue entry is gone,
    so a worker closed right after :func:`drain` may cancel that last write."""
    return not worker.tasks


async def _started(worker: Worker, task: asyncio.Task[None]) -> bool:
    if task.done():
        task.result()  # raise the startup error
    return "rt" in worker.ctx


async def drain(drv: Driver, *, timeout: float = 30.0) -> None:
    """Waits until the queue is empty: arq removes a job from it only when the job has finished."""
    async def empty() -> bool:
        return await drv.queued_jobs() == 0

    await wait_for(empty, timeout=timeout, what="queue to drain")


async def wait_for(condition: Callable[[], Awaitable[bool]], *, timeout: float, what: str,
                   every: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(every)


_CHILD = textwrap.dedent("""
    import logging
    import os
    from arq.worker import Worker
    from engine.settings import Settings
    from engine.worker import worker_settings

    logging.basicConfig(level=logging.WARNING)
    settings = Settings()
    tick = os.environ.get("ANCRAGE_TEST_TICK_EVERY")
    Worker(**worker_settings(settings, settings.redis_url, tick_every=float(tick) if tick else None)).run()
""")


class ChildWorker:
    """``arq`` worker in its own process, configured from the environment like ``ancrage worker``."""

    def __init__(self, settings: Settings, *, clock_start: datetime | None = None, max_jobs: int = 20,
                 tick_every: float | None = None, log: Path | None = None) -> None:
        env = {**os.environ, **settings_env(settings), "ANCRAGE_MAX_JOBS": str(max_jobs)}
        if tick_every is not None:  # the worker runs the cron tick itself, as in production
            env["ANCRAGE_TEST_TICK_EVERY"] = str(tick_every)
        if clock_start is not None:  # a frozen warped clock: the child sees the test's "now"
            env.update({"ANCRAGE_CLOCK_START": clock_start.astimezone(UTC).isoformat(),
                        "ANCRAGE_CLOCK_ORIGIN": repr(time.time()), "ANCRAGE_CLOCK_SPEED": "0"})
        self.log = log
        out = open(log, "wb") if log is not None else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen([sys.executable, "-c", _CHILD], env=env, cwd=PROJECT_ROOT,
                                        stdout=out, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        """SIGKILL: no shutdown hook, no chance to record anything."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        """SIGTERM: arq finishes its running jobs, then exits."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-3000:] if self.log and self.log.exists() else ""


def write_service_account(path: Path, token_uri: str) -> Path:
    from engine.fakes.fake_fcm import fake_service_account

    path.write_text(json.dumps(fake_service_account(token_uri)), encoding="utf-8")
    return path


@contextmanager
def redis_server(kind: str) -> Iterator[str]:
    """``tcp``: the shared server (tests use their own key prefix); ``private``: the embedded default."""
    if kind == "tcp":
        yield TCP_REDIS
        return
    # A short folder: Unix socket paths are limited to about 100 characters.
    with tempfile.TemporaryDirectory(prefix="anc-w-", dir="/tmp") as folder, PrivateRedis(Path(folder)) as server:
        yield server.url
