"""Time from a learner's reply to its feedback SMS at the provider (p50, p99).

Real parts on loopback: the web app under uvicorn (its own process), an
``ancrage worker`` (its own process), PostgreSQL and Redis, the fake Twilio
(real wire format; in this process, which stamps arrivals). Learners first get
a quiz question through the engine; then each answers with a Twilio-signed
"B" and we time until the feedback (grading + next question) reaches Twilio.

    .venv/bin/python bench/bench_reply_latency.py [--learners 200] [--rate 20]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import httpx
import redis
from twilio.request_validator import RequestValidator

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.fakes.fake_twilio import FakeTwilio  # noqa: E402
from engine.fakes.server import free_port, run_in_thread  # noqa: E402

DB = "ancrage_bench_reply"
PREFIX = "ancrage-bench-reply"
CAMPAIGN = """
campaign: bench-reply
title: Bench reply
defaults:
  channels: [sms]
  window: {days: [mon, tue, wed, thu, fri, sat, sun], from: "00:00", to: "23:59", holidays: true}
steps:
  - id: quiz
    at: +1min
    quiz: management/quiz-sbi
    ask: 2
"""


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def _admin(sql: str) -> None:
    connection = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


async def _seed(env: dict[str, str], learners: int) -> None:
    os.environ.update(env)
    from engine.services.operations import add_session, enrol_csv
    from engine.settings import Settings

    settings = Settings()
    ended = datetime.now(UTC) - timedelta(minutes=5)
    session_id = await add_session(settings, title="Bench", starts_at=None, ends_at=ended,
                                   timezone="Europe/Paris", campaigns=["bench-reply"])
    assert isinstance(session_id, int)
    rows = "\n".join(f"L{i},Bench,+3361{i:07d}" for i in range(learners))
    report = await enrol_csv(settings, session_id=session_id, csv_text=f"first_name,last_name,phone\n{rows}\n",
                             campaign=None)
    assert not report.errors, report.errors


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--learners", type=int, default=200)
    parser.add_argument("--rate", type=float, default=20.0, help="replies per second")
    parser.add_argument("--keep", action="store_true", help="keep the database for inspection")
    args = parser.parse_args()

    fake = FakeTwilio(send_callbacks=False)
    arrivals: dict[str, list[float]] = {}
    stop = threading.Event()

    def stamp() -> None:  # the fake stores messages in order; stamp each when first seen
        seen = 0
        while not stop.is_set():
            while seen < len(fake.messages):
                arrivals.setdefault(fake.messages[seen]["to"], []).append(time.monotonic())
                seen += 1
            time.sleep(0.002)

    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)'))
    asyncio.run(_admin(f'CREATE DATABASE "{DB}"'))
    workdir = Path(tempfile.mkdtemp(prefix="bench-reply-"))
    (workdir / "campaigns").mkdir()
    (workdir / "campaigns" / "bench.yaml").write_text(CAMPAIGN, encoding="utf-8")
    port = free_port()
    procs: list[subprocess.Popen[bytes]] = []
    threading.Thread(target=stamp, daemon=True).start()
    try:
        with run_in_thread(fake.app) as twilio_url:
            env = {**os.environ, "DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/{DB}",
                   "REDIS_URL": "redis://127.0.0.1:6379/0", "ANCRAGE_REDIS_PREFIX": PREFIX,
                   "ANCRAGE_SANDBOX": "false", "ANCRAGE_SECRET_KEY": secrets.token_urlsafe(32),
                   "ANCRAGE_TWILIO_ACCOUNT_SID": fake.account_sid,
                   "ANCRAGE_TWILIO_AUTH_TOKEN": fake.auth_token, "ANCRAGE_TWILIO_FROM": "+33700000000",
                   "ANCRAGE_TWILIO_API_BASE": twilio_url, "ANCRAGE_TWILIO_RATE_PER_SECOND": "1000",
                   "ANCRAGE_PUBLIC_URL": f"http://127.0.0.1:{port}",
                   "ANCRAGE_CAMPAIGNS_DIR": str(workdir / "campaigns"), "ANCRAGE_DATA_DIR": str(workdir)}
            asyncio.run(_seed(env, args.learners))
            procs.append(subprocess.Popen([sys.executable, "-m", "engine.cli", "worker"], env=env, cwd=ROOT,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            procs.append(subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "webhooks.asgi:app",
                                           "--port", str(port), "--log-level", "warning"], env=env, cwd=ROOT,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            deadline = time.monotonic() + 60
            while sum(len(v) for v in arrivals.values()) < args.learners and time.monotonic() < deadline:
                time.sleep(0.1)
            asked = {to for to, stamps in arrivals.items() if stamps}
            print(f"quiz questions delivered: {len(asked)}/{args.learners}")
            latencies = asyncio.run(_reply_all(sorted(asked), arrivals, port, fake.auth_token, args.rate))
    finally:
        stop.set()
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)
        if not args.keep:
            asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)'))
        client = redis.Redis.from_url("redis://127.0.0.1:6379/0")
        keys = list(client.scan_iter(match=f"*{PREFIX}*"))
        if keys:
            client.delete(*keys)
    if latencies:
        ms = [v * 1000 for v in latencies]
        print(f"reply -> feedback SMS at the provider: n={len(ms)} p50={_percentile(ms, 0.5):.0f} ms "
              f"p99={_percentile(ms, 0.99):.0f} ms mean={statistics.mean(ms):.0f} ms max={max(ms):.0f} ms")


async def _reply_all(phones: list[str], arrivals: dict[str, list[float]], port: int, token: str,
                     rate: float) -> list[float]:
    url = f"http://127.0.0.1:{port}/webhooks/twilio/sms"
    validator = RequestValidator(token)
    sent_at: dict[str, float] = {}
    async with httpx.AsyncClient(timeout=10) as client:
        for _ in range(100):  # wait for the app
            try:
                if (await client.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200:
                    break
            except httpx.HTTPError:
                await asyncio.sleep(0.1)
        for phone in phones:
            form = {"MessageSid": "SM" + secrets.token_hex(16), "AccountSid": "AC" + "0" * 32, "From": phone,
                    "To": "+33700000000", "Body": "B", "NumMedia": "0"}
            sent_at[phone] = time.monotonic()
            response = await client.post(url, data=form,
                                         headers={"X-Twilio-Signature": validator.compute_signature(url, form)})
            assert response.status_code == 200, response.text
            await asyncio.sleep(1 / rate)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(len(arrivals.get(p, [])) < 2 for p in phones):
        await asyncio.sleep(0.05)
    return [arrivals[p][1] - sent_at[p] for p in phones if len(arrivals.get(p, [])) >= 2]


if __name__ == "__main__":
    main()
