"""Replies at volume: processing capacity per worker process, and reply → feedback latency.

N learners (default 2,000) each have an open quiz question (asked through the
engine: enrolled by CSV, the quiz sent by a worker to the fake Twilio). Then, on
PostgreSQL (database ``ancrage_bench_replies``, dropped at the end) and the local
Redis (keys under the ``ancbench-replies`` prefix, deleted at the end):

(a) **Capacity**, A B C A B C: N inbound "B" events stored at once (one INSERT),
    their jobs enqueued in one pipeline, then processed by real ``ancrage worker``
    processes: (B) one worker, (C) two. The figure is N / (last event processed −
    enqueue start), and per worker process; also until the last feedback SMS was
    accepted by the fake Twilio (``delivery.sent_at``). (A), the baseline: a bare
    asyncpg loop in this process doing the essential writes of a reply (lock the
    learner, read the event and the open question, insert the reply and the
    feedback delivery, mark the event processed: one transaction per event, 20 at
    a time like the worker's ``max_jobs``) on N events of its own.
(b) **Latency**: the web app under uvicorn (httptools, uvloop) and one worker;
    ``wrk`` replays Twilio-signed inbound SMS (real ``RequestValidator``
    signatures, one per learner, pre-computed by /work/shared/tools/wrk_signed_sms.py),
    paced at 50, 100 and 200 replies/s. wrk2 is not available, so the pace is a
    fixed number of connections (rate / 5), each waiting 200 ms (the Lua
    ``delay()`` hook) before its next request: rate ≈ connections / (0.2 s +
    response time); the achieved rate is printed. Each request is sent once (the
    script stops the thread after the last). Latency = the feedback delivery's
    ``sent_at`` (recorded once Twilio accepted it) − the inbound event's
    ``received_at`` (stamped by the web app), p50 / p99, from the database.

Every figure is printed with the load average (2 shared cores: read the ratios).
Processes: the fake Twilio (``bench_dispatch.py --role fake``), the workers, the
web app and this driver each have their own.

usage: .venv/bin/python bench/bench_replies.py [--learners 2000] [--rounds 2]
       [--rates 50,100,200] [--seconds 10] [--profile worker.prof]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from bench_dispatch import (  # noqa: E402
    ACCOUNT_SID,
    AUTH_TOKEN,
    PG_SERVER,
    REDIS_URL,
    SERVICE_SID,
    _free_port,
    _wait_port,
    cpu_seconds,
    create_database,
    delete_redis_keys,
    drop_database,
    machine_busy,
)
from bench_webhooks import TOOL, run_wrk, wait_up  # noqa: E402

DATABASE = "ancrage_bench_replies"
PREFIX = "ancbench-replies"
SENDER = "+33700000000"
CAMPAIGN = """
campaign: bench-replies
title: Bench replies
defaults:
  channels: [sms]
  window: {days: [mon, tue, wed, thu, fri, sat, sun], from: "00:00", to: "23:59", holidays: true}
steps:
  - id: quiz
    at: +1min
    quiz: management/quiz-sbi
    ask: 10
"""
BARE_CONCURRENCY = 20


def load() -> str:
    return f"load {os.getloadavg()[0]:.1f}"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else float("nan")


# -- child processes ---------------------------------------------------------------


def run_profiled_worker(out: str) -> None:
    """``ancrage worker`` under cProfile; the profile is written when SIGTERM stops it."""
    import cProfile

    from engine.commands.processes import run_worker
    from engine.settings import Settings

    profile = cProfile.Profile()
    profile.enable()
    try:
        run_worker(Settings())
    finally:
        profile.disable()
        profile.dump_stats(out)


@dataclass
class Workers:
    """Real worker processes, started together and ready (arq wrote its health key)."""

    env: dict[str, str]
    procs: list[subprocess.Popen[bytes]]

    @classmethod
    async def start(cls, env: dict[str, str], count: int, profile: str | None = None) -> Workers:
        from redis.asyncio import Redis

        health = f"{PREFIX}:queue:health-check"
        redis = Redis.from_url(REDIS_URL)
        await redis.delete(health)
        command = [sys.executable, "-m", "engine.cli", "worker"]
        if profile:
            command = [sys.executable, str(Path(__file__).resolve()), "--role", "profiled-worker",
                       "--profile", profile]
        procs = [subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL) for _ in range(count)]
        deadline = time.monotonic() + 60
        while not await redis.exists(health):
            if time.monotonic() > deadline:
                raise RuntimeError("workers did not start")
            await asyncio.sleep(0.1)
        await redis.aclose()
        await asyncio.sleep(1.5)  # the other worker(s) of the group, started at the same time
        return cls(env, procs)

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def stop(self) -> None:
        for proc in self.procs:
            proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


# -- seeding --------------------------------------------------------------------------


async def seed(env: dict[str, str], learners: int) -> None:
    """Learners enrolled by CSV into an ended session: their quiz question is due at once."""
    os.environ.update(env)
    from engine.services.operations import add_session, enrol_csv
    from engine.settings import Settings

    settings = Settings()
    ended = datetime.now(UTC) - timedelta(minutes=5)
    session_id = await add_session(settings, title="Bench replies", starts_at=None, ends_at=ended,
                                   timezone="Europe/Paris", campaigns=["bench-replies"])
    assert isinstance(session_id, int), session_id
    rows = "\n".join(f"L{i},Bench,+3361{i:07d}" for i in range(learners))
    report = await enrol_csv(settings, session_id=session_id, csv_text=f"first_name,last_name,phone\n{rows}\n",
                             campaign=None)
    assert not report.errors, report.errors


async def connect():  # type: ignore[no-untyped-def]
    import asyncpg

    return await asyncpg.connect(f"{PG_SERVER}/{DATABASE}")


async def wait_open_questions(learners: int, timeout: float = 120) -> int:
    """Until every learner has an open question (the previous feedback carried the next one);
    then ``VACUUM (ANALYZE)``, as a deployed PostgreSQL's autovacuum would have done by then.

    The shared server runs with ``autovacuum = off``: each round leaves a dead version of every
    delivery, prompt and event it changed (and an entry in each index on ``status``), and a
    claim that found nothing due took 210 ms at the third rate, two thirds of a reply's time."""
    conn = await connect()
    try:
        deadline = time.monotonic() + timeout
        while True:
            open_ = int(await conn.fetchval(
                "SELECT count(DISTINCT learner_id) FROM prompt WHERE status = 'open' AND opened_at <= now()"))
            busy = int(await conn.fetchval(
                "SELECT count(*) FROM delivery WHERE status IN ('planned', 'queued', 'sending') AND due_at <= now()"))
            if (open_ >= learners and busy == 0) or time.monotonic() > deadline:
                await conn.execute("VACUUM (ANALYZE)")
                return open_
            await asyncio.sleep(0.3)
    finally:
        await conn.close()


async def store_events(tag: str, provider: str = "twilio") -> list[int]:
    """One inbound "B" per learner, all stored at once, as the webhook stores them."""
    conn = await connect()
    try:
        rows = await conn.fetch(
            "INSERT INTO inbound_event (provider, provider_id, channel, sender, recipient, body, raw, "
            "received_at, status, created_at) "
            "SELECT $1, 'SM' || $2 || '-' || id, 'sms', phone, $3, 'B', '{}'::jsonb, now(), 'received', now() "
            "FROM learner ORDER BY id RETURNING id", provider, tag, SENDER)
        return [int(r["id"]) for r in rows]
    finally:
        await conn.close()


# -- (a) capacity ------------------------------------------------------------------------


@dataclass
class Capacity:
    label: str
    workers: int
    replies: int
    processed_s: float
    feedback_s: float
    cpu: float
    load: str
    cpu_s: float = 0.0

    @property
    def rate(self) -> float:
        return self.replies / self.processed_s

    def line(self) -> str:
        per = f", {self.rate / self.workers:6,.0f}/s per worker" if self.workers else ""
        feedback = f"; feedback accepted {self.replies / self.feedback_s:6,.0f}/s" if self.feedback_s else ""
        cpu = (f"worker CPU {self.cpu:.0%} of a core each, {self.cpu_ms:.1f} ms per reply; "
               if self.workers else "")
        return f"{self.label:<10} {self.rate:7,.0f} replies/s processed{per}{feedback} ({cpu}{self.load})"

    @property
    def cpu_ms(self) -> float:
        """Worker CPU time per reply (feedback sending included): what the machine's load does not inflate."""
        return self.cpu_s / self.replies * 1000


async def engine_round(env: dict[str, str], workers: int, tag: str, profile: str | None = None) -> Capacity:
    from arq import create_pool

    from engine.jobs import PROCESS_INBOUND_JOB
    from engine.settings import Settings
    from engine.worker import redis_settings
    from webhooks.queue import arq_enqueue

    group = await Workers.start(env, workers, profile)
    try:
        ids = await store_events(tag)
        pool = await create_pool(redis_settings(REDIS_URL))
        enqueue = arq_enqueue(pool, Settings())
        cpu = {pid: cpu_seconds(pid) for pid in group.pids()}
        started, wall = datetime.now(UTC), time.monotonic()
        await asyncio.gather(*(enqueue(PROCESS_INBOUND_JOB, i) for i in ids))
        await pool.aclose()
        conn = await connect()
        try:
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                left = await conn.fetchval(
                    "SELECT count(*) FROM inbound_event WHERE id = ANY($1) AND status = 'received'", ids)
                unsent = await conn.fetchval(
                    "SELECT count(*) FROM delivery WHERE occurrence = ANY($1) AND origin = 'feedback' "
                    "AND status IN ('planned', 'queued', 'sending')", ids)
                if left == 0 and unsent == 0:
                    break
                await asyncio.sleep(0.2)
            spent = time.monotonic() - wall
            used = [cpu_seconds(pid) - cpu[pid] for pid in group.pids()]
            last_processed, last_sent, sent = await conn.fetchrow(
                "SELECT (SELECT max(processed_at) FROM inbound_event WHERE id = ANY($1)), "
                "max(sent_at), count(*) FROM delivery WHERE occurrence = ANY($1) AND origin = 'feedback' "
                "AND status = 'sent'", ids)
            if sent != len(ids):
                statuses = await conn.fetch(
                    "SELECT e.status, d.status AS feedback, count(*) FROM inbound_event e LEFT JOIN delivery d "
                    "ON d.occurrence = e.id AND d.origin = 'feedback' WHERE e.id = ANY($1) GROUP BY 1, 2", ids)
                print(f"  !! {sent} feedback SMS sent for {len(ids)} replies: {[tuple(r) for r in statuses]}")
        finally:
            await conn.close()
    finally:
        group.stop()
    return Capacity(f"{workers} worker{'s' if workers > 1 else ''}", workers, len(ids),
                    (last_processed - started).total_seconds(), (last_sent - started).total_seconds(),
                    statistics.mean(used) / spent, load(), sum(used))


async def bare_round(tag: str) -> Capacity:
    """The essential writes of a reply, one transaction per event, with a thin client."""
    import asyncpg

    ids = await store_events(tag, provider="bare")
    pool = await asyncpg.create_pool(f"{PG_SERVER}/{DATABASE}", min_size=BARE_CONCURRENCY,
                                     max_size=BARE_CONCURRENCY)

    async def one(event_id: int) -> None:
        async with pool.acquire() as conn, conn.transaction():
            event = await conn.fetchrow("SELECT id, sender, body FROM inbound_event WHERE id = $1 FOR UPDATE",
                                        event_id)
            learner = await conn.fetchval("SELECT id FROM learner WHERE phone = $1 FOR UPDATE", event["sender"])
            prompt = await conn.fetchrow(
                "SELECT id, enrollment_id, step_id FROM prompt WHERE learner_id = $1 AND channel = 'sms' "
                "AND status = 'open' ORDER BY opened_at DESC LIMIT 1", learner)
            await conn.execute(
                "INSERT INTO reply (inbound_event_id, prompt_id, learner_id, enrollment_id, kind, raw_text, "
                "value, created_at) VALUES ($1, $2, $3, $4, 'bare', $5, '{}'::jsonb, now())",
                event_id, prompt["id"], learner, prompt["enrollment_id"], event["body"])
            await conn.execute(
                "INSERT INTO delivery (enrollment_id, learner_id, step_id, occurrence, kind, recipient, channels, "
                "due_at, origin, status, attempts, rendered, created_at, updated_at) VALUES ($1, $2, $3, $4, "
                "'text', 'learner', '[\"sms\"]'::jsonb, now(), 'system', 'cancelled', 0, "
                "'{\"body\": \"bare\"}'::jsonb, now(), now())",
                prompt["enrollment_id"], learner, prompt["step_id"], event_id)
            await conn.execute("UPDATE inbound_event SET status = 'processed', processed_at = now(), "
                               "learner_id = $2 WHERE id = $1", event_id, learner)

    queue = list(ids)

    async def lane() -> None:
        while queue:
            await one(queue.pop())

    started = time.monotonic()
    await asyncio.gather(*(lane() for _ in range(BARE_CONCURRENCY)))
    elapsed = time.monotonic() - started
    await pool.close()
    return Capacity("bare loop", 0, len(ids), elapsed, 0.0, 0.0, load())


# -- (b) latency --------------------------------------------------------------------------


def paced_script(url: str, phones: list[str], out: Path, *, delay_ms: int) -> Path:
    """One signed inbound SMS per phone, each sent once; every connection waits ``delay_ms``."""
    senders = out.with_suffix(".senders")
    senders.write_text("\n".join(phones) + "\n", encoding="utf-8")
    subprocess.run([sys.executable, str(TOOL), url, AUTH_TOKEN, str(len(phones)), str(out),
                    "--senders", str(senders)], check=True)
    with out.open("a", encoding="utf-8") as script:
        script.write(f"delay = function() return {delay_ms} end\n"
                     "local answered = 0\n"
                     "response = function() answered = answered + 1\n"
                     "  if i >= #reqs then wrk.thread:stop() end end\n")
    return out


async def latency_phase(port: int, work: Path, rate: int, seconds: float, learners: int) -> str:
    conn = await connect()
    try:
        first_id = int(await conn.fetchval("SELECT coalesce(max(id), 0) FROM inbound_event"))
        phones = [r["phone"] for r in await conn.fetch(
            "SELECT phone FROM learner ORDER BY id LIMIT $1", min(learners, int(rate * seconds)))]
    finally:
        await conn.close()
    url = f"http://127.0.0.1:{port}/webhooks/twilio/sms"
    connections = max(1, rate // 5)
    script = paced_script(url, phones, work / f"paced{rate}.lua", delay_ms=200)
    result = run_wrk(url, script, connections=connections, duration=int(len(phones) / rate * 2 + 5))
    conn = await connect()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            rows = await conn.fetch(
                "SELECT e.received_at, d.sent_at FROM inbound_event e LEFT JOIN delivery d "
                "ON d.occurrence = e.id AND d.origin = 'feedback' AND d.status = 'sent' "
                "WHERE e.id > $1", first_id)
            if len(rows) >= len(phones) and all(r["sent_at"] is not None for r in rows):
                break
            await asyncio.sleep(0.3)
        stages = await conn.fetch(STAGES, first_id)
    finally:
        await conn.close()
    ms = [(r["sent_at"] - r["received_at"]).total_seconds() * 1000 for r in rows if r["sent_at"] is not None]
    # From the arrivals the web app stamped: wrk's own figure divides by its whole ``-d`` (its main
    # thread sleeps that long whatever its threads do), which showed 40 % of the paced rate.
    arrivals = sorted(r["received_at"] for r in rows)
    span = (arrivals[-1] - arrivals[0]).total_seconds() if len(arrivals) > 1 else 0.0
    achieved = (len(rows) - 1) / span if span > 0 else float("nan")
    return (f"{rate:4d}/s target ({connections} connections × 200 ms): achieved {achieved:5.0f}/s, "
            f"{len(ms)}/{len(phones)} fed back; reply → feedback p50 {percentile(ms, 0.5):5.0f} ms, "
            f"p99 {percentile(ms, 0.99):5.0f} ms, max {max(ms, default=float('nan')):5.0f} ms; "
            f"webhook p99 {result.p99_ms:.0f} ms, non-2xx {result.non_2xx} ({load()})\n"
            f"        {stage_line(stages)}")


#: When each step of a reply's way happened, from the timestamps the system records: the
#: webhook's arrival, the reply job's transaction (``processed_at``), the feedback row
#: written, claimed (its audit row), marked sending (audit), accepted by the provider.
STAGES = """
SELECT e.received_at AS arrived, e.processed_at AS processing, d.created_at AS written,
       (SELECT min(a.at) FROM audit_event a WHERE a.entity = 'delivery' AND a.entity_id = d.id
         AND a.to_state = 'queued') AS claimed,
       (SELECT min(a.at) FROM audit_event a WHERE a.entity = 'delivery' AND a.entity_id = d.id
         AND a.to_state = 'sending') AS sending,
       d.sent_at AS accepted
FROM inbound_event e JOIN delivery d ON d.occurrence = e.id AND d.origin = 'feedback' AND d.status = 'sent'
WHERE e.id > $1
"""


def stage_line(rows: list[Any]) -> str:
    """Median and p99 of each step's share of the reply → feedback time (ms)."""
    names = ["arrived", "processing", "written", "claimed", "sending", "accepted"]
    parts = []
    for earlier, later in itertools.pairwise(names):
        spans = [(r[later] - r[earlier]).total_seconds() * 1000 for r in rows
                 if r[later] is not None and r[earlier] is not None]
        if spans:
            parts.append(f"{earlier}→{later} {percentile(spans, 0.5):.0f}/{percentile(spans, 0.99):.0f}")
    return "steps, p50/p99 ms: " + ", ".join(parts)


# -- driver ---------------------------------------------------------------------------------


async def drive(args: argparse.Namespace, env: dict[str, str], web_port: int, work: Path) -> None:
    await seed(env, args.learners)
    group = await Workers.start(env, 1)
    try:
        asked = await wait_open_questions(args.learners)
    finally:
        group.stop()
    print(f"{asked}/{args.learners} learners with an open quiz question ({load()})", flush=True)
    if asked < args.learners:
        raise SystemExit("the quiz question did not reach every learner: nothing to measure")

    print(f"\n(a) capacity: {args.learners} replies stored at once, A B C A B C "
          f"(A bare loop, B one worker, C two workers):", flush=True)
    results: dict[str, list[Capacity]] = {}
    for round_ in range(args.rounds):
        for workers in (0, 1, 2):
            tag = f"r{round_}w{workers}"
            if workers == 0:
                result = await bare_round(tag)
            else:
                profile = args.profile if (args.profile and workers == 1 and round_ == 0) else None
                result = await engine_round(env, workers, tag, profile)
                await wait_open_questions(args.learners)
            results.setdefault(result.label, []).append(result)
            print(f"  round {round_ + 1} {result.line()}", flush=True)
    bare = statistics.median(r.rate for r in results["bare loop"])
    print("  medians:")
    for label, rounds in results.items():
        rate = statistics.median(r.rate for r in rounds)
        workers = rounds[0].workers
        per = (f", {rate / workers:,.0f}/s per worker process, "
               f"{statistics.median(r.cpu_ms for r in rounds):.1f} ms worker CPU per reply") if workers else ""
        print(f"    {label:<10} {rate:7,.0f} replies/s{per}; ratio to the bare loop {rate / bare:.2f}")

    print(f"\n(b) latency: signed webhooks by wrk → uvicorn → one worker → fake Twilio "
          f"({args.seconds:.0f} s per rate):", flush=True)
    web = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "webhooks.asgi:app",
                            "--host", "127.0.0.1", "--port", str(web_port), "--http", "httptools",
                            "--loop", "uvloop", "--no-access-log", "--log-level", "warning"],
                           env=env, cwd=ROOT)
    group = await Workers.start(env, 1)
    try:
        wait_up(f"http://127.0.0.1:{web_port}")
        for rate in args.rates:
            print("  " + await latency_phase(web_port, work, rate, args.seconds, args.learners), flush=True)
            await wait_open_questions(args.learners)
    finally:
        group.stop()
        web.terminate()
        web.wait(timeout=15)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--role", choices=["driver", "profiled-worker"], default="driver")
    parser.add_argument("--learners", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--rates", type=lambda s: [int(v) for v in s.split(",") if v], default=[50, 100, 200])
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--profile", default=None, help="cProfile the first one-worker round into this file")
    parser.add_argument("--max-jobs", type=int, default=20)
    parser.add_argument("--keep", action="store_true", help="keep the database for inspection")
    args = parser.parse_args()
    if args.role == "profiled-worker":
        run_profiled_worker(args.profile)
        return 0
    assert args.rounds * 2 + len(args.rates) < 10, "each learner answers at most 9 questions (ask: 10)"

    fake_port, web_port = _free_port(), _free_port()
    work = Path(tempfile.mkdtemp(prefix="ancrage-bench-replies-"))
    (work / "campaigns").mkdir()
    (work / "campaigns" / "bench-replies.yaml").write_text(CAMPAIGN, encoding="utf-8")
    env = {**os.environ, "DATABASE_URL": f"{PG_SERVER}/{DATABASE}", "REDIS_URL": REDIS_URL,
           "ANCRAGE_REDIS_PREFIX": PREFIX, "ANCRAGE_SANDBOX": "false",
           "ANCRAGE_SECRET_KEY": secrets.token_urlsafe(32), "ANCRAGE_DATA_DIR": str(work),
           "ANCRAGE_CAMPAIGNS_DIR": str(work / "campaigns"), "ANCRAGE_CONTENT_DIR": str(ROOT / "content"),
           "ANCRAGE_TWILIO_ACCOUNT_SID": ACCOUNT_SID, "ANCRAGE_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
           "ANCRAGE_TWILIO_MESSAGING_SERVICE_SID": SERVICE_SID,
           "ANCRAGE_TWILIO_API_BASE": f"http://127.0.0.1:{fake_port}",
           "ANCRAGE_TWILIO_RATE_PER_SECOND": "10000", "ANCRAGE_MAX_JOBS": str(args.max_jobs),
           "ANCRAGE_PUBLIC_URL": f"http://127.0.0.1:{web_port}"}
    fake: subprocess.Popen[bytes] | None = None
    try:
        asyncio.run(create_database(DATABASE))
        asyncio.run(delete_redis_keys(PREFIX))
        fake = subprocess.Popen([sys.executable, str(ROOT / "bench" / "bench_dispatch.py"), "--role", "fake",
                                 "--port", str(fake_port)], env=env)
        _wait_port(fake_port)
        print(f"PostgreSQL {PG_SERVER}/{DATABASE}, Redis {REDIS_URL} (prefix {PREFIX}), "
              f"{args.learners} learners; {load()} on {os.cpu_count()} cores", flush=True)
        busy, total = machine_busy()
        asyncio.run(drive(args, env, web_port, work))
        busy2, total2 = machine_busy()
        print(f"\nWhole run: machine {(busy2 - busy) / max(total2 - total, 1):.0%} busy (both cores); {load()}")
    finally:
        if fake is not None:
            fake.terminate()
            fake.wait(timeout=15)
        if not args.keep:
            asyncio.run(drop_database(DATABASE))
        deleted = asyncio.run(delete_redis_keys(PREFIX))
        print(f"Cleaned up: database {DATABASE} dropped, {deleted} Redis keys deleted.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
