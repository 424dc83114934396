"""Dashboard page times on a big organisation: 200 sessions × 50 learners with full histories.

Seeds a private PostgreSQL database with :func:`engine.demo.org.seed_org` (a
template played through the engine, then copied in bulk), serves the real app
with uvicorn (one worker, loopback), logs in as the quality manager (who sees
every session: the heaviest overview) and times, one request at a time, the
overview, one session page and one learner page, each alternated with the
``/healthz`` baseline on the same server (A B A B). Prints median and p95 next
to the targets (overview < 500 ms, session < 200 ms, learner < 100 ms).

When the dashboard's routes are missing (its branch not merged yet) it says so,
times the read models it finds in ``engine.reports`` in-process instead, and
exits with status 2.

usage: .venv/bin/python bench/bench_dashboard.py [--sessions 200] [--learners 50] [--requests 30]
       [--keep-db NAME | --reuse-db NAME] [--read-models]

``--keep-db NAME`` seeds into database NAME and keeps it; ``--reuse-db NAME`` times an
already seeded NAME without seeding (to iterate on the read models: seeding takes minutes);
``--read-models`` times the read models in-process instead of the pages over HTTP.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import re
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG_SERVER = os.environ.get("ANCRAGE_BENCH_PG", "postgresql://postgres@127.0.0.1:5432")
DATABASE = "ancrage_bench_dashboard"
PASSWORD = "demo-ancrage"
TARGETS_MS = {"overview": 500.0, "session": 200.0, "learner": 100.0}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def _create_database(name: str) -> None:
    import asyncpg

    admin = await asyncpg.connect(f"{PG_SERVER}/postgres")
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()


async def _drop_database(name: str) -> None:
    import asyncpg

    admin = await asyncpg.connect(f"{PG_SERVER}/postgres")
    try:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    finally:
        await admin.close()


async def seed(url: str, sessions: int, learners: int) -> tuple[int, int]:
    """The organisation; returns (a session id, a learner id) with full histories to time."""
    from engine.demo.org import seed_org
    from engine.services.bootstrap import build_runtime, close_runtime
    from engine.services.catalog import Catalog
    from engine.settings import Settings

    settings = Settings(database_url=url, sandbox=True)
    rt = await build_runtime(settings)
    try:
        report = await seed_org(rt, Catalog.load(settings.campaigns_dir, settings.content_dir),
                                sessions=sessions, learners=learners, until=datetime.now(UTC))
        print(f"seeded {report.sessions} sessions, {report.learners} learners: template played in "
              f"{report.replay_seconds:.0f} s, {report.rows:,} rows copied in {report.copy_seconds:.0f} s", flush=True)
    finally:
        await close_runtime(rt)
    return await subjects(url)


async def subjects(url: str) -> tuple[int, int]:
    """The oldest session (full history) and the learner with the most replies."""
    from sqlalchemy import func
    from sqlmodel import col, select

    from engine.services.bootstrap import build_runtime, close_runtime
    from engine.settings import Settings
    from engine.store.models import Reply, TrainingSession

    rt = await build_runtime(Settings(database_url=url, sandbox=True))
    try:
        async with rt.sessions() as db:
            oldest = (await db.exec(select(TrainingSession.id).order_by(col(TrainingSession.ends_at)))).first()
            busiest = (await db.exec(select(Reply.learner_id).group_by(col(Reply.learner_id))
                                     .order_by(func.count().desc()).limit(1))).first()
        return int(oldest or 0), int(busiest or 0)
    finally:
        await close_runtime(rt)


def time_requests(client: Any, path: str, count: int) -> list[float]:
    times = []
    for _ in range(count):
        started = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - started) * 1000)
        if response.status_code != 200:
            raise SystemExit(f"GET {path}: HTTP {response.status_code}")
    return times


def login(client: Any, email: str) -> None:
    form = client.get("/dashboard/login")
    if form.status_code == 404:
        raise LookupError("no /dashboard/login route")
    fields = {"email": email, "password": PASSWORD}
    for name, value in re.findall(r'name="([^"]*csrf[^"]*)"\s+value="([^"]*)"', form.text):
        fields[name] = value
    done = client.post("/dashboard/login", data=fields, follow_redirects=False)
    if done.status_code not in (200, 302, 303) or client.get("/dashboard/").status_code != 200:
        raise SystemExit(f"login as {email} failed: HTTP {done.status_code}")


def report(name: str, page: list[float], baseline: list[float]) -> None:
    median, p95 = statistics.median(page), percentile(page, 0.95)
    base = statistics.median(baseline)
    verdict = "ok" if p95 < TARGETS_MS[name] else "over target"
    print(f"{name:<9} median {median:7.1f} ms  p95 {p95:7.1f} ms  target < {TARGETS_MS[name]:.0f} ms ({verdict})"
          f"  | /healthz median {base:5.1f} ms, ratio ×{median / base:.0f}  | load {os.getloadavg()[0]:.1f}",
          flush=True)


def bench_http(base: str, pages: dict[str, str], count: int, rounds: int) -> None:
    import httpx

    with httpx.Client(base_url=base, timeout=60) as client:
        login(client, "qualite@bench.local")
        for name, path in pages.items():
            time_requests(client, path, 2)  # warm-up (caches, first query plans)
            page: list[float] = []
            baseline: list[float] = []
            for _ in range(rounds):  # A B A B
                page += time_requests(client, path, count // rounds)
                baseline += time_requests(client, "/healthz", count // rounds)
            report(name, page, baseline)


async def bench_read_models(url: str, session_id: int, learner_id: int, count: int) -> bool:
    """Times the dashboard's read models in-process, if this tree has them."""
    try:
        overview = importlib.import_module("engine.reports.overview").overview
        session_page = importlib.import_module("engine.reports.session_page").session_page
        learner_page = importlib.import_module("engine.reports.learner_page").learner_page
        viewer_type = importlib.import_module("engine.reports.scope").Viewer
    except (ImportError, AttributeError) as exc:
        print(f"no read models to time either ({exc})", flush=True)
        return False
    from sqlmodel import select

    from engine.services.bootstrap import build_runtime, close_runtime
    from engine.settings import Settings
    from engine.store.models import Trainer

    rt = await build_runtime(Settings(database_url=url, sandbox=True))
    try:
        async with rt.sessions() as db:
            trainer = (await db.exec(select(Trainer).where(Trainer.email == "qualite@bench.local"))).one()
        viewer = viewer_type.of(trainer)
        now = datetime.now(UTC)
        calls: dict[str, Callable[[Any], Awaitable[Any]]] = {
            "overview": lambda db: overview(db, viewer, now=now),
            "session": lambda db: session_page(db, viewer, session_id, now=now),
            "learner": lambda db: learner_page(db, viewer, learner_id)}
        for name, call in calls.items():
            times: list[float] = []
            for _ in range(count):
                async with rt.sessions() as db:
                    started = time.perf_counter()
                    await call(db)
                    times.append((time.perf_counter() - started) * 1000)
            print(f"{name:<9} read model median {statistics.median(times):7.1f} ms  p95 "
                  f"{percentile(times, 0.95):7.1f} ms  target < {TARGETS_MS[name]:.0f} ms (in-process, no HTTP)",
                  flush=True)
    finally:
        await close_runtime(rt)
    return True


def wait_up(base: str, server: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit("uvicorn exited")
        try:
            with urllib.request.urlopen(f"{base}/healthz", timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("uvicorn did not start")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--learners", type=int, default=50)
    parser.add_argument("--requests", type=int, default=30, help="timed requests per page (and as many baseline)")
    parser.add_argument("--rounds", type=int, default=3, help="A B alternations per page")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--keep-db", metavar="NAME", help="seed into database NAME and keep it")
    parser.add_argument("--reuse-db", metavar="NAME", help="time the already seeded database NAME (no seeding)")
    parser.add_argument("--read-models", action="store_true", help="time the read models in-process, no HTTP")
    args = parser.parse_args()
    name = args.reuse_db or args.keep_db or DATABASE
    keep = args.keep or bool(args.keep_db or args.reuse_db)
    url = f"{PG_SERVER}/{name}"
    if not args.reuse_db:
        asyncio.run(_create_database(name))
    try:
        if args.reuse_db:
            session_id, learner_id = asyncio.run(subjects(url))
        else:
            session_id, learner_id = asyncio.run(seed(url, args.sessions, args.learners))
        if args.read_models:
            return 0 if asyncio.run(bench_read_models(url, session_id, learner_id, args.requests)) else 2
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {**os.environ, "DATABASE_URL": url, "ANCRAGE_SANDBOX": "true", "PYTHONPATH": str(ROOT)}
        env.pop("REDIS_URL", None)
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "webhooks.asgi:app", "--factory", "--host", "127.0.0.1",
             "--port", str(port), "--workers", "1", "--no-access-log", "--log-level", "warning"], env=env)
        try:
            wait_up(base, server)
            pages = {"overview": "/dashboard/", "session": f"/dashboard/sessions/{session_id}",
                     "learner": f"/dashboard/learners/{learner_id}"}
            try:
                bench_http(base, pages, args.requests, args.rounds)
            except LookupError:
                print("the dashboard's routes are missing (GET /dashboard/login is a 404): is the dashboard "
                      "branch merged? Timing the read models instead.", file=sys.stderr, flush=True)
                asyncio.run(bench_read_models(url, session_id, learner_id, args.requests))
                return 2
        finally:
            server.terminate()
            server.wait(timeout=10)
    finally:
        if not keep:
            asyncio.run(_drop_database(name))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
