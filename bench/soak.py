"""Endurance run with chaos: a whole campaign, time-warped, with faults, checked at the end.

Real parts on loopback: PostgreSQL (a private database, dropped at the end), a
private Redis (restarted twice during the run), two ``ancrage worker`` processes
(one is SIGKILLed every 20-40 s and restarted), the web app under uvicorn
(httptools, uvloop), the fake Twilio / FCM / SMTP servers, with Twilio and FCM
answering 5 % of sends 500, 2 % 429 and 1 % never (``engine.fakes.faults``).
Simulated learners of every persona answer through Twilio-signed webhooks
(some posted twice); status callbacks are replayed late (out of order, twice).

Every process reads the same warped clock (``ANCRAGE_CLOCK_*``); a driver ticks
ten times a second like the demo. The speed keeps one virtual hour (the
engine's "overdue" threshold) at a quarter of a real second or more; the two
thresholds that stand for real durations (a provider call in flight, a job lost
with Redis) are kept in real seconds (:func:`scale_real_time`).

At the end the chaos stops, the system settles, and a table of invariants is
printed; the exit status is 1 if any fails:

1. every delivery due before the end is in a terminal state;
2. no delivery was accepted twice by a provider (counted at the fakes);
3. every inbound event was processed exactly once (one row per provider id,
   none left unprocessed, at most one reply per event);
4. no question is left open past its expiry;
5. every graded answer has its feedback message;
6. per learner, the campaign's messages went out in the campaign's order.

usage: .venv/bin/python bench/soak.py [--learners 2000] [--days 92] [--speed 14400]
       (short, as in tests/soak: --learners 100 --days 7 --settle 25)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
AUTH_TOKEN = "soak-auth-token"
ACCOUNT_SID = "AC" + "1" * 32
SENDER = "+33700000009"
TERMINAL = ("sent", "delivered", "read", "failed", "skipped", "expired", "cancelled")


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class Stack:
    """The processes and servers of one run, and what the chaos did to them."""

    env: dict[str, str]
    work: Path
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    web: subprocess.Popen[bytes] | None = None
    kills: int = 0
    redis_restarts: int = 0

    def start_worker(self, index: int) -> subprocess.Popen[bytes]:
        log = open(self.work / f"worker{index}.log", "ab")  # noqa: SIM115
        return subprocess.Popen([sys.executable, "-c", _WORKER], env=self.env, cwd=ROOT,
                                stdout=log, stderr=subprocess.STDOUT)


    def ensure_workers(self) -> None:
        while len(self.workers) < 2:
            self.workers.append(self.start_worker(len(self.workers)))
        for index, process in enumerate(self.workers):
            if process.poll() is not None:  # died on its own (Redis gone): restart it, as systemd would
                self.workers[index] = self.start_worker(index)

    def kill_one(self, rng: random.Random) -> None:
        index = rng.randrange(len(self.workers))
        self.workers[index].send_signal(signal.SIGKILL)
        self.workers[index].wait(timeout=10)
        self.kills += 1
        self.workers[index] = self.start_worker(index)

    def stop(self) -> None:
        for process in [*self.workers, *([self.web] if self.web else [])]:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in [*self.workers, *([self.web] if self.web else [])]:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()


#: ``ancrage worker``, with the thresholds that stand for real durations scaled to the warp (see
#: :func:`scale_real_time`).
_WORKER = """
import os, sys
sys.path.insert(0, os.path.join(os.getcwd(), "bench"))
from soak import scale_real_time
scale_real_time(float(os.environ["ANCRAGE_CLOCK_SPEED"]))
from engine.cli import main
sys.exit(main(["worker"]))
"""


def scale_real_time(speed: float) -> None:
    """Thresholds that stand for real durations, kept real under the warp.

    ``recovery.STALE_AFTER`` (5 minutes) means "longer than any provider call
    (15 s timeout) could last": at x14,400 five clock minutes are 21 real
    milliseconds, and every call in flight would look stale. It becomes 20 real
    seconds; ``scheduler.REQUEUE_AFTER`` (a job lost with Redis) 5 real seconds.
    ``catchup.LATE_AFTER`` (1 hour: "a busy queue, not a late message") stood
    for a quarter of a real second: one slow tick on the loaded shared cores
    (several seconds were seen) made the messages due meanwhile "overdue",
    spread to another day, and sent after later steps. It becomes 5 real
    seconds (never less than the hour).
    """
    from engine.core import catchup
    from engine.services import recovery, scheduler

    recovery.STALE_AFTER = timedelta(seconds=20 * speed)
    scheduler.REQUEUE_AFTER = timedelta(seconds=5 * speed)
    catchup.LATE_AFTER = max(catchup.LATE_AFTER, timedelta(seconds=5 * speed))


def sign(url: str, params: dict[str, str]) -> str:
    from twilio.request_validator import RequestValidator

    return str(RequestValidator(AUTH_TOKEN).compute_signature(url, params))


async def admin(statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(f"{PG_SERVER}/postgres")
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def seed(rt: Any, *, learners: int, ends_at: datetime) -> dict[int, tuple[str, str]]:
    """One session that has just ended, ``learners`` attendees (5 % on push only); persona and phone of the rest."""
    from engine.core.personas import PERSONAS
    from engine.store.migrate import upgrade_async
    from engine.store.models import Attendance, Learner, PushToken, TrainingSession

    await upgrade_async(rt.engine)
    names = sorted(PERSONAS)
    simulated: dict[int, tuple[str, str]] = {}
    async with rt.sessions() as session, session.begin():
        training = TrainingSession(title="Manager coach — soak", starts_at=ends_at - timedelta(hours=7),
                                   ends_at=ends_at, campaign_names=["suivi-standard"])
        session.add(training)
        await session.flush()
        rows = []
        for n in range(learners):
            push_only = n % 20 == 19
            rows.append(Learner(first_name=f"Apprenant{n}", last_name="Soak", phone=f"+3361{n:07d}",
                                email=f"a{n}@example.fr", consent_sms=not push_only, consent_whatsapp=False,
                                consent_push=push_only, manager_email="chef@example.fr"))
        session.add_all(rows)
        await session.flush()
        for n, learner in enumerate(rows):
            session.add(Attendance(session_id=training.id or 0, learner_id=learner.id or 0))
            if learner.consent_push:
                session.add(PushToken(learner_id=learner.id or 0, token=f"tok-{n}", platform="android"))
            else:
                simulated[learner.id or 0] = (names[n % len(names)], learner.phone or "")
    return simulated


async def ticker(rt: Any, settings: Any, stop: asyncio.Event) -> None:
    """The tick ten times a real second (the workers' own one-second cron runs as well)."""
    from arq import create_pool

    from engine.services.catalog import Catalog
    from engine.services.scheduler import tick
    from engine.worker import job_id, queue_name, redis_settings

    catalog = Catalog.load(settings.campaigns_dir, settings.content_dir)
    pool = None
    errors: Counter[str] = Counter()
    while not stop.is_set():
        try:
            if pool is None:
                pool = await create_pool(redis_settings(settings.redis_url), retry=0)

            async def enqueue(key: str, ids: list[int], pool: Any = pool) -> bool:
                job = await pool.enqueue_job("send_batch_job", ids, _job_id=job_id(settings, key),
                                             _queue_name=queue_name(settings))
                return job is not None

            await tick(rt, catalog=catalog, enqueue=enqueue)
        except Exception as exc:
            errors[type(exc).__name__] += 1
            if errors[type(exc).__name__] == 1:
                print(f"tick failed: {type(exc).__name__}: {str(exc)[:200]}", flush=True)
            if pool is not None:
                await pool.aclose()
            pool = None
            await asyncio.sleep(0.3)
        await asyncio.sleep(0.1)
    if pool is not None:
        await pool.aclose()


def learners_class() -> Any:
    from engine.demo.learners import SimulatedLearners, _Pending

    @dataclass
    class ChaoticLearners(SimulatedLearners):
        """Demo learners that also post some answers twice (a provider retry) and retry on errors."""

        rng: random.Random = field(default_factory=lambda: random.Random(7))
        duplicates: int = 0
        sids: set[str] = field(default_factory=set)

        async def _post(self, client: Any, item: _Pending) -> None:
            params = {"MessageSid": getattr(item, "sid", None) or "SM" + secrets.token_hex(16),
                      "AccountSid": ACCOUNT_SID, "From": item.phone, "To": SENDER, "Body": item.text,
                      "NumMedia": "0", "SmsStatus": "received", "ApiVersion": "2010-04-01"}
            item.sid = params["MessageSid"]  # type: ignore[attr-defined]
            headers = {"X-Twilio-Signature": sign(self.webhook_url, params)}
            try:
                response = await client.post(self.webhook_url, data=params, headers=headers)
                ok = response.status_code < 300
            except Exception:
                ok = False
            if not ok:
                self.pending.append(item)  # Twilio retries a failed webhook with the same MessageSid
                return
            self.posted += 1
            self.sids.add(params["MessageSid"])
            if self.rng.random() < 0.05:
                self.duplicates += 1
                with contextlib.suppress(Exception):
                    await client.post(self.webhook_url, data=params, headers=headers)

    return ChaoticLearners


async def chaos(stack: Stack, redis: Any, *, seconds: float, stop: asyncio.Event) -> None:
    """SIGKILL a worker every 20-40 s (and restart it); restart Redis at a third and two thirds of the run."""
    rng = random.Random(5)
    started = time.monotonic()
    next_kill = started + rng.uniform(20, 40)
    redis_at = [started + seconds / 3, started + 2 * seconds / 3]
    while not stop.is_set():
        now = time.monotonic()
        if now >= next_kill:
            stack.kill_one(rng)
            next_kill = now + rng.uniform(20, 40)
        if redis_at and now >= redis_at[0]:
            redis_at.pop(0)
            redis.stop()
            await asyncio.sleep(1.0)
            redis.start()
            stack.redis_restarts += 1
        stack.ensure_workers()
        await asyncio.sleep(0.2)


async def check(rt: Any, providers: dict[str, Any], *, end: datetime, sids: set[str]) -> list[Check]:
    from sqlalchemy import text

    results: list[Check] = []
    async with rt.sessions() as session:
        async def rows(sql: str, **params: Any) -> list[Any]:
            return list((await session.exec(text(sql), params=params)).all())

        total = (await rows("SELECT count(*) FROM delivery"))[0][0]
        open_rows = await rows("SELECT status, count(*) FROM delivery WHERE due_at <= :end AND status NOT IN "
                               "('sent','delivered','read','failed','skipped','expired','cancelled') "
                               "GROUP BY status", end=end)
        statuses = dict(await rows("SELECT status, count(*) FROM delivery GROUP BY status"))
        results.append(Check("every delivery due is terminal", not open_rows,
                             f"{total} deliveries {statuses}; not terminal: {dict(open_rows) or 'none'}"))
        twice = {d: n for d, n in providers["per_delivery"].items() if n > 1}
        results.append(Check("no delivery accepted twice", not twice,
                             f"{sum(providers['per_delivery'].values())} accepted by providers "
                             f"({providers['counts']}); twice or more: {dict(list(twice.items())[:5]) or 'none'}"))
        events = await rows("SELECT provider_id, status FROM inbound_event WHERE provider = 'twilio'")
        by_sid = Counter(sid for sid, _ in events)
        missing = sids - set(by_sid)
        unprocessed = [sid for sid, status in events if status == "received"]
        double_reply = await rows("SELECT inbound_event_id, count(*) FROM reply WHERE inbound_event_id IS NOT "
                                  "NULL GROUP BY inbound_event_id HAVING count(*) > 1")
        event_statuses = Counter(status for _, status in events)
        results.append(Check("every inbound event processed exactly once",
                             not missing and not unprocessed and not double_reply and max(by_sid.values(), default=1) == 1,
                             f"{len(sids)} answers posted, {len(events)} events {dict(event_statuses)}; "
                             f"lost {len(missing)}, unprocessed {len(unprocessed)}, with 2+ replies {len(double_reply)}"))
        stale = await rows("SELECT count(*) FROM prompt WHERE status = 'open' AND expires_at < :limit",
                           limit=min(end, rt.now()) - timedelta(hours=2))
        prompts = dict(await rows("SELECT status, count(*) FROM prompt GROUP BY status"))
        results.append(Check("no question open past its expiry", stale[0][0] == 0,
                             f"prompts {prompts}; open past expiry (2 h grace): {stale[0][0]}"))
        graded = await rows("SELECT count(*) FROM reply WHERE correct IS NOT NULL")
        orphan = await rows("SELECT r.id, r.inbound_event_id FROM reply r WHERE r.correct IS NOT NULL AND NOT EXISTS "
                            "(SELECT 1 FROM delivery d WHERE d.origin = 'feedback' AND d.enrollment_id = r.enrollment_id"
                            " AND d.occurrence = r.inbound_event_id)")
        results.append(Check("every graded answer has its feedback", not orphan,
                             f"{graded[0][0]} graded answers; without feedback: {len(orphan)}"
                             + (f" (reply ids {[r[0] for r in orphan[:5]]})" if orphan else "")))
        sent = await rows("SELECT enrollment_id, id, due_at, sent_at FROM delivery WHERE origin = 'plan' "
                          "AND recipient = 'learner' AND sent_at IS NOT NULL ORDER BY enrollment_id, sent_at, id")
        disorder = 0
        last: dict[int, datetime] = {}
        for enrollment_id, _, due_at, _ in sent:
            if enrollment_id in last and due_at < last[enrollment_id]:
                disorder += 1
            last[enrollment_id] = max(due_at, last.get(enrollment_id, due_at))
        results.append(Check("per-learner order respects the campaign", disorder == 0,
                             f"{len(sent)} planned learner messages sent; sent before an earlier step: {disorder}"))
    return results


class Providers:
    """The fake Twilio, FCM and SMTP servers in their own process (``bench/soak_fakes.py``)."""

    def __init__(self, work: Path, env: dict[str, str]) -> None:
        self.out = work / "providers.json"
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "soak_fakes.py"), "--account-sid", ACCOUNT_SID,
             "--auth-token", AUTH_TOKEN, "--out", str(self.out)], env=env, cwd=ROOT, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=open(work / "fakes.log", "wb"))  # noqa: SIM115
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the fakes did not start (see {work / 'fakes.log'})")
        self.urls = json.loads(line)

    def quiet(self) -> None:
        """No more replayed status callbacks."""
        assert self.process.stdin is not None
        self.process.stdin.write(b"quiet\n")
        self.process.stdin.flush()

    def summary(self) -> dict[str, Any]:
        """Stops the servers and returns what they saw."""
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            self.process.wait(timeout=30)
        data: dict[str, Any] = json.loads(self.out.read_text(encoding="utf-8"))
        data["per_delivery"] = {int(k): v for k, v in data["per_delivery"].items()}
        return data

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


async def run(args: argparse.Namespace) -> int:

    from engine.clock import WarpedClock
    from engine.core.personas import PERSONAS
    from engine.fakes.fake_fcm import fake_service_account
    from engine.fakes.server import free_port
    from engine.redis_server import PrivateRedis
    from engine.services.bootstrap import build_runtime, close_runtime
    from engine.settings import Settings

    scale_real_time(args.speed)
    database = f"ancrage_soak_{os.getpid()}"
    await admin(f"CREATE DATABASE {database}")
    real_seconds = args.days * 86400 / args.speed
    stop = asyncio.Event()
    started = time.monotonic()
    code = 1
    # A Tuesday, 17:30 in Paris: the hot survey goes out the same evening and the D+7 quiz on the
    # next Tuesday (a Friday session's quiz fell on Easter Monday and went out on day 11).
    session_end = datetime(2026, 3, 24, 16, 30, tzinfo=UTC)
    clock = WarpedClock(start=session_end - timedelta(minutes=10), origin=time.time() + 8.0, speed=args.speed)
    os.environ.update(clock.as_env())
    with tempfile.TemporaryDirectory(prefix="anc-soak-", dir="/tmp") as folder:
        work = Path(folder)
        providers = Providers(work, {**os.environ, "PYTHONPATH": str(ROOT)})
        twilio_url, fcm_url = providers.urls["twilio"], providers.urls["fcm"]
        smtp_host, smtp_port = providers.urls["smtp"]
        account = work / "fcm.json"
        account.write_text(json.dumps(fake_service_account(f"{fcm_url}/token")), encoding="utf-8")
        redis = PrivateRedis(work / "r")
        redis_url = redis.start()
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        settings = Settings(
            database_url=f"{PG_SERVER}/{database}", redis_url=redis_url, redis_prefix="soak", data_dir=work,
            campaigns_dir=ROOT / "campaigns", content_dir=ROOT / "content", public_url=base, sandbox=False,
            twilio_account_sid=ACCOUNT_SID, twilio_auth_token=AUTH_TOKEN, twilio_from=SENDER,
            twilio_api_base=twilio_url, twilio_rate_per_second=1000.0, fcm_service_account_file=account,
            fcm_api_base=fcm_url, smtp_host=smtp_host, smtp_port=smtp_port, email_from="Ancrage <suivi@soak.test>",
            secret_key=secrets.token_urlsafe(32))
        env = {**os.environ, "PYTHONPATH": str(ROOT), "DATABASE_URL": settings.resolved_database_url,
               "REDIS_URL": redis_url, **clock.as_env()}
        for name, value in settings.model_dump(exclude={"database_url", "redis_url"}).items():
            if value is not None:
                env[f"ANCRAGE_{name.upper()}"] = str(value)
        stack = Stack(env=env, work=work)
        rt = await build_runtime(settings, clock=clock)
        try:
            simulated = await seed(rt, learners=args.learners, ends_at=session_end)
            stack.web = subprocess.Popen(
                [sys.executable, "-m", "uvicorn", "--factory", "webhooks.asgi:app", "--host", "127.0.0.1",
                 "--port", str(port), "--http", "httptools", "--loop", "uvloop", "--no-access-log",
                 "--log-level", "warning"], env=env, cwd=ROOT, stdout=open(work / "web.log", "wb"),  # noqa: SIM115
                stderr=subprocess.STDOUT)
            stack.ensure_workers()
            learners = learners_class()(rt, clock, f"{base}/webhooks/twilio/sms", AUTH_TOKEN,
                                        {lid: (PERSONAS[p], phone) for lid, (p, phone) in simulated.items()})
            print(f"soak: {args.learners} learners, {args.days} virtual days at x{args.speed:.0f} "
                  f"(~{real_seconds:.0f} s), 2 workers, PostgreSQL {database}, private Redis", flush=True)
            tasks = [asyncio.create_task(job) for job in (
                learners.run(), ticker(rt, settings, stop), chaos(stack, redis, seconds=real_seconds, stop=stop))]
            end = clock.start + timedelta(days=args.days)
            while clock() < end:
                await asyncio.sleep(1.0)
                for task in tasks:
                    if task.done() and task.exception() is not None:
                        raise task.exception()  # type: ignore[misc]
            stop.set()
            providers.quiet()
            tasks[0].cancel()  # the learners stop answering; what they posted must still be processed
            print(f"chaos over at {time.monotonic() - started:.0f} s: {stack.kills} worker kills, "
                  f"{stack.redis_restarts} Redis restarts; settling", flush=True)
            stack.ensure_workers()
            settle = asyncio.create_task(ticker(rt, settings, asyncio.Event()))
            deadline = time.monotonic() + args.settle
            left = -1
            from sqlalchemy import text
            while time.monotonic() < deadline:
                async with rt.sessions() as session:
                    left = (await session.exec(text(  # type: ignore[call-overload]
                        "SELECT (SELECT count(*) FROM delivery WHERE due_at <= :end AND status NOT IN "
                        "('sent','delivered','read','failed','skipped','expired','cancelled'))"
                        " + (SELECT count(*) FROM inbound_event WHERE status = 'received')"),
                        params={"end": end})).one()[0]
                if left == 0:
                    break
                await asyncio.sleep(1.0)
            settled = args.settle - (deadline - time.monotonic())
            print(f"settled in {settled:.0f} s" if left == 0 else f"not settled after {args.settle:.0f} s", flush=True)
            await asyncio.sleep(2.0)  # late callbacks in flight
            settle.cancel()
            for task in tasks:
                task.cancel()
            await asyncio.gather(settle, *tasks, return_exceptions=True)
            seen = providers.summary()
            results = await check(rt, seen, end=end, sids=learners.sids)
            width = max(len(r.name) for r in results)
            print(f"\n{'invariant':<{width}}  result  detail")
            for r in results:
                print(f"{r.name:<{width}}  {'ok' if r.ok else 'FAIL':<6}  {r.detail}")
            print(f"\nreplies posted {learners.posted} (+{learners.duplicates} duplicates), status callbacks "
                  f"{seen['callbacks_total']} {seen['callbacks']} (+{seen['replayed']} replayed), {stack.kills} worker kills, "
                  f"{stack.redis_restarts} Redis restarts, {time.monotonic() - started:.0f} s real")
            code = 0 if all(r.ok for r in results) else 1
            if args.json:
                Path(args.json).write_text(json.dumps({r.name: {"ok": r.ok, "detail": r.detail} for r in results},
                                                      ensure_ascii=False, indent=1), encoding="utf-8")
        finally:
            stop.set()
            stack.stop()
            providers.stop()
            logs = Path(tempfile.gettempdir()) / "anc-soak-logs"
            logs.mkdir(exist_ok=True)
            for log in work.glob("*.log"):
                log.replace(logs / log.name)
            await close_runtime(rt)
            redis.stop()
            if args.keep:
                print(f"database kept: {PG_SERVER}/{database}")
            else:
                await admin(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Endurance run with chaos (see the module docstring).")
    parser.add_argument("--learners", type=int, default=2000)
    parser.add_argument("--days", type=float, default=92.0, help="virtual days to play")
    parser.add_argument("--speed", type=float, default=14_400.0, help="virtual seconds per real second")
    parser.add_argument("--settle", type=float, default=60.0, help="real seconds allowed to settle after the chaos")
    parser.add_argument("--json", help="also write the invariants' results to this file")
    parser.add_argument("--keep", action="store_true", help="keep the database (to look into a failure)")
    return asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
