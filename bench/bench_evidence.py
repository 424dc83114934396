"""Evidence pack: time and peak memory for one year of an organisation with 200 sessions
and 10,000 learners (target: < 20 s, < 500 MB), next to a baseline.

The history is seeded once (``engine.demo.quality_history``: hot and cold surveys with
reminders, quiz answers, review cards, tickets) into a SQLite file, or into PostgreSQL
with ``--pg`` (a private database ``ancrage_bench_evidence``, dropped at the end). Then,
alternating A B A B, each in a fresh process so peak memory is its own:

- **A, baseline**: read the same tables the pack reads (``SELECT`` of every column the
  loader uses) and write them to CSV, nothing computed: the floor of any export;
- **B, the pack**: ``build_pack`` (loader, every indicator overall and per programme,
  monthly trends, PDF with WeasyPrint, XLSX, CSV) for the year.

Printed: seconds and peak RSS (MB) per run with the 1-minute load average before it, medians,
and the ratio B/A. Profile with ``python -m cProfile -o pack.prof bench/bench_evidence.py --child pack --url URL``.

usage: .venv/bin/python bench/bench_evidence.py [--sessions 200] [--learners 10000] [--rounds 2] [--pg]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime
from pathlib import Path

YEAR_START = datetime(2026, 1, 5, 16, tzinfo=UTC)
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"
PG_NAME = "ancrage_bench_evidence"


async def _seed(url: str, sessions: int, learners: int) -> None:
    from datetime import timedelta

    from engine.demo.quality_history import seed_history
    from engine.store.db import create_engine
    from engine.store.migrate import upgrade_async

    engine = create_engine(url)
    try:
        await upgrade_async(engine)
        per_session = max(1, round(learners / sessions)) + 1  # learner 0 is shared with the previous session
        await seed_history(engine, sessions=sessions, learners_per_session=per_session, first_end=YEAR_START,
                           every=timedelta(days=360 / sessions))
    finally:
        await engine.dispose()


async def _run(url: str, mode: str) -> dict[str, float]:
    from engine.core.indicators import Period
    from engine.reports.evidence.pack import build_pack
    from engine.store.db import create_engine, session_factory

    engine = create_engine(url)
    started = time.perf_counter()
    try:
        async with session_factory(engine)() as session:
            if mode == "pack":
                pack = await build_pack(session, period=Period(date(2026, 1, 1), date(2026, 12, 31)),
                                        now=datetime(2026, 12, 31, 12, tzinfo=UTC))
                size = len(pack.zip_bytes)
            else:
                size = await _baseline(session)
    finally:
        await engine.dispose()
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"seconds": seconds, "peak_mb": peak_mb, "bytes": size}


async def _baseline(session: object) -> int:
    """Reads every table the pack reads and writes it as CSV: no computation."""
    from sqlalchemy import text

    out = io.StringIO()
    writer = csv.writer(out, delimiter=";")
    for table in ("training_session", "learner", "attendance", "enrollment", "campaign_version", "reply",
                  "prompt", "delivery", "ticket", "review_card", "improvement_action", "testimonial"):
        result = await session.execute(text(f"SELECT * FROM {table}"))  # type: ignore[attr-defined]
        writer.writerows(result.all())
    return len(out.getvalue())


def _child(url: str, mode: str) -> dict[str, float]:
    done = subprocess.run([sys.executable, __file__, "--child", mode, "--url", url], capture_output=True,
                          text=True, check=True)
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--learners", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--pg", action="store_true", help="PostgreSQL instead of a SQLite file")
    parser.add_argument("--child", choices=("pack", "baseline"))
    parser.add_argument("--url")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(asyncio.run(_run(args.url, args.child))))
        return 0
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite+aiosqlite:///{Path(folder) / 'evidence.db'}"
        if args.pg:
            subprocess.run(["psql", PG_ADMIN, "-qc", f"DROP DATABASE IF EXISTS {PG_NAME}"], check=True)
            subprocess.run(["psql", PG_ADMIN, "-qc", f"CREATE DATABASE {PG_NAME}"], check=True)
            url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{PG_NAME}"
        try:
            started = time.perf_counter()
            asyncio.run(_seed(url, args.sessions, args.learners))
            print(f"seeded {args.sessions} sessions, ~{args.learners} learners in {time.perf_counter() - started:.1f} s"
                  f" ({'PostgreSQL' if args.pg else 'SQLite'})")
            runs: dict[str, list[dict[str, float]]] = {"baseline": [], "pack": []}
            for round_number in range(1, args.rounds + 1):
                for mode in ("baseline", "pack"):
                    load = os.getloadavg()[0]
                    figures = _child(url, mode)
                    runs[mode].append(figures)
                    print(f"round {round_number} {mode:8s} {figures['seconds']:6.2f} s  peak {figures['peak_mb']:6.0f} MB"
                          f"  output {figures['bytes'] / 1024:,.0f} KiB  (load average {load:.1f})", flush=True)
            a = statistics.median(r["seconds"] for r in runs["baseline"])
            b = statistics.median(r["seconds"] for r in runs["pack"])
            peak = max(r["peak_mb"] for r in runs["pack"])
            print(f"median baseline {a:.2f} s, pack {b:.2f} s (x{b / a:.1f}); pack peak {peak:.0f} MB"
                  f" — target < 20 s, < 500 MB: {'met' if b < 20 and peak < 500 else 'NOT met'}")
        finally:
            if args.pg:
                subprocess.run(["psql", PG_ADMIN, "-qc", f"DROP DATABASE IF EXISTS {PG_NAME}"], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
