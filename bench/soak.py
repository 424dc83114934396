"""Endurance run with chaos: a whole campaign, time-warped, with faults, checked at the end.

Real parts on loopback: PostgreSQL (a private database, dropped at the end), a
private Redis (restarted twice during the run), two ``ancrage worker`` processes
(one is SIGKILLed every 20-40 s and restarted), the web app under uvicorn
(httptools, uvloop), the fake Twilio / FCM / SMTP servers, with Twilio and FCM
answering 5 % of sends 500, 2 % 429 and 1 % never (``engine.fakes.faults``).
Simulated learners of every persona answer through Twilio-signed webhooks
(some posted twice); status callbacks are replayed late (out of order, twice).

Every process reads the same warped clock, from one file (``bench/soak_clock.py``):
the driver slows it while the engine lags behind (:class:`Pacer`), within a
real-time budget (``--slack``), so a run on loaded cores still plays the campaign
the engine can keep up with, and always ends. A driver ticks about three times a
second besides the workers' cron. The thresholds that stand for real durations
(a provider call in flight, a job lost with Redis, the busy-queue grace) are kept
in real seconds at the clock's current speed (:func:`scale_real_time`). The
shared PostgreSQL has autovacuum off: the driver runs ``ANALYZE`` (:func:`analyzer`).

At the end the chaos stops, the system settles, and a table of invariants is
printed; the exit status is 1 if any fails:

1. every delivery due before the end is in a terminal state;
2. no delivery was accepted twice by a provider (counted at the fakes);
3. every inbound event was processed exactly once (one row per provider id,
   none left unprocessed, at most one reply per event);
4. no question is left open past its expiry;
5. every graded answer has its feedback message;
6. per learner, the campaign's messages went out in the campaign's order (beyond
   the busy-queue grace, see :func:`check`).

Each invariant counts the items it checked; one that checked nothing fails.

usage: .venv/bin/python bench/soak.py [--learners 2000] [--days 92] [--speed 14400] [--slack 2.5]
       (short, as in tests/soak: --learners 200 --days 11 --settle 120 --slack 2.0)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
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
sys.path.insert(0, str(ROOT / "bench"))
from soak_clock import ENV, SharedClock  # noqa: E402

from engine.clock import WarpedClock  # noqa: E402

PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
AUTH_TOKEN = "soak-auth-token"
ACCOUNT_SID = "AC" + "1" * 32
SENDER = "+33700000009"
#: Twilio calls in flight per worker: a slot for every delivery its jobs (arq's 20 at once, a
#: batch of 100 each, a wave being a whole batch at this rate) mark ``sending``. With the default
#: 10 slots, up to 2,000 marked sends queued for them; on the loaded cores that wait outlasted
#: the stale threshold, recovery took them for a dead worker's, looked each one up at the
#: provider in turn (1-2 s each) and a full run stalled. Fewer jobs instead: a batch whose one
#: call gets the timeout fault holds its job 15 s, and 4 jobs a worker queued the rest 25 s.
SEND_CONCURRENCY = 2000
TERMINAL = ("sent", "delivered", "read", "failed", "skipped", "expired", "cancelled")


@dataclass
class Check:
    """One invariant: held, what was found, and how many items it looked at (none: it fails, as
    an invariant checked on nothing proves nothing)."""

    name: str
    ok: bool
    detail: str
    checked: int

    def __post_init__(self) -> None:
        if self.checked <= 0:
            self.ok = False
            self.detail = f"nothing to check; {self.detail}"


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


#: The web app under uvicorn (httptools, uvloop), reading the run's shared clock.
_WEB = """
import os, sys
sys.path.insert(0, os.path.join(os.getcwd(), "bench"))
from soak import scale_real_time
from soak_clock import install
install(scale_real_time)
import uvicorn
uvicorn.run("webhooks.asgi:app", factory=True, host="127.0.0.1", port=int(sys.argv[1]), http="httptools",
            loop="uvloop", access_log=False, log_level="warning")
"""

#: ``ancrage worker``, with the thresholds that stand for real durations scaled to the warp (see
#: :func:`scale_real_time`).
_WORKER = """
import os, sys
sys.path.insert(0, os.path.join(os.getcwd(), "bench"))
from soak import scale_real_time
from soak_clock import install
install(scale_real_time)
from engine.cli import main
sys.exit(main(["worker"]))
"""


def scale_real_time(span: Any) -> None:
    """Thresholds that stand for real durations, kept real under the warp.

    ``recovery.STALE_AFTER`` (5 minutes) means "longer than any provider call
    (15 s timeout) could last": at x14,400 five clock minutes are 21 real
    milliseconds, and every call in flight would look stale. It becomes 60 real
    seconds: the longest call the fakes make (the timeout fault holds a request
    for the client's whole 15 s timeout, and firebase-admin retries a timed-out
    push once after a backoff: over 30 s), plus the wait for one of
    :data:`SEND_CONCURRENCY` slots on loaded cores. (At 30 s a full run failed 226
    pushes "outcome unknown"; at 60 s the next still failed 311: most are sends cut
    by a kill, which a channel with no look-up never resends.) ``scheduler.REQUEUE_AFTER`` (a job lost with Redis) 15
    real seconds (at 5, rows merely waiting behind a burst, up to ``MAX_QUEUED``,
    were taken for lost and enqueued again). Each lasts what that many real seconds
    lasted on the shared clock (``soak_clock``).
    ``catchup.LATE_AFTER`` (1 hour: "a busy queue, not a late message") stood
    for a quarter of a real second: one slow tick on the loaded shared cores
    (several seconds were seen) made the messages due meanwhile "overdue",
    spread to another day, and sent after later steps. It becomes 5 real
    seconds (never less than the hour). ``dispatch.AMBIGUOUS_SETTLE`` (2 minutes:
    the provider has answered the request we gave up on) would be 8 real
    milliseconds: the retry after a timeout looked Twilio up before the fake had
    created the late message, found nothing and sent a second copy. It becomes 30
    real seconds, as ``STALE_AFTER``. So does ``inbound.SWEEP_AFTER`` (30 s: a reply
    whose job was lost): two real milliseconds re-enqueued every reply still waiting
    in the queue at each tick, 70 % of the inbound jobs a run did, and the queue they
    filled kept the workers' own ticks waiting five minutes.

    ``span``: the shared clock's :meth:`~soak_clock.SharedClock.span` (the virtual
    length of the last so many real seconds, whatever the speed did meanwhile), or
    a fixed speed (the driver's first call).
    """
    from engine.core import catchup
    from engine.services import dispatch, inbound, recovery, scheduler

    real = span if callable(span) else (lambda seconds: seconds * span)
    recovery.STALE_AFTER = timedelta(seconds=real(60))
    inbound.SWEEP_AFTER = timedelta(seconds=real(30))
    dispatch.AMBIGUOUS_SETTLE = timedelta(seconds=real(30))
    scheduler.REQUEUE_AFTER = timedelta(seconds=real(15))
    catchup.LATE_AFTER = max(timedelta(hours=1), timedelta(seconds=real(5)))


def late_after(speed: float) -> timedelta:
    """The overdue threshold at this speed: five real seconds, never less than the hour."""
    return max(timedelta(hours=1), timedelta(seconds=5 * speed))


def sign(url: str, params: dict[str, str]) -> str:
    from twilio.request_validator import RequestValidator

    return str(RequestValidator(AUTH_TOKEN).compute_signature(url, params))


async def admin(statement: str, *, database: str = "postgres") -> None:
    import asyncpg

    conn = await asyncpg.connect(f"{PG_SERVER}/{database}")
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


#: Which tables autovacuum would vacuum, and which it would only analyze, with its default
#: thresholds (``autovacuum_vacuum_threshold`` 50 + ``_scale_factor`` 0.2 of the live rows;
#: ``autovacuum_analyze_threshold`` 50 + ``_scale_factor`` 0.1 of them, changed since).
AUTOVACUUM_DUE = """
SELECT relname, n_dead_tup > 50 + 0.2 * n_live_tup AS vacuum
FROM pg_stat_user_tables
WHERE n_dead_tup > 50 + 0.2 * n_live_tup OR n_mod_since_analyze > 50 + 0.1 * n_live_tup
"""


async def analyzer(database: str, stop: asyncio.Event, every: float = 5.0) -> None:
    """``VACUUM (ANALYZE)`` or ``ANALYZE`` the tables autovacuum would take, every few seconds.

    The shared PostgreSQL runs with ``autovacuum = off``; a deployed one has it on. Without
    statistics the planner takes the 54,000 deliveries planned at the first tick for an empty
    table, and the catch-up query (a nested loop over every enrolment) took 45 s a tick; the
    first full run stalled on it (165 messages sent in 10 minutes). Analyzing was not enough:
    unvacuumed, the full run's ``delivery`` table ended with 939,000 dead row versions for
    87,000 rows (every status change leaves one, and one in each index on ``status``), and a
    claim read some 30,000 pages to find 40 due rows (236 ms, more than the whole send).
    """
    import asyncpg

    while not stop.is_set():
        with contextlib.suppress(Exception):
            conn = await asyncpg.connect(f"{PG_SERVER}/{database}")
            try:
                for table, vacuum in await conn.fetch(AUTOVACUUM_DUE):
                    await conn.execute(f'{"VACUUM (ANALYZE)" if vacuum else "ANALYZE"} "{table}"')
            finally:
                await conn.close()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stop.wait(), every)


async def ticker(rt: Any, settings: Any, stop: asyncio.Event, clock: SharedClock) -> None:
    """The tick about three times a real second at the nominal speed, less often while the clock
    is slowed (the same virtual resolution); the workers' own one-second cron runs as well. Ten a
    second took CPU the workers needed on the loaded cores, and a lagging engine gains nothing
    from more ticks."""
    from arq import create_pool

    from engine.jobs import job_id, queue_name
    from engine.services.catalog import Catalog
    from engine.services.scheduler import tick
    from engine.worker import redis_settings

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
        await asyncio.sleep(min(1.0, 0.3 * clock.nominal / clock.speed()))
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
        looked: datetime | None = None

        async def _discover(self, replies: dict[int, Any]) -> None:
            """The demo's look-up, for the prompts opened lately only.

            The demo reads every open prompt of its learners five times a real second;
            with 2,000 learners (an ``IN`` of 1,900 ids, up to 2,000 rows each time) that
            was a large share of the driver's CPU on the loaded cores, taken from the
            ticks. A prompt is opened (``opened_at``, virtual) when it is marked sending,
            and committed within seconds: two days' margin (12 real s at x14,400) miss none.
            """
            from sqlalchemy import or_
            from sqlmodel import col, select

            from engine.store.models import Prompt

            now = self.clock()
            since, self.looked = (self.looked or now) - timedelta(days=2), now
            async with self.rt.sessions() as session:
                # And those seen before their message reached the learner (a retry can take days).
                prompts = (await session.exec(select(Prompt).where(
                    or_(col(Prompt.opened_at) >= since, col(Prompt.id).in_(list(self.waiting))),
                    Prompt.status == "open"))).all()
                self.waiting &= {prompt.id for prompt in prompts}  # closed meanwhile: forgotten
                await self._plan(session, prompts, replies)

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


async def chaos(stack: Stack, redis: Any, clock: Any, *, end: datetime, stop: asyncio.Event) -> None:
    """SIGKILL a worker every 20-40 s (and restart it); restart Redis at a third and two thirds of the
    virtual run."""
    rng = random.Random(5)
    started = time.monotonic()
    next_kill = started + rng.uniform(20, 40)
    redis_at = [clock.start + (end - clock.start) / 3, clock.start + 2 * (end - clock.start) / 3]
    while not stop.is_set():
        now = time.monotonic()
        if now >= next_kill:
            stack.kill_one(rng)
            next_kill = now + rng.uniform(20, 40)
        if redis_at and clock() >= redis_at[0]:
            redis_at.pop(0)
            redis.stop()
            await asyncio.sleep(1.0)
            redis.start()
            stack.redis_restarts += 1
        stack.ensure_workers()
        await asyncio.sleep(0.2)


async def check(rt: Any, providers: dict[str, Any], *, end: datetime, sids: set[str],
                grace: timedelta) -> list[Check]:
    from sqlalchemy import text

    results: list[Check] = []
    async with rt.sessions() as session:
        async def rows(sql: str, **params: Any) -> list[Any]:
            return list((await session.exec(text(sql), params=params)).all())

        total = (await rows("SELECT count(*) FROM delivery"))[0][0]
        due = (await rows("SELECT count(*) FROM delivery WHERE due_at <= :end", end=end))[0][0]
        open_rows = await rows("SELECT status, count(*) FROM delivery WHERE due_at <= :end AND status NOT IN "
                               "('sent','delivered','read','failed','skipped','expired','cancelled') "
                               "GROUP BY status", end=end)
        statuses = dict(await rows("SELECT status, count(*) FROM delivery GROUP BY status"))
        results.append(Check("every delivery due is terminal", not open_rows,
                             f"{total} deliveries {statuses}; not terminal: {dict(open_rows) or 'none'}", due))
        twice = {d: n for d, n in providers["per_delivery"].items() if n > 1}
        results.append(Check("no delivery accepted twice", not twice,
                             f"{sum(providers['per_delivery'].values())} accepted by providers "
                             f"({providers['counts']}); twice or more: {dict(list(twice.items())[:5]) or 'none'}"
                             + (f"; SMS copies: {dict(list(providers.get('sms_twice', {}).items())[:3])}"
                                if twice else ""),
                             sum(providers["per_delivery"].values())))
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
                             f"lost {len(missing)}, unprocessed {len(unprocessed)}, with 2+ replies {len(double_reply)}",
                             len(sids)))
        limit = min(end, rt.now()) - timedelta(hours=2)
        stale = await rows("SELECT count(*) FROM prompt WHERE status = 'open' AND expires_at < :limit", limit=limit)
        past = (await rows("SELECT count(*) FROM prompt WHERE expires_at < :limit", limit=limit))[0][0]
        prompts = dict(await rows("SELECT status, count(*) FROM prompt GROUP BY status"))
        results.append(Check("no question open past its expiry", stale[0][0] == 0,
                             f"prompts {prompts}; {past} past their expiry, still open (2 h grace): {stale[0][0]}", past))
        graded = await rows("SELECT count(*) FROM reply WHERE correct IS NOT NULL")
        orphan = await rows("SELECT r.id, r.inbound_event_id FROM reply r WHERE r.correct IS NOT NULL AND NOT EXISTS "
                            "(SELECT 1 FROM delivery d WHERE d.origin = 'feedback' AND d.enrollment_id = r.enrollment_id"
                            " AND d.occurrence = r.inbound_event_id)")
        results.append(Check("every graded answer has its feedback", not orphan,
                             f"{graded[0][0]} graded answers; without feedback: {len(orphan)}"
                             + (f" (reply ids {[r[0] for r in orphan[:5]]})" if orphan else ""), graded[0][0]))
        # When the provider was called (the attempt recorded as the delivery was marked ``sending``),
        # not ``sent_at``: that is when the answer was saved, which for a send recovered after its
        # worker was killed is the recovery's time, long after the message went out.
        # A retried message counts at the time it had before its first retry (the audit trail's
        # ``was_due_at``), not at its ``due_at`` now (the retry's): the learner's next message,
        # held behind it as it should be, would look overtaken. Other moves (a closed send
        # window, a question asked later while another is open, the catch-up, a review's
        # adaptive date) are the campaign's own: the message counts at its new time, unless it
        # was tried before (sent, or maybe sent, then recovered or retried): it keeps the place
        # it had at its first try, since the claim's per-learner hold keeps the later ones behind
        # it wherever a send window or the catch-up moves it afterwards.
        sent = await rows("SELECT enrollment_id, id, LEAST(due_at, (SELECT min((a.detail->>'was_due_at')"
                          "::timestamptz) FROM audit_event a WHERE a.entity = 'delivery' AND a.entity_id = "
                          "delivery.id AND a.action = 'dispatch' AND a.to_state = 'planned' AND ((a.detail->>'status_reason') "
                          "LIKE 'retry after %' OR (a.detail->>'status_reason') LIKE '% at its rate limit%' "
                          "OR a.id > (SELECT min(s.id) FROM audit_event s WHERE s.entity = 'delivery' AND "
                          "s.entity_id = delivery.id AND s.to_state = 'sending')))) "
                          "AS due_at, "
                          "COALESCE((rendered->'attempt'->>'at')::timestamptz, "
                          "sent_at) AS called, COALESCE(status_reason, '') LIKE 'recovered:%' "
                          "OR COALESCE(error_code, '') IN ('timeout', 'network', 'adapter_error') AS recovered "
                          "FROM delivery WHERE origin = 'plan' AND recipient = 'learner' "
                          "AND sent_at IS NOT NULL ORDER BY enrollment_id, called, id")
        # A message tried once (sent, or maybe sent, then recovered or retried) keeps the place it
        # had then: the claim's per-learner hold keeps the later ones behind it, wherever a send
        # window or a catch-up moves it afterwards (its "due" is then its earliest since that try).
        # Within the busy-queue grace (``catchup.LATE_AFTER``) the engine sends whatever is due with
        # no order between one learner's messages (other batches, other workers): a message sent
        # after a later one is out of order only if it was due more than the grace before it.
        # At x14,400 the grace is 20 virtual hours (5 real seconds); in real time one hour, less
        # than any gap between two learner steps of the standard campaign. A send cut by a killed
        # worker waits for recovery (stale after 30 real s, then a re-queue): days of the warped
        # clock, five minutes in real time; so does a send retried after an answer lost in flight
        # (``dispatch.AMBIGUOUS_SETTLE``, 30 real s). The learner's later messages wait for it (the
        # claim's per-learner hold): one sent before it fails the check too, counted apart.
        disorder = within = recovered_late = 0
        last: dict[int, datetime] = {}
        for enrollment_id, _, due_at, _, recovered in sent:
            if enrollment_id in last and due_at < last[enrollment_id]:
                if last[enrollment_id] - due_at <= grace:
                    within += 1
                elif recovered:
                    recovered_late += 1
                else:
                    disorder += 1
            last[enrollment_id] = max(due_at, last.get(enrollment_id, due_at))
        pairs = len(sent) - len(last)
        results.append(Check("per-learner order respects the campaign", disorder == 0 and recovered_late == 0,
                             f"{len(sent)} planned learner messages sent, {pairs} after an earlier one; "
                             f"sent after a step due over {grace} later: {disorder} (within that grace: "
                             f"{within}; re-sent after recovery or a lost answer: {recovered_late})", pairs))
    return results


def clock_env(clock: SharedClock) -> dict[str, str]:
    """The shared clock's file, and the nominal warp for what reads ``ANCRAGE_CLOCK_*`` only."""
    nominal = WarpedClock(start=clock.start, origin=clock.segments[0][0], speed=clock.nominal)
    return {**nominal.as_env(), ENV: str(clock.path)}


@dataclass
class Pacer:
    """Slows the shared clock while the engine lags, within a real-time budget.

    Every second, the engine's lag: how long ago (virtual time) the ``k``-th
    oldest due delivery still ``planned``/``queued`` was due, or the ``k``-th
    oldest reply still unprocessed arrived (``k`` = 1 % of the learners, at least
    5: a few sends held by the timeout fault do not count). What is controlled is
    that lag in real seconds (how long ago, in real time, the clock read that
    instant: :meth:`~soak_clock.SharedClock.real_span`), the engine's backlog:
    over :attr:`target`, the speed is halved per doubling of it, down to
    1/:attr:`floor` of the nominal speed; under it, the nominal speed again.

    The backlog, not the virtual lag: the overdue threshold (``catchup.LATE_AFTER``)
    is five real seconds at the current speed, so a lag that is overdue at one speed
    is overdue at any. A fixed virtual target (12 hours) let the slowed clock lag
    48 real seconds at 1/16 of the speed: every message was "overdue", spread to
    later days or skipped, and sent after later steps.

    Once the real time spent passes ``budget`` (monotonic), no more slowing: the
    run always ends, at most ``budget`` plus the rest at the nominal speed.
    """

    clock: SharedClock
    budget: float
    k: int = 5
    target: float = 2.0
    floor: int = 16
    slowed: float = 0.0
    samples: list[tuple[float, float, float, float]] = field(default_factory=list)

    def factor(self, backlog: float) -> float:
        """The share of the nominal speed for a ``backlog`` of so many real seconds."""
        if backlog <= self.target or time.monotonic() > self.budget:
            return 1.0
        halvings = min(math.ceil(math.log2(backlog / self.target)), int(math.log2(self.floor)))
        return float(1.0 / 2 ** halvings)

    async def lag(self, rt: Any) -> timedelta:
        """How far behind the engine is (virtual). Messages held behind a learner's earlier one
        still on its way (the claim's per-learner hold: a retry waiting out ``AMBIGUOUS_SETTLE``,
        a send cut by a kill waiting for recovery) wait for the campaign's order, not for the
        engine, and do not count: 30 real seconds each, they alone made every run look late. Nor
        do those of a paused enrolment (a learner who asked for a pause), which nothing sends."""
        from sqlalchemy import func
        from sqlmodel import col, select

        from engine.store.deliveries import _held_behind_earlier
        from engine.store.models import Delivery, Enrollment, InboundEvent

        now = self.clock()
        due = (select(Delivery.due_at).join(Enrollment, col(Enrollment.id) == col(Delivery.enrollment_id))
               .where(col(Delivery.status).in_(["planned", "queued"]), col(Delivery.due_at) <= now,
                      col(Enrollment.status) == "active", ~_held_behind_earlier())
               .order_by(col(Delivery.due_at)).offset(self.k - 1).limit(1).scalar_subquery())
        waiting = (select(InboundEvent.received_at).where(InboundEvent.status == "received")
                   .order_by(col(InboundEvent.received_at)).offset(self.k - 1).limit(1).scalar_subquery())
        async with rt.sessions() as session:
            oldest = (await session.exec(select(func.least(due, waiting)))).one()
        return now - oldest if oldest is not None else timedelta(0)

    async def run(self, rt: Any, stop: asyncio.Event) -> None:
        last = time.monotonic()
        while not stop.is_set():
            try:
                lag = await self.lag(rt)
            except Exception:
                lag = timedelta(0)
            backlog = self.clock.real_span(lag.total_seconds())
            factor = self.factor(backlog)
            self.clock.set_speed(self.clock.nominal * factor)
            now = time.monotonic()
            if factor < 1.0:
                self.slowed += now - last
            last = now
            self.samples.append((now, lag.total_seconds() / 3600, factor, backlog))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)

    def summary(self) -> str:
        if not self.samples:
            return "no pacing"
        lags = sorted(lag for _, lag, _, _ in self.samples)
        backlogs = sorted(backlog for _, _, _, backlog in self.samples)
        slowest = min(f for _, _, f, _ in self.samples)
        return (f"clock slowed {self.slowed:.0f} s real (down to 1/{1 / slowest:.0f} of x{self.clock.nominal:.0f}); "
                f"engine lag p50 {lags[len(lags) // 2]:.1f} h, p90 {lags[len(lags) * 9 // 10]:.1f} h, "
                f"max {lags[-1]:.1f} h (virtual); backlog p50 {backlogs[len(backlogs) // 2]:.1f} s, "
                f"p90 {backlogs[len(backlogs) * 9 // 10]:.1f} s, max {backlogs[-1]:.1f} s (real)")


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

    from engine.core.personas import PERSONAS
    from engine.fakes.fake_fcm import fake_service_account
    from engine.fakes.server import free_port
    from engine.redis_server import PrivateRedis
    from engine.services.bootstrap import build_runtime, close_runtime
    from engine.settings import Settings

    database = f"ancrage_soak_{os.getpid()}"
    await admin(f"CREATE DATABASE {database}")
    real_seconds = args.days * 86400 / args.speed
    stop = asyncio.Event()
    stop_analyze = asyncio.Event()
    started = time.monotonic()
    load_start = " ".join(f"{x:.1f}" for x in os.getloadavg())
    code = 1
    # A Tuesday, 17:30 in Paris: the hot survey goes out the same evening and the D+7 quiz on the
    # next Tuesday (a Friday session's quiz fell on Easter Monday and went out on day 11).
    session_end = datetime(2026, 3, 24, 16, 30, tzinfo=UTC)
    with tempfile.TemporaryDirectory(prefix="anc-soak-", dir="/tmp") as folder:
        work = Path(folder)
        clock = SharedClock.create(work / "clock.json", start=session_end - timedelta(minutes=10),
                                   origin=time.time() + 8.0, speed=args.speed)
        clock.on_span = scale_real_time  # the driver ticks too
        scale_real_time(args.speed)
        os.environ.update(clock_env(clock))
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
            twilio_api_base=twilio_url, twilio_rate_per_second=1000.0, twilio_concurrency=SEND_CONCURRENCY,
            fcm_service_account_file=account,
            fcm_api_base=fcm_url, smtp_host=smtp_host, smtp_port=smtp_port, email_from="Ancrage <suivi@soak.test>",
            secret_key=secrets.token_urlsafe(32))
        env = {**os.environ, "PYTHONPATH": str(ROOT), "DATABASE_URL": settings.resolved_database_url,
               "REDIS_URL": redis_url, **clock_env(clock)}
        for name, value in settings.model_dump(exclude={"database_url", "redis_url"}).items():
            if value is not None:
                env[f"ANCRAGE_{name.upper()}"] = str(value)
        stack = Stack(env=env, work=work)
        rt = await build_runtime(settings, clock=clock)
        try:
            simulated = await seed(rt, learners=args.learners, ends_at=session_end)
            stack.web = subprocess.Popen(
                [sys.executable, "-c", _WEB, str(port)], env=env, cwd=ROOT, stdout=open(work / "web.log", "wb"),  # noqa: SIM115
                stderr=subprocess.STDOUT)
            stack.ensure_workers()
            learners = learners_class()(rt, clock, f"{base}/webhooks/twilio/sms", AUTH_TOKEN,
                                        {lid: (PERSONAS[p], phone) for lid, (p, phone) in simulated.items()})
            print(f"soak: {args.learners} learners, {args.days} virtual days at x{args.speed:.0f} "
                  f"(~{real_seconds:.0f} s), 2 workers, PostgreSQL {database}, private Redis", flush=True)
            end = clock.start + timedelta(days=args.days)
            pacer = Pacer(clock, budget=time.monotonic() + real_seconds * (1 + args.slack), k=max(5, args.learners // 100))
            tasks = [asyncio.create_task(job) for job in (
                learners.run(), ticker(rt, settings, stop, clock), chaos(stack, redis, clock, end=end, stop=stop),
                analyzer(database, stop_analyze), pacer.run(rt, stop))]
            while clock() < end:
                await asyncio.sleep(1.0)
                for task in tasks:
                    if task.done() and task.exception() is not None:
                        raise task.exception()  # type: ignore[misc]
            stop.set()
            clock.set_speed(args.speed)
            providers.quiet()
            tasks[0].cancel()  # the learners stop answering; what they posted must still be processed
            print(f"chaos over at {time.monotonic() - started:.0f} s: {stack.kills} worker kills, "
                  f"{stack.redis_restarts} Redis restarts; settling", flush=True)
            stack.ensure_workers()
            settle = asyncio.create_task(ticker(rt, settings, asyncio.Event(), clock))
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
            stop_analyze.set()
            for task in tasks:
                task.cancel()
            await asyncio.gather(settle, *tasks, return_exceptions=True)
            seen = providers.summary()
            results = await check(rt, seen, end=end, sids=learners.sids, grace=late_after(args.speed))
            width = max(len(r.name) for r in results)
            print(f"\n{'invariant':<{width}}  result  checked  detail")
            for r in results:
                print(f"{r.name:<{width}}  {'ok' if r.ok else 'FAIL':<6}  {r.checked:>7}  {r.detail}")
            print(f"\nreplies posted {learners.posted} (+{learners.duplicates} duplicates), status callbacks "
                  f"{seen['callbacks_total']} {seen['callbacks']} (+{seen['replayed']} replayed), {stack.kills} worker kills, "
                  f"{stack.redis_restarts} Redis restarts, {time.monotonic() - started:.0f} s real")
            print(f"pace: {pacer.summary()}; load average at start {load_start}, at the end "
                  f"{' '.join(f'{x:.1f}' for x in os.getloadavg())}")
            code = 0 if all(r.ok for r in results) else 1
            if args.json:
                Path(args.json).write_text(json.dumps({r.name: {"ok": r.ok, "detail": r.detail, "checked": r.checked}
                                                       for r in results},
                                                      ensure_ascii=False, indent=1), encoding="utf-8")
        finally:
            stop.set()
            stop_analyze.set()
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
    parser.add_argument("--slack", type=float, default=2.5,
                        help="real time the clock may be slowed by, as a share of the nominal run (then full speed)")
    parser.add_argument("--settle", type=float, default=120.0, help="real seconds allowed to settle after the chaos")
    parser.add_argument("--json", help="also write the invariants' results to this file")
    parser.add_argument("--keep", action="store_true", help="keep the database (to look into a failure)")
    return asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
