"""Operators' commands: database, sessions and enrolment, worker, web + worker, demo."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from engine.settings import Settings

if TYPE_CHECKING:
    Commands = argparse._SubParsersAction[argparse.ArgumentParser]


def register(commands: Commands) -> None:
    db = commands.add_parser("db", help="database migrations")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    db_commands.add_parser("upgrade", help="apply every migration").set_defaults(handler=cmd_db_upgrade)

    session = commands.add_parser("session", help="training sessions")
    session_commands = session.add_subparsers(dest="session_command", required=True, metavar="ACTION")
    add = session_commands.add_parser("add", help="create a training session")
    add.add_argument("--title", required=True)
    add.add_argument("--ends-at", required=True, help="ISO date-time (local to --tz)")
    add.add_argument("--starts-at", help="ISO date-time (default: 7 hours before the end)")
    add.add_argument("--tz", default="Europe/Paris")
    add.add_argument("--campaign", action="append", default=[], help="campaign name (repeatable)")
    add.add_argument("--external-id")
    add.add_argument("--location")
    add.set_defaults(handler=cmd_session_add)
    session_commands.add_parser("list", help="list sessions").set_defaults(handler=cmd_session_list)

    enrol = commands.add_parser("enrol", help="add attendees from a CSV file to a session")
    enrol.add_argument("--session", type=int, required=True, help="session id")
    enrol.add_argument("--csv", type=Path, required=True)
    enrol.add_argument("--campaign", help="enrol into this campaign instead of the session's")
    enrol.set_defaults(handler=cmd_enrol)

    learner = commands.add_parser("learner", help="personal data: export or erase a learner")
    learner_commands = learner.add_subparsers(dest="learner_command", required=True, metavar="ACTION")
    export = learner_commands.add_parser("export", help="print everything stored about a learner (JSON)")
    export.add_argument("learner_id", type=int)
    export.set_defaults(handler=cmd_learner_export)
    erase = learner_commands.add_parser("erase", help="erase a learner's personal data")
    erase.add_argument("learner_id", type=int)
    erase.add_argument("--yes", action="store_true", help="confirm: this cannot be undone")
    erase.set_defaults(handler=cmd_learner_erase)

    worker = commands.add_parser("worker", help="run an arq worker (embedded Redis when REDIS_URL is unset)")
    worker.set_defaults(handler=cmd_worker)

    run = commands.add_parser("run", help="web app and worker in one process (small organisations)")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8000)
    run.set_defaults(handler=cmd_run)

    demo = commands.add_parser("demo", help="a time-warped demo with simulated learners, on localhost")
    demo.add_argument("--speed", type=float, default=3600.0, help="virtual seconds per real second")
    demo.add_argument("--days", type=float, default=100.0, help="virtual days to play before stopping")
    demo.add_argument("--port", type=int, default=8000)
    demo.add_argument("--campaign", default="suivi-standard")
    demo.add_argument("--keep", action="store_true", help="keep the previous demo database")
    demo.add_argument("--stop-at-end", action="store_true", help="exit once --days have been played")
    demo.add_argument("--data-dir", type=Path, help="where the demo keeps its SQLite file and Redis (var/demo)")
    demo.add_argument("--no-run", action="store_true",
                      help="prepare the data (accounts, past sessions) and exit, for `ancrage run`")
    demo.add_argument("--history-learners", type=int, default=25, metavar="N",
                      help="learners in each past session played before the demo (0: no history)")
    demo.set_defaults(handler=cmd_demo)


def _parse_local(text: str, zone: ZoneInfo) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from engine.store.migrate import upgrade

    settings = Settings()
    upgrade(settings)
    print(f"database up to date: {settings.resolved_database_url.split('@')[-1]}")
    return 0


def cmd_session_add(args: argparse.Namespace) -> int:
    from engine.services.operations import add_session

    try:
        zone = ZoneInfo(args.tz)
        ends_at = _parse_local(args.ends_at, zone)
        starts_at = _parse_local(args.starts_at, zone) if args.starts_at else None
    except (ZoneInfoNotFoundError, ValueError) as exc:
        print(f"ancrage: {exc}", file=sys.stderr)
        return 2
    result = asyncio.run(add_session(Settings(), title=args.title, starts_at=starts_at, ends_at=ends_at,
                                     timezone=args.tz, campaigns=args.campaign, external_id=args.external_id,
                                     location=args.location))
    if isinstance(result, str):
        print(f"ancrage: {result}", file=sys.stderr)
        return 1
    print(f"session {result} created")
    return 0


def cmd_session_list(args: argparse.Namespace) -> int:
    from engine.services.operations import list_sessions

    for line in asyncio.run(list_sessions(Settings())):
        print(line)
    return 0


def cmd_enrol(args: argparse.Namespace) -> int:
    from engine.services.operations import enrol_csv

    try:
        text = args.csv.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"ancrage: cannot read {args.csv}: {exc}", file=sys.stderr)
        return 2
    report = asyncio.run(enrol_csv(Settings(), session_id=args.session, csv_text=text, campaign=args.campaign))
    for line in report.errors:
        print(f"{args.csv}:{line}", file=sys.stderr)
    if report.errors:
        print(f"nothing imported: {len(report.errors)} problem(s)", file=sys.stderr)
        return 1
    print(report.summary)
    return 0


def cmd_learner_export(args: argparse.Namespace) -> int:
    import json

    from engine.services.operations import export_learner_data

    data = asyncio.run(export_learner_data(Settings(), learner_id=args.learner_id))
    if data is None:
        print(f"ancrage: no learner {args.learner_id}", file=sys.stderr)
        return 1
    print(json.dumps(data, indent=2, ensure_ascii=False))
    return 0


def cmd_learner_erase(args: argparse.Namespace) -> int:
    from engine.services.operations import erase_learner_data

    if not args.yes:
        print("ancrage: erasing cannot be undone; add --yes to confirm", file=sys.stderr)
        return 2
    if not asyncio.run(erase_learner_data(Settings(), learner_id=args.learner_id)):
        print(f"ancrage: no learner {args.learner_id}", file=sys.stderr)
        return 1
    print(f"learner {args.learner_id} erased")
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from engine.services.operations import run_worker

    return run_worker(Settings())


def cmd_run(args: argparse.Namespace) -> int:
    from engine.services.operations import run_all

    return run_all(Settings(), host=args.host, port=args.port)


def cmd_demo(args: argparse.Namespace) -> int:
    from engine.demo.runner import run_demo

    return run_demo(speed=args.speed, days=args.days, port=args.port, campaign=args.campaign,
                    fresh=not args.keep, exit_at_end=args.stop_at_end, data_dir=args.data_dir,
                    no_run=args.no_run, history_learners=args.history_learners)
