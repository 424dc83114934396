"""Intake of signed Twilio inbound SMS, against a bare endpoint on the same server.

A real uvicorn (one worker, loopback, httptools + uvloop as in production)
serves the app on PostgreSQL (the production store, a private database
``ancrage_bench_hooks_<user>`` dropped at the end) or the embedded SQLite
store (``--store sqlite``), with a private Redis, so each accepted webhook
costs what it costs in production: signature check, the group-committed
INSERT ... ON CONFLICT DO NOTHING, one batched arq enqueue. ``wrk`` replays pre-signed requests
(``/work/shared/tools/wrk_signed_sms.py``), alternating the webhook (A) and a
bare route that only answers 200 (B), A B A B, as BENCHMARKING.md asks; then a
run paced near 500 req/s (wrk's ``delay()`` hook; wrk2 is not in Debian) for p99.

usage: .venv/bin/python bench/bench_webhooks.py [--store postgresql|sqlite|both] [--rounds 2]
       [--duration 10] [--profile out.prof]   (cProfile of the server process, written at its exit)

Run by uvicorn, this module's :func:`make_app` is the app plus the bare route.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import re
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOOL = Path("/work/shared/tools/wrk_signed_sms.py")
AUTH_TOKEN = "bench-auth-token"
SMS_PATH = "/webhooks/twilio/sms"
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
PG_DATABASE = "ancrage_bench_hooks_" + "".join(c for c in getpass.getuser() if c.isalnum())
BARE_PATH = "/bench/bare"


def make_app():  # type: ignore[no-untyped-def]
    """uvicorn factory: the real app, configured from ANCRAGE_* env, plus a bare route."""
    from fastapi import Response

    from engine.settings import Settings
    from webhooks.app import create_app

    app = create_app(Settings())

    @app.post(BARE_PATH, include_in_schema=False)
    async def bare() -> Response:
        return Response(status_code=200)

    return app


@dataclass
class WrkResult:
    requests: int
    seconds: float
    rps: float
    non_2xx: int
    p50_ms: float
    p99_ms: float


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def _ms(text: str) -> float:
    """wrk's ``1.23ms``, ``4.56s``, ``1.02m``; NaN for what it prints when it has no figure."""
    found = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    return float(found.group(1)) * _UNITS[found.group(2)] if found else float("nan")


def run_wrk(url: str, script: Path, *, connections: int, duration: int) -> WrkResult:
    out = subprocess.run(["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "-s", str(script),
                          "--latency", url], check=True, capture_output=True, text=True).stdout
    done = re.search(r"(\d+) requests in ([\d.]+)(ms|s)", out)
    assert done, out
    seconds = float(done.group(2)) / (1000 if done.group(3) == "ms" else 1)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return WrkResult(requests=int(done.group(1)), seconds=seconds,
                     rps=float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),  # type: ignore[union-attr]
                     non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
                     p50_ms=_ms(re.search(r"50%\s+(\S+)", out).group(1)),  # type: ignore[union-attr]
                     p99_ms=_ms(re.search(r"99%\s+(\S+)", out).group(1)))  # type: ignore[union-attr]


def signed_script(url: str, n: int, out: Path, *, path: str | None = None,
                  delay_ms: int | None = None) -> Path:
    subprocess.run([sys.executable, str(TOOL), url, AUTH_TOKEN, str(n), str(out)], check=True)
    text = out.read_text()
    if path is not None:  # same requests, sent to another route
        text = text.replace(f'"POST", "{SMS_PATH}"', f'"POST", "{path}"')
    if delay_ms is not None:
        text += f"delay = function() return {delay_ms} end\n"
    out.write_text(text)
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_up(base: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base + "/readyz", timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("server did not become ready")


async def _pg(database: str, statement: str) -> int:
    import asyncpg

    conn = await asyncpg.connect(f"{PG_SERVER}/{database}")
    try:
        return int(await conn.fetchval(statement) or 0)
    finally:
        await conn.close()


def count_events(store: str, db: Path) -> int:
    if store == "postgresql":
        return asyncio.run(_pg(PG_DATABASE, "SELECT count(*) FROM inbound_event"))
    with sqlite3.connect(db) as connection:
        return int(connection.execute("SELECT count(*) FROM inbound_event").fetchone()[0])


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process so far: per request, a figure the machine's load barely moves."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_load() -> str:
    return "load average " + " ".join(Path("/proc/loadavg").read_text().split()[:3])


def run_store(store: str, args: argparse.Namespace) -> None:
    """Webhook vs bare, A B A B, then the paced run, against one store."""
    from engine.redis_server import PrivateRedis

    with tempfile.TemporaryDirectory(prefix="anc-bench-", dir="/tmp") as folder:
        work = Path(folder)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        db = work / "ancrage.sqlite3"
        if store == "postgresql":
            asyncio.run(_pg("postgres", f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)"))
            asyncio.run(_pg("postgres", f"CREATE DATABASE {PG_DATABASE}"))
        with PrivateRedis(work / "redis") as redis:
            env = {**os.environ, "ANCRAGE_DATA_DIR": str(work), "REDIS_URL": redis.url,
                   "ANCRAGE_PUBLIC_URL": base, "ANCRAGE_TWILIO_AUTH_TOKEN": AUTH_TOKEN,
                   "ANCRAGE_REDIS_PREFIX": "bench", "PYTHONPATH": str(ROOT)}
            env.pop("DATABASE_URL", None)
            if store == "postgresql":
                env["DATABASE_URL"] = f"{PG_SERVER}/{PG_DATABASE}"
            profile = ["-m", "cProfile", "-o", args.profile] if args.profile else []
            server = subprocess.Popen(
                [sys.executable, *profile, "-m", "uvicorn", "bench_webhooks:make_app", "--factory",
                 "--app-dir", str(ROOT / "bench"), "--host", "127.0.0.1", "--port", str(port),
                 "--workers", "1", "--no-access-log", "--log-level", "warning",
                 "--http", args.http, "--loop", args.loop], env=env)
            print(f"[{store}] server pid {server.pid}", flush=True)
            try:
                wait_up(base)
                print(f"[{store}] server ready", flush=True)
                sms_url = base + SMS_PATH
                bare = signed_script(sms_url, 2_000, work / "bare.lua", path=BARE_PATH)
                results: dict[str, list[WrkResult]] = {"webhook": [], "bare": []}
                cpu: dict[str, list[float]] = {"webhook": [], "bare": []}
                accepted: list[float] = []
                loads: list[str] = []
                for round_ in range(args.rounds):
                    script = signed_script(sms_url, args.per_script, work / f"sms{round_}.lua")
                    before, cpu0 = count_events(store, db), cpu_seconds(server.pid)
                    result = run_wrk(sms_url, script, connections=args.connections,
                                     duration=args.duration)
                    cpu["webhook"].append((cpu_seconds(server.pid) - cpu0) / max(1, result.requests))
                    stored = count_events(store, db) - before
                    # requests in flight when wrk stops are still stored: >=, not ==
                    assert stored >= result.requests - result.non_2xx, (stored, result)
                    accepted.append(stored / result.seconds)
                    results["webhook"].append(result)
                    cpu0 = cpu_seconds(server.pid)
                    results["bare"].append(run_wrk(base + BARE_PATH, bare,
                                                   connections=args.connections,
                                                   duration=args.duration))
                    cpu["bare"].append((cpu_seconds(server.pid) - cpu0)
                                       / max(1, results["bare"][-1].requests))
                    loads.append(machine_load())
                    print(f"[{store}] round {round_ + 1}: webhook {accepted[-1]:.0f} accepted/s "
                          f"(p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms, "
                          f"non-2xx {result.non_2xx}, {1e6 * cpu['webhook'][-1]:.0f} µs CPU/request) "
                          f"| bare {results['bare'][-1].rps:.0f} req/s "
                          f"({1e6 * cpu['bare'][-1]:.0f} µs CPU/request) "
                          f"| {loads[-1]}", flush=True)
                paced = signed_script(sms_url, 10_000, work / "paced.lua", delay_ms=18)
                # 12 connections, each waiting 18 ms before its next request: ~500 req/s
                before = count_events(store, db)
                steady = run_wrk(sms_url, paced, connections=12, duration=args.duration)
                paced_stored = count_events(store, db) - before
                assert paced_stored >= steady.requests - steady.non_2xx, (paced_stored, steady)
                paced_load = machine_load()
            finally:
                server.terminate()
                server.wait(timeout=30)
                if store == "postgresql":
                    asyncio.run(_pg("postgres", f"DROP DATABASE IF EXISTS {PG_DATABASE} WITH (FORCE)"))
        webhook_rps = statistics.median(accepted)
        bare_rps = statistics.median(r.rps for r in results["bare"])
        print(f"\n[{store}] uvicorn --http {args.http} --loop {args.loop}, one worker")
        print(f"signed inbound SMS accepted/s (median of {args.rounds}): {webhook_rps:.0f}")
        print(f"  p50 {statistics.median(r.p50_ms for r in results['webhook']):.2f} ms, "
              f"p99 {statistics.median(r.p99_ms for r in results['webhook']):.2f} ms "
              f"at -c{args.connections}")
        print(f"bare endpoint req/s (median): {bare_rps:.0f}")
        print(f"ratio webhook/bare: {webhook_rps / bare_rps:.0%}")
        cpu_webhook, cpu_bare = statistics.median(cpu["webhook"]), statistics.median(cpu["bare"])
        print(f"server CPU per request (median): webhook {1e6 * cpu_webhook:.0f} µs, bare "
              f"{1e6 * cpu_bare:.0f} µs; ratio bare/webhook {cpu_bare / cpu_webhook:.0%} "
              f"(the throughput ratio of a CPU-bound server, whatever the machine's load)")
        print(f"paced run: {steady.rps:.0f} req/s, p50 {steady.p50_ms:.2f} ms, "
              f"p99 {steady.p99_ms:.2f} ms, non-2xx {steady.non_2xx} ({paced_load})\n", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", choices=("postgresql", "sqlite", "both"), default="postgresql")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--per-script", type=int, default=40_000)
    parser.add_argument("--http", default="httptools", help="uvicorn HTTP parser (production: httptools)")
    parser.add_argument("--loop", default="uvloop", help="uvicorn event loop (production: uvloop)")
    parser.add_argument("--profile", default=None, help="write a cProfile of the server here")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    for store in ("postgresql", "sqlite") if args.store == "both" else (args.store,):
        run_store(store, args)


if __name__ == "__main__":
    main()
