"""Dispatch: throughput, lag, enrolment and worker memory on PostgreSQL + Redis.

One run, on a private PostgreSQL database (``ancrage_bench``, dropped at the
end; ``ANCRAGE_BENCH_DATABASE`` overrides it) and the local Redis (keys under
the ``ancbench`` prefix, deleted at the end; ``ANCRAGE_BENCH_PREFIX``), with three processes so that none shares a GIL with another:

- the fake Twilio (``engine.fakes.fake_twilio``) served by uvicorn on loopback;
- one real arq worker (``engine.worker.worker_settings``: cron tick every
  second, batch send jobs, the real ``TwilioChannel`` pointed at the fake);
- this driver, which seeds rows, measures, and runs the bare loop.

Figures printed:

1. **Enrolment**: 10,000 learners of one session into ``campaigns/suivi-standard.yaml``
   through :func:`engine.services.enrolment.end_session` (what the tick runs when a
   session ends); learners per second.
2. **Pending**: the ``delivery`` table is filled to 1,000,000 ``planned`` rows due
   in the future; the worker keeps ticking over them (RSS sampled throughout).
3. **Throughput**, A B A B: (A) a bare loop posting the same requests with the same
   client (``TwilioChannel.send``, same concurrency) to the same fake server, no
   database, no queue; (B) the engine: N deliveries become due at once, and the
   figure is N / (last provider-accepted time - due time). Ratio B/A and medians.
4. **Lag** at a paced rate (default 1,000 deliveries/s for 15 s, due times spread
   evenly): ``sent_at - due_at`` p50/p99 as the database records it.
5. **Worker RSS** over the whole run (``/proc/<pid>/status``), by phase.

Each round also prints the CPU seconds per send: the bare loop's (driver process)
and the worker's per delivery, whole and less the worker's idle ticking rate
(measured for 2 s before the round; noisy on a busy machine). On loaded cores
every process gets a small share of a core, so the CPU ratio bare/engine is the
figure that carries to a quiet machine, where the worker is CPU-bound.
``--profile FILE`` runs the worker under cProfile (CPU time) into FILE;
py-spy (``py-spy record -p <worker pid> --format raw``) disturbs it less.

Each engine round also prints the CPU used (share of one core) by the worker,
the fake, every PostgreSQL process, and the whole machine (share of both
cores): on these shared cores a busy machine (other test runs) lowers every
figure, so read the ratio to the bare loop and the machine's load with them.

usage: .venv/bin/python bench/bench_dispatch.py [--rounds 2] [--burst 6000]
       [--rate 1000] [--seconds 15] [--pending 1000000] [--concurrency 64] [--max-jobs 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
#: Overridable so that two engineers' runs on one server never share a database or keys.
DATABASE = os.environ.get("ANCRAGE_BENCH_DATABASE", "ancrage_bench")
REDIS_URL = os.environ.get("ANCRAGE_BENCH_REDIS_URL", "redis://127.0.0.1:6379/0")
PREFIX = os.environ.get("ANCRAGE_BENCH_PREFIX", "ancbench")
ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "fake-auth-token"
SERVICE_SID = "MG" + "0" * 32
ENROL_LEARNERS = 10_000

BENCH_CAMPAIGN = """
campaign: bench-dispatch
title: Bench dispatch
locale: fr
starts: enrollment
defaults:
  channels: [sms]
  window: {days: [mon, tue, wed, thu, fri, sat, sun], from: "00:00", to: "23:59", holidays: true}
steps:
  - id: tip
    at: +1d
    lesson: management/feedback-sbi
"""


# -- child processes -----------------------------------------------------------


def run_fake(port: int) -> None:
    import uvicorn

    from engine.fakes.fake_twilio import FakeTwilio

    fake = FakeTwilio(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN, send_callbacks=False)
    uvicorn.run(fake.app, host="127.0.0.1", port=port, log_level="warning", access_log=False,
                lifespan="off")


def run_worker(max_jobs: int, batch_size: int, profile: str = "") -> None:
    from arq.worker import Worker

    from engine.commands.processes import use_fast_loop
    from engine.services import scheduler
    from engine.settings import Settings
    from engine.worker import worker_settings

    if batch_size:
        scheduler.BATCH_SIZE = batch_size
    settings = Settings()
    assert settings.redis_url is not None
    options = worker_settings(settings, settings.redis_url, tick_every=1)
    options["max_jobs"] = max_jobs
    use_fast_loop()  # as ``ancrage worker`` runs
    if not profile:
        Worker(**options).run()
        return
    import cProfile

    profiler = cProfile.Profile(time.process_time)  # CPU time: the loaded cores stretch wall time
    profiler.enable()
    try:
        Worker(**options).run()
    finally:
        profiler.disable()
        profiler.dump_stats(profile)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_port(port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listening on {port}")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, every core."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def postgres_cpu() -> float:
    """CPU seconds of every PostgreSQL process (ours and anyone else's on this server)."""
    total = 0.0
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if (proc / "comm").read_text().strip() in ("postgres", "postmaster"):
                    total += cpu_seconds(int(proc.name))
            except OSError:
                continue
    return total


# -- RSS sampling --------------------------------------------------------------


@dataclass
class RssSampler:
    pid: int
    phase: str = "startup"
    samples: list[tuple[float, str, float]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def start(self) -> None:
        self.t0 = time.monotonic()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while not self._stop.wait(1.0):
            try:
                self.samples.append((time.monotonic() - self.t0, self.phase, self.rss_mb()))
            except OSError:
                return

    def stop(self) -> None:
        self._stop.set()

    def report(self) -> None:
        print("\nWorker RSS (MiB), sampled every second:")
        phases: dict[str, list[tuple[float, float]]] = {}
        for t, phase, mb in self.samples:
            phases.setdefault(phase, []).append((t, mb))
        for phase, points in phases.items():
            values = [mb for _, mb in points]
            print(f"  {phase:<34} t={points[0][0]:6.0f}-{points[-1][0]:4.0f}s  "
                  f"first {values[0]:6.1f}  min {min(values):6.1f}  max {max(values):6.1f}  "
                  f"last {values[-1]:6.1f}")
        timeline = self.samples[:: max(1, len(self.samples) // 24)]
        print("  timeline: " + "  ".join(f"{t:.0f}s:{mb:.0f}" for t, _, mb in timeline))


# -- database ------------------------------------------------------------------


async def create_database(database: str = DATABASE) -> None:
    import asyncpg

    admin = await asyncpg.connect(f"{PG_SERVER}/postgres")
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {database}")
    finally:
        await admin.close()
    from engine.store.db import create_engine
    from engine.store.migrate import upgrade_async

    engine = create_engine(f"{PG_SERVER}/{database}".replace("postgresql://", "postgresql+asyncpg://"))
    try:
        await upgrade_async(engine)
    finally:
        await engine.dispose()


async def drop_database(database: str = DATABASE) -> None:
    import asyncpg

    admin = await asyncpg.connect(f"{PG_SERVER}/postgres")
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {database} WITH (FORCE)")
    finally:
        await admin.close()


async def delete_redis_keys(prefix: str = PREFIX) -> int:
    from redis.asyncio import Redis

    redis = Redis.from_url(REDIS_URL)
    deleted = 0
    try:
        async for key in redis.scan_iter(match=f"*{prefix}*", count=1000):
            deleted += int(await redis.delete(key))
    finally:
        await redis.aclose()
    return deleted


# -- phases --------------------------------------------------------------------


async def enrol_phase(campaigns_dir: Path, learners: int = ENROL_LEARNERS) -> float:
    """10,000 attendees of one session enrolled into suivi-standard by end_session; learners/s."""
    import asyncpg
    from bench_enrolment import insert_learners

    from engine.services.catalog import Catalog
    from engine.services.enrolment import end_session
    from engine.store.db import create_engine, session_factory
    from engine.store.models import TrainingSession

    catalog = Catalog.load(campaigns_dir, ROOT / "content")
    assert "suivi-standard" in catalog.campaigns and "bench-dispatch" in catalog.campaigns, catalog.diagnostics
    conn = await asyncpg.connect(f"{PG_SERVER}/{DATABASE}")
    ends = datetime.now(UTC) + timedelta(days=1)  # the worker's tick must not end it first
    session_id = await conn.fetchval(
        "INSERT INTO training_session (title, starts_at, ends_at, timezone, campaign_names, created_at) "
        "VALUES ('Manager coach (bench)', $1, $2, 'Europe/Paris', '[\"suivi-standard\"]'::jsonb, now()) "
        "RETURNING id", ends - timedelta(hours=7), ends)
    await insert_learners(conn, 1, learners)
    await conn.execute(
        "INSERT INTO attendance (session_id, learner_id, created_at) "
        "SELECT $1, id, now() FROM learner ORDER BY id", session_id)
    await conn.close()

    engine = create_engine(f"{PG_SERVER}/{DATABASE}".replace("postgresql://", "postgresql+asyncpg://"))
    sessions = session_factory(engine)
    try:
        started = time.perf_counter()
        async with sessions() as session, session.begin():
            training = await session.get(TrainingSession, session_id)
            assert training is not None
            created = await end_session(session, training=training, campaigns=catalog.campaigns,
                                        library=catalog.library, now=datetime.now(UTC))
        elapsed = time.perf_counter() - started
    finally:
        await engine.dispose()
    assert len(created) == learners, len(created)
    conn = await asyncpg.connect(f"{PG_SERVER}/{DATABASE}")
    planned = await conn.fetchval("SELECT count(*) FROM delivery")
    await conn.close()
    rate = learners / elapsed
    print(f"Enrolment: {learners} learners into suivi-standard in {elapsed:.2f} s = "
          f"{rate:,.0f} learners/s ({planned:,} deliveries planned, {planned / elapsed:,.0f} rows/s)")
    return rate


async def seed_dispatch_learners(campaigns_dir: Path, count: int) -> None:
    """``count`` SMS-only learners, each enrolled (once) into the bench campaign."""
    import asyncpg

    from engine.services.catalog import Catalog, pin_version
    from engine.store.db import create_engine, session_factory

    catalog = Catalog.load(campaigns_dir, ROOT / "content")
    engine = create_engine(f"{PG_SERVER}/{DATABASE}".replace("postgresql://", "postgresql+asyncpg://"))
    try:
        async with session_factory(engine)() as session, session.begin():
            version = await pin_version(session, campaign=catalog.campaigns["bench-dispatch"],
                                        library=catalog.library)
    finally:
        await engine.dispose()
    conn = await asyncpg.connect(f"{PG_SERVER}/{DATABASE}")
    await conn.execute(
        "INSERT INTO learner (first_name, last_name, phone, locale, timezone, consent_sms, "
        "consent_whatsapp, consent_push, consent_email, at_risk, created_at) "
        "SELECT 'Yanis', 'Benali' || g, '+337' || lpad(g::text, 8, '0'), 'fr', 'Europe/Paris', "
        "true, true, true, true, false, now() FROM generate_series(1, $1) g", count)
    await conn.execute(
        "INSERT INTO enrollment (learner_id, campaign_name, anchor_at, campaign_version_id, status, "
        "created_at, updated_at) SELECT id, 'bench-dispatch', now(), $1, 'active', now(), now() "
        "FROM learner WHERE phone LIKE '+337%'", version.id)
    await conn.close()


async def fill_pending(total: int) -> int:
    """Planned deliveries due in the future until the table holds ``total`` planned rows."""
    import asyncpg

    conn = await asyncpg.connect(f"{PG_SERVER}/{DATABASE}")
    try:
        have = await conn.fetchval("SELECT count(*) FROM delivery WHERE status = 'planned'")
        missing = max(0, total - have)
        started = time.perf_counter()
        for start in range(0, missing, 250_000):
            n = min(250_000, missing - start)
            await conn.execute(
                "WITH e AS (SELECT array_agg(id ORDER BY id) ids, array_agg(learner_id ORDER BY id) ls "
                "FROM enrollment WHERE campaign_name = 'suivi-standard') "
                "INSERT INTO delivery (enrollment_id, learner_id, step_id, occurrence, kind, recipient, "
                "content_ref, channels, due_at, origin, status, attempts, created_at, updated_at) "
                "SELECT e.ids[1 + g % cardinality(e.ids)], e.ls[1 + g % cardinality(e.ids)], 'pending', g, "
                "'lesson', 'learner', 'management/feedback-sbi', '[\"sms\"]'::jsonb, "
                "now() + interval '20 days' + g * interval '1 second', 'plan', 'planned', 0, now(), now() "
                "FROM e, generate_series($1::int, $2::int) g", start + 1, start + n)
        await conn.execute("ANALYZE delivery")
        have = await conn.fetchval("SELECT count(*) FROM delivery WHERE status = 'planned'")
        print(f"Pending: {have:,} planned deliveries due in the future "
              f"({missing:,} inserted in {time.perf_counter() - started:.1f} s)")
        return int(have)
    finally:
        await conn.close()


async def plan_round(occurrence: int, count: int, first_due: datetime, rate: float | None) -> tuple[int, int]:
    """``count`` bench deliveries (occurrence ``occurrence``): all due at ``first_due``, or spread at ``rate``/s."""
    import asyncpg

    step = 0.0 if rate is None else 1.0 / rate
    conn = await asyncpg.connect(f"{PG_SERVER}/{DATABASE}")
    try:
        return tuple(await conn.fetchrow(
            "WITH new AS (INSERT INTO delivery (enrollment_id, learner_id, step_id, occurrence, kind, recipient, "
            "content_ref, channels, due_at, origin, status, attempts, created_at, updated_at) "
            "SELECT id, learner_id, 'tip', $1, 'lesson', 'learner', 'management/feedback-sbi', "
            "'[\"sms\"]'::jsonb, $2::timestamptz + (row_number() OVER (ORDER BY id) - 1) * $3::float8 * interval '1 second', "
            "'plan', 'planned', 0, now(), now() "
            "FROM (SELECT id, learner_id FROM enrollment WHERE campaign_name = 'bench-dispatch' "
            "ORDER BY id LIMIT $4) e RETURNING id) SELECT min(id), max(id) FROM new",
            occurrence, first_due, step, count))  # type: ignore[return-value]
    finally:
        await conn.close()


@dataclass
class RoundResult:
    sent: int
    other: dict[str, int]
    rate: float
    lags: list[float]
    cpu: dict[str, float] = field(default_factory=dict)
    #: CPU seconds the worker process spent per delivery sent (load-independent, unlike rates).
    worker_cpu_per_send: float = float("nan")
    #: The same less the worker's idle CPU rate (ticks, polling) over the round's duration:
    #: what each delivery adds, which a slow (loaded) round does not inflate.
    worker_marginal_per_send: float = float("nan")

    def cpu_text(self) -> str:
        return ", ".join(f"{name} {share:.0%}" for name, share in self.cpu.items())

    def pct(self, q: float) -> float:
        ordered = sorted(self.lags)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def wait_round(ids: tuple[int, int], first_due: datetime, timeout: float) -> RoundResult:
    """Polls the round's rows by primary key range (cheap next to the worker's own queries)."""
    import asyncpg

    conn = await asyncpg.connect(f"{PG_SERVER}/{DATABASE}")
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            open_ = await conn.fetchval(
                "SELECT count(*) FROM delivery WHERE id BETWEEN $1 AND $2 "
                "AND status IN ('planned', 'queued', 'sending')", *ids)
            if open_ == 0:
                break
            await asyncio.sleep(0.5)
        rows = await conn.fetch(
            "SELECT status, due_at, sent_at FROM delivery WHERE id BETWEEN $1 AND $2", *ids)
    finally:
        await conn.close()
    sent = [r for r in rows if r["status"] == "sent"]
    other: dict[str, int] = {}
    for r in rows:
        if r["status"] != "sent":
            other[r["status"]] = other.get(r["status"], 0) + 1
    last = max((r["sent_at"] for r in sent), default=first_due)
    span = max((last - first_due).total_seconds(), 1e-6)
    return RoundResult(len(sent), other, len(sent) / span,
                       [(r["sent_at"] - r["due_at"]).total_seconds() for r in sent])


async def bare_loop(port: int, count: int, concurrency: int, body: str) -> tuple[float, float]:
    """The same requests, same client and concurrency, to the same fake: no database, no queue."""
    from engine.channels.base import OutboundMessage
    from engine.channels.twilio import TwilioChannel, TwilioConfig

    channel = TwilioChannel(TwilioConfig(ACCOUNT_SID, AUTH_TOKEN, messaging_service_sid=SERVICE_SID,
                                         status_callback_base="http://127.0.0.1:9",
                                         api_base=f"http://127.0.0.1:{port}", concurrency=concurrency))
    messages = [OutboundMessage(delivery_id=i, channel="sms", to=f"+338{i:08d}", body=body)
                for i in range(1, count + 1)]
    try:
        await channel.send(messages[0])  # connect
        started, cpu = time.perf_counter(), time.process_time()
        results = await channel.send_many(messages)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        await channel.aclose()
    accepted = sum(r.accepted for r in results)
    assert accepted == count, f"bare loop: {accepted}/{count} accepted"
    return count / elapsed, cpu / count


async def sample_body() -> str:
    import asyncpg

    conn = await asyncpg.connect(f"{PG_SERVER}/{DATABASE}")
    try:
        rendered = await conn.fetchval(
            "SELECT rendered->>'body' FROM delivery WHERE status = 'sent' ORDER BY id DESC LIMIT 1")
    finally:
        await conn.close()
    return str(rendered or "x" * 300)


# -- driver --------------------------------------------------------------------


async def drive(args: argparse.Namespace, port: int, campaigns_dir: Path, sampler: RssSampler,
                pids: dict[str, int]) -> None:
    sampler.phase = "idle worker, empty database"
    await asyncio.sleep(3)
    sampler.phase = "enrolment (driver process)"
    if args.learners:
        await enrol_phase(campaigns_dir, args.learners)
    await seed_dispatch_learners(campaigns_dir, max(args.burst, int(args.rate * args.seconds)))
    sampler.phase = "filling pending rows"
    if args.pending:
        await fill_pending(args.pending)
    sampler.phase = f"ticking over {args.pending:,} pending"
    await asyncio.sleep(args.idle)

    occurrence = 0

    async def engine_round(count: int, rate: float | None, label: str) -> RoundResult:
        nonlocal occurrence
        occurrence += 1
        idle_cpu, idle_started = cpu_seconds(pids["worker"]), time.monotonic()
        await asyncio.sleep(2)  # the worker only ticks: its fixed cost per second
        idle_rate = (cpu_seconds(pids["worker"]) - idle_cpu) / (time.monotonic() - idle_started)
        first_due = datetime.now(UTC) + timedelta(seconds=1)
        ids = await plan_round(occurrence, count, first_due, rate)
        sampler.phase = label
        expected = count / (rate or 1000)
        cpu = {name: cpu_seconds(pid) for name, pid in pids.items()}
        pg, machine = postgres_cpu(), machine_busy()
        started = time.monotonic()
        result = await wait_round(ids, first_due, timeout=120 + 3 * expected)
        wall = time.monotonic() - started
        result.cpu = {name: (cpu_seconds(pid) - cpu[name]) / wall for name, pid in pids.items()}
        worker_cpu = cpu_seconds(pids["worker"]) - cpu["worker"]
        result.worker_cpu_per_send = worker_cpu / max(result.sent, 1)
        result.worker_marginal_per_send = max(worker_cpu - idle_rate * wall, 0.0) / max(result.sent, 1)
        result.cpu["postgres"] = (postgres_cpu() - pg) / wall
        busy, total = machine_busy()
        result.cpu["machine (2 cores)"] = (busy - machine[0]) / max(total - machine[1], 1)
        sampler.phase = f"between rounds ({args.pending:,} pending)"
        return result

    warm = await engine_round(500, None, "dispatch warm-up")
    print(f"Warm-up: {warm.sent} sent, other {warm.other}")
    body = await sample_body()
    print(f"Message body: {len(body)} characters")

    bare: list[float] = []
    bare_cpu: list[float] = []
    engine: list[RoundResult] = []
    from engine.services.scheduler import BATCH_SIZE

    print(f"\nThroughput, {args.burst} deliveries due at once, A B A B (Twilio concurrency {args.concurrency}, "
          f"max_jobs {args.max_jobs}, batch {args.batch_size or BATCH_SIZE}):")
    for round_ in range(args.rounds):
        sampler.phase = "bare loop (driver process)"
        rate, per_request = await bare_loop(port, args.burst, args.concurrency, body)
        bare.append(rate)
        bare_cpu.append(per_request)
        print(f"  round {round_ + 1} A bare loop : {bare[-1]:8,.0f} requests/s, "
              f"{per_request * 1e6:,.0f} µs CPU per request (load {os.getloadavg()[0]:.1f})")
        await asyncio.sleep(1)
        result = await engine_round(args.burst, None, "dispatch burst")
        engine.append(result)
        print(f"  round {round_ + 1} B engine    : {result.rate:8,.0f} deliveries/s due->accepted "
              f"({result.sent} sent{', other ' + str(result.other) if result.other else ''}; "
              f"lag p50 {result.pct(0.5):.2f} s, p99 {result.pct(0.99):.2f} s; "
              f"worker {result.worker_cpu_per_send * 1e6:,.0f} µs CPU per delivery "
              f"({result.worker_marginal_per_send * 1e6:,.0f} µs beyond idle ticking); CPU {result.cpu_text()}; "
              f"load {os.getloadavg()[0]:.1f})")
        await asyncio.sleep(1)
    a, b = statistics.median(bare), statistics.median(r.rate for r in engine)
    print(f"  median: bare {a:,.0f}/s, engine {b:,.0f}/s, ratio engine/bare {b / a:.2f}")
    ca, cb = statistics.median(bare_cpu), statistics.median(r.worker_cpu_per_send for r in engine)
    cm = statistics.median(r.worker_marginal_per_send for r in engine)
    print(f"  median CPU per send: bare loop {ca * 1e6:,.0f} µs, engine worker {cb * 1e6:,.0f} µs, "
          f"{cm * 1e6:,.0f} µs beyond idle ticking (ratio bare/engine {ca / cb:.2f}, {ca / cm:.2f} beyond idle: "
          f"the throughput ratio a CPU-bound worker would reach on a free core)")

    total = int(args.rate * args.seconds)
    print(f"\nLag at a paced {args.rate:,.0f} deliveries/s for {args.seconds:.0f} s ({total} deliveries):")
    paced = await engine_round(total, args.rate, f"dispatch paced {args.rate:.0f}/s")
    print(f"  {paced.sent} sent{', other ' + str(paced.other) if paced.other else ''}; "
          f"achieved {paced.rate:,.0f}/s; lag p50 {paced.pct(0.5):.3f} s, p90 {paced.pct(0.9):.3f} s, "
          f"p99 {paced.pct(0.99):.3f} s, max {max(paced.lags):.3f} s; "
          f"worker {paced.worker_cpu_per_send * 1e6:,.0f} µs CPU per delivery "
          f"({paced.worker_marginal_per_send * 1e6:,.0f} µs beyond idle ticking)")
    print(f"  CPU (of one core): {paced.cpu_text()}; load {os.getloadavg()[0]:.1f}")
    sampler.phase = f"ticking over {args.pending:,} pending (end)"
    await asyncio.sleep(args.idle)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--role", choices=["driver", "fake", "worker"], default="driver")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--burst", type=int, default=6000)
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--learners", type=int, default=ENROL_LEARNERS, help="enrolled into suivi-standard")
    parser.add_argument("--pending", type=int, default=1_000_000)
    parser.add_argument("--idle", type=float, default=10, help="seconds of ticks over the pending rows")
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--max-jobs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=0, help="deliveries per send job (0: the engine's)")
    parser.add_argument("--profile", default="", help="cProfile the worker into this file (pstats)")
    args = parser.parse_args()
    if args.role == "fake":
        run_fake(args.port)
        return 0
    if args.role == "worker":
        run_worker(args.max_jobs, args.batch_size, args.profile)
        return 0

    port = _free_port()
    campaigns_dir = Path(tempfile.mkdtemp(prefix="ancrage-bench-"))
    shutil.copy(ROOT / "campaigns" / "suivi-standard.yaml", campaigns_dir)
    (campaigns_dir / "bench-dispatch.yaml").write_text(BENCH_CAMPAIGN, encoding="utf-8")
    env = {**os.environ, "DATABASE_URL": f"{PG_SERVER}/{DATABASE}", "REDIS_URL": REDIS_URL,
           "ANCRAGE_REDIS_PREFIX": PREFIX, "ANCRAGE_SANDBOX": "false",
           "ANCRAGE_SECRET_KEY": secrets.token_urlsafe(32),
           "ANCRAGE_CAMPAIGNS_DIR": str(campaigns_dir), "ANCRAGE_CONTENT_DIR": str(ROOT / "content"),
           "ANCRAGE_TWILIO_ACCOUNT_SID": ACCOUNT_SID, "ANCRAGE_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
           "ANCRAGE_TWILIO_MESSAGING_SERVICE_SID": SERVICE_SID,
           "ANCRAGE_TWILIO_API_BASE": f"http://127.0.0.1:{port}",
           "ANCRAGE_TWILIO_RATE_PER_SECOND": "10000",
           "ANCRAGE_TWILIO_CONCURRENCY": str(args.concurrency),
           "ANCRAGE_PUBLIC_URL": "http://127.0.0.1:9"}
    me = [sys.executable, str(Path(__file__).resolve())]
    children: list[subprocess.Popen[bytes]] = []
    sampler: RssSampler | None = None
    try:
        asyncio.run(create_database())
        asyncio.run(delete_redis_keys())
        children.append(subprocess.Popen([*me, "--role", "fake", "--port", str(port)], env=env))
        _wait_port(port)
        worker = subprocess.Popen([*me, "--role", "worker", "--max-jobs", str(args.max_jobs),
                                   "--batch-size", str(args.batch_size), "--profile", args.profile], env=env)
        children.append(worker)
        print(f"PostgreSQL {PG_SERVER}/{DATABASE}, Redis {REDIS_URL} (prefix {PREFIX}), "
              f"fake Twilio pid {children[0].pid} on :{port}, worker pid {worker.pid}")
        sampler = RssSampler(worker.pid)
        sampler.start()
        print(f"Load average before: {os.getloadavg()[0]:.2f} (2 cores)")
        asyncio.run(drive(args, port, campaigns_dir, sampler, {"worker": worker.pid, "fake": children[0].pid}))
        print(f"Load average after: {os.getloadavg()[0]:.2f}")
    finally:
        if sampler is not None:
            sampler.stop()
            sampler.report()
        for child in reversed(children):
            child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.kill()
        asyncio.run(drop_database())
        deleted = asyncio.run(delete_redis_keys())
        shutil.rmtree(campaigns_dir, ignore_errors=True)
        print(f"\nCleaned up: database {DATABASE} dropped, {deleted} Redis keys deleted.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
