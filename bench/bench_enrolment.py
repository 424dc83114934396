"""Enrolment and CSV import on PostgreSQL, next to a baseline, A B A B.

One run on a private database (``ancrage_bench_enrol``, dropped at the end):

1. **End of session**: N learners (default 10,000) of one session enrolled into
   ``campaigns/suivi-standard.yaml`` by :func:`engine.services.enrolment.end_session`
   (what the tick runs when a session ends; ~27 deliveries planned per learner).
   Baseline: a bare ``COPY`` through asyncpg of the same enrolment, delivery and
   audit rows (timeline computed once, no ORM): the floor for these rows.
2. **CSV import**: a CSV of M rows (default 3,000) through
   :func:`engine.services.operations.enrol_csv` into a session that has ended
   (learners matched or created, attendance, enrolment, deliveries). Baseline:
   the row-by-row path this replaced (one lookup, one flush and one enrolment per
   learner), kept here only to be measured against.

Each figure is the median of the rounds (A B A B), with the ratio and the
machine's load during the run (``/proc/stat``; other engineers share the cores).

``--against OLD`` times the CSV import of this checkout against the engine code
in the folder OLD (``git archive <commit> engine | tar -x -C OLD``), A B A B,
each round in a fresh child process, as ``ancrage enrol`` runs: nothing parsed
or cached by an earlier round helps the next one (the child's imports are not
timed, its ``Catalog.load`` is).

usage: .venv/bin/python bench/bench_enrolment.py [--rounds 2] [--learners 10000] [--rows 3000]
       [--part both|session|csv] [--no-row-by-row] [--against OLD]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
if os.environ.get("ANCRAGE_BENCH_CODE"):  # a child timing another checkout's engine (--against)
    sys.path.insert(0, os.environ["ANCRAGE_BENCH_CODE"])
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
DATABASE = os.environ.get("ANCRAGE_BENCH_ENROL_DB", "ancrage_bench_enrol_intake")  # two benches at once
ASYNC_URL = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{DATABASE}"


def machine_busy() -> tuple[float, float]:
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    return sum(values) - values[3] - values[4], sum(values)


async def _admin(statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(f"{PG_SERVER}/postgres")
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def create_database() -> None:
    from engine.store.db import create_engine
    from engine.store.migrate import upgrade_async

    await _admin(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
    await _admin(f"CREATE DATABASE {DATABASE}")
    engine = create_engine(ASYNC_URL)
    try:
        await upgrade_async(engine)
    finally:
        await engine.dispose()


async def insert_learners(conn: Any, first: int, last: int) -> None:
    """Learners numbered ``first``..``last`` (phone +336 and the number), reachable on every channel."""
    await conn.execute(
        "INSERT INTO learner (first_name, last_name, phone, email, locale, timezone, consent_sms, "
        "consent_whatsapp, consent_push, consent_email, at_risk, created_at) "
        "SELECT 'Camille', 'Martin' || g, '+336' || lpad(g::text, 8, '0'), 'l' || g || '@example.fr', 'fr', "
        "'Europe/Paris', true, true, true, true, false, now() FROM generate_series($1::int, $2::int) g",
        first, last)


async def seed_session(count: int, *, offset: int) -> int:
    """A session that ended an hour ago with ``count`` fresh attendees; its id."""
    import asyncpg

    session_id = await add_ended_session()
    conn = await asyncpg.connect(f"{PG_SERVER}/{DATABASE}")
    try:
        await insert_learners(conn, offset + 1, offset + count)
        await conn.execute(
            "INSERT INTO attendance (session_id, learner_id, created_at) SELECT $1, id, now() FROM learner "
            "WHERE id NOT IN (SELECT learner_id FROM attendance)", session_id)
    finally:
        await conn.close()
    return session_id


async def engine_end_session(catalog: Any, session_id: int) -> tuple[float, int]:
    from engine.services.enrolment import end_session
    from engine.store.db import create_engine, session_factory
    from engine.store.models import TrainingSession

    engine = create_engine(ASYNC_URL)
    try:
        async with session_factory(engine)() as session:
            await session.exec(TrainingSession.__table__.select().limit(1))  # type: ignore[attr-defined,call-overload]
        started = time.perf_counter()
        async with session_factory(engine)() as session, session.begin():
            training = await session.get(TrainingSession, session_id)
            assert training is not None
            created = await end_session(session, training=training, campaigns=catalog.campaigns,
                                        library=catalog.library, now=datetime.now(UTC))
        return time.perf_counter() - started, len(created)
    finally:
        await engine.dispose()


async def bare_copy(catalog: Any, session_id: int) -> tuple[float, int]:
    """The same enrolment, delivery and audit rows written with asyncpg COPY, nothing else."""
    import json
    from zoneinfo import ZoneInfo

    import asyncpg

    from engine.core.timeline import plan_timeline

    campaign = catalog.campaigns["suivi-standard"]
    conn = await asyncpg.connect(f"{PG_SERVER}/{DATABASE}")
    try:
        started = time.perf_counter()
        async with conn.transaction():
            ends = await conn.fetchval("SELECT ends_at FROM training_session WHERE id = $1", session_id)
            version = await conn.fetchval("SELECT id FROM campaign_version ORDER BY id LIMIT 1")
            learners = [r[0] for r in await conn.fetch(
                "SELECT learner_id FROM attendance WHERE session_id = $1 ORDER BY learner_id", session_id)]
            now = datetime.now(UTC)
            ids = await conn.fetch(
                "INSERT INTO enrollment (learner_id, session_id, campaign_name, anchor_at, campaign_version_id,"
                " status, created_at, updated_at) SELECT l, $2, 'suivi-standard', $3, $4, 'active', $5, $5"
                " FROM unnest($1::int[]) l RETURNING id, learner_id", learners, session_id, ends, version, now)
            sends = plan_timeline(campaign, anchor=ends, tz=ZoneInfo("Europe/Paris"))
            rows = [(e, lid, s.step_id, s.occurrence, s.kind, str(s.recipient), s.content_ref,
                     json.dumps(list(s.channels)), s.due_at, "plan", s.shifted_reason, "planned", 0, now, now)
                    for e, lid in ids for s in sends]
            await conn.copy_records_to_table("delivery", records=rows, columns=[
                "enrollment_id", "learner_id", "step_id", "occurrence", "kind", "recipient", "content_ref",
                "channels", "due_at", "origin", "status_reason", "status", "attempts", "created_at",
                "updated_at"])
            await conn.copy_records_to_table("audit_event", records=[
                ("enrollment", e, "enrolled", "active", now, json.dumps({"campaign": "suivi-standard"}), now)
                for e, _ in ids], columns=["entity", "entity_id", "action", "to_state", "at", "detail", "created_at"])
            await conn.execute("UPDATE training_session SET ended_processed_at = $2 WHERE id = $1", session_id, now)
        return time.perf_counter() - started, len(ids)
    finally:
        await conn.close()


def csv_text(rows: int, offset: int) -> str:
    lines = ["prénom;nom;téléphone;courriel;consentement_sms"]
    lines += [f"Léa;Roux{n};+336{n:08d};lea.roux{n}@exemple.fr;oui" for n in range(offset, offset + rows)]
    return "\n".join(lines) + "\n"


async def add_ended_session() -> int:
    import asyncpg

    conn = await asyncpg.connect(f"{PG_SERVER}/{DATABASE}")
    try:
        ends = datetime.now(UTC) - timedelta(hours=1)
        session_id: int = await conn.fetchval(
            "INSERT INTO training_session (title, starts_at, ends_at, timezone, campaign_names, created_at) "
            "VALUES ('Import (bench)', $1, $2, 'Europe/Paris', '[\"suivi-standard\"]'::jsonb, now()) "
            "RETURNING id", ends - timedelta(hours=7), ends)
        return session_id
    finally:
        await conn.close()


async def engine_csv(settings: Any, text: str) -> float:
    from engine.services.operations import enrol_csv

    session_id = await add_ended_session()
    started = time.perf_counter()
    report = await enrol_csv(settings, session_id=session_id, csv_text=text, campaign=None)
    elapsed = time.perf_counter() - started
    assert not report.errors, report.errors[:3]
    return elapsed


async def child_csv(code: Path, rows: int, offset: int) -> tuple[float, float]:
    """One CSV import by the engine code under ``code``, in a child process: its time, and the
    child's own CPU time in it (the client's share, what the machine's load changes least)."""
    session_id = await add_ended_session()
    env = {**os.environ, "ANCRAGE_BENCH_CODE": str(code)}
    result = await asyncio.to_thread(
        subprocess.run, [sys.executable, __file__, "--child-csv", str(session_id), "--rows", str(rows),
                         "--offset", str(offset)], env=env, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"child import failed: {result.stderr[-2000:]}")
    elapsed, cpu = result.stdout.split()[-2:]
    return float(elapsed), float(cpu)


async def run_child_csv(args: argparse.Namespace) -> None:
    from engine.services.operations import enrol_csv
    from engine.settings import Settings

    settings = Settings(database_url=f"{PG_SERVER}/{DATABASE}", campaigns_dir=ROOT / "campaigns",
                        content_dir=ROOT / "content")
    text = csv_text(args.rows, args.offset)
    started, cpu = time.perf_counter(), time.process_time()
    report = await enrol_csv(settings, session_id=args.child_csv, csv_text=text, campaign=None)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    assert not report.errors, report.errors[:3]
    print(f"{elapsed:.4f} {cpu:.4f}")


async def row_by_row_csv(settings: Any, catalog: Any, text: str) -> float:
    """The import as it was: one lookup, one flush and one single enrolment per row."""
    from sqlmodel import select

    from engine.services.attendees import parse_attendees
    from engine.services.enrolment import enrol
    from engine.store.db import create_engine, session_factory
    from engine.store.models import Attendance, Learner, TrainingSession

    session_id = await add_ended_session()
    engine = create_engine(ASYNC_URL)
    try:
        started = time.perf_counter()
        learners, errors = parse_attendees(text)
        assert not errors
        now = datetime.now(UTC)
        async with session_factory(engine)() as session, session.begin():
            training = await session.get(TrainingSession, session_id)
            assert training is not None
            for data in learners:
                found = (await session.exec(select(Learner).where(Learner.phone == data.phone))).first()
                learner = found or Learner.model_validate(data.model_dump())
                session.add(learner)
                await session.flush()
                session.add(Attendance(session_id=session_id, learner_id=learner.id or 0))
                await enrol(session, learner=learner, campaign=catalog.campaigns["suivi-standard"],
                            library=catalog.library, training=training, now=now)
        return time.perf_counter() - started
    finally:
        await engine.dispose()


def _line(label: str, a: list[float], b: list[float], a_name: str, b_name: str, unit_count: int,
          unit: str) -> str:
    ma, mb = statistics.median(a), statistics.median(b)
    return (f"{label}: {a_name} {ma:.2f} s ({unit_count / ma:,.0f} {unit}/s) | {b_name} {mb:.2f} s "
            f"({unit_count / mb:,.0f} {unit}/s) | ratio {a_name}/{b_name} time {ma / mb:.2f} "
            f"| rounds {', '.join(f'{x:.2f}' for x in a)} vs {', '.join(f'{x:.2f}' for x in b)}")


async def drive(args: argparse.Namespace) -> None:
    from engine.services.catalog import Catalog
    from engine.settings import Settings

    catalog = Catalog.load(ROOT / "campaigns", ROOT / "content")
    settings = Settings(database_url=f"{PG_SERVER}/{DATABASE}", campaigns_dir=ROOT / "campaigns",
                        content_dir=ROOT / "content")
    await create_database()
    busy0, total0 = machine_busy()
    engine_times: list[float] = []
    copy_times: list[float] = []
    offset = 0
    try:
        # Warm-up: pins the campaign version, warms caches and the connection pool code paths.
        await engine_end_session(catalog, await seed_session(50, offset=offset))
        offset += 50
        for _ in range(args.rounds if args.part in ("both", "session") else 0):
            elapsed, created = await engine_end_session(catalog, await seed_session(args.learners, offset=offset))
            offset += args.learners
            assert created == args.learners, created
            engine_times.append(elapsed)
            elapsed, created = await bare_copy(catalog, await seed_session(args.learners, offset=offset))
            offset += args.learners
            assert created == args.learners, created
            copy_times.append(elapsed)
        if engine_times:
            print(_line(f"End of session, {args.learners:,} learners into suivi-standard", engine_times,
                        copy_times, "engine", "bare COPY", args.learners, "learners"), flush=True)
        csv_engine: list[float] = []
        csv_old: list[float] = []
        for round_number in range(args.rounds if args.part in ("both", "csv") else 0):
            csv_engine.append(await engine_csv(settings, csv_text(args.rows, 40_000_000 + 2 * round_number
                                                                  * args.rows)))
            if args.row_by_row:
                csv_old.append(await row_by_row_csv(settings, catalog, csv_text(
                    args.rows, 40_000_000 + (2 * round_number + 1) * args.rows)))
        new_child: list[tuple[float, float]] = []
        old_child: list[tuple[float, float]] = []
        for round_number in range(args.rounds if args.against else 0):
            base = 45_000_000 + 2 * round_number * args.rows
            new_child.append(await child_csv(ROOT, args.rows, base))
            old_child.append(await child_csv(args.against.resolve(), args.rows, base + args.rows))
        if new_child:
            label = f"CSV import, {args.rows:,} rows, one child process per import"
            for index, what in ((0, "time"), (1, "client CPU")):
                print(_line(f"{label} ({what})", [r[index] for r in new_child], [r[index] for r in old_child],
                            "this checkout", "OLD", args.rows, "rows"), flush=True)
        if csv_engine and not csv_old:
            print(f"CSV import, {args.rows:,} rows into an ended session: engine "
                  f"{statistics.median(csv_engine):.2f} s | rounds {', '.join(f'{x:.2f}' for x in csv_engine)}")
        elif csv_engine:
            print(_line(f"CSV import, {args.rows:,} rows into an ended session", csv_engine, csv_old,
                        "engine", "row-by-row", args.rows, "rows"))
    finally:
        busy1, total1 = machine_busy()
        print(f"machine load during the run: {100 * (busy1 - busy0) / max(1, total1 - total0):.0f} % of both cores, "
              f"load average {' '.join(Path('/proc/loadavg').read_text().split()[:3])}")
        await _admin(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--learners", type=int, default=10_000)
    parser.add_argument("--rows", type=int, default=3_000)
    parser.add_argument("--part", choices=("both", "session", "csv"), default="both",
                        help="only the end of session, or only the CSV import (its row-by-row baseline is slow)")
    parser.add_argument("--against", type=Path, default=None,
                        help="also time the CSV import against the engine code in this folder, A B A B")
    parser.add_argument("--child-csv", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--offset", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--no-row-by-row", dest="row_by_row", action="store_false",
                        help="skip the CSV import's row-by-row baseline (minutes on a loaded machine)")
    args = parser.parse_args()
    if args.child_csv is not None:
        asyncio.run(run_child_csv(args))
        return 0
    asyncio.run(drive(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
