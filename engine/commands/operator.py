"""Operators' commands: database, sessions and enrolment, worker, web + worker, demo."""

from __future__ import annotations

import argparse
import asyncio
import re
import sys
from datetime import date, datetime, time, timedelta
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
    add.add_argument("--title", required=True, help="the session's title, as trainers and learners read it")
    add.add_argument("--ends-at", required=True, help="when it ends, local to --tz: an ISO date-time "
                     "(2026-03-27T17:30) or relative: 'today 17:30', 'yesterday 17:30', 'tomorrow 17:30', "
                     "'+2d 17:30', '-3d 17:30'")
    add.add_argument("--starts-at", help="when it starts, same forms (default: 7 hours before the end)")
    add.add_argument("--tz", default="Europe/Paris", help="time zone of the dates (default: Europe/Paris)")
    add.add_argument("--campaign", action="append", default=[], help="campaign name (repeatable)")
    add.add_argument("--external-id", help="the session's id in your training-management system")
    add.add_argument("--location", help="where it takes place")
    add.add_argument("--trainer", metavar="EMAIL", help="the trainer who leads it (sees it on the dashboard)")
    add.set_defaults(handler=cmd_session_add)
    session_commands.add_parser("list", help="list sessions").set_defaults(handler=cmd_session_list)

    enrol = commands.add_parser("enrol", help="add attendees from a CSV file to a session",
                                description=_ENROL_HELP, epilog=csv_columns_help(),
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    enrol.add_argument("--session", type=int, required=True, help="session id")
    enrol.add_argument("--csv", type=Path, required=True, help="the attendee list (header line required)")
    enrol.add_argument("--campaign", help="enrol into this campaign at once, instead of the session's at its end")
    enrol.add_argument("--start", choices=("session-end", "now"), help="for a session that has ended: 'now' plays the "
                       "campaign from today as if the session had just ended; 'session-end' keeps its dates "
                       "(required once it ended more than ANCRAGE_LATE_ENROLMENT_DAYS ago, default 14)")
    enrol.set_defaults(handler=cmd_enrol)

    learner = commands.add_parser("learner", help="personal data: export or erase a learner")
    learner_commands = learner.add_subparsers(dest="learner_command", required=True, metavar="ACTION")
    export = learner_commands.add_parser("export", help="print everything stored about a learner (JSON)")
    export.add_argument("learner_id", type=int, help="the learner's id")
    export.set_defaults(handler=cmd_learner_export)
    erase = learner_commands.add_parser("erase", help="erase a learner's personal data")
    erase.add_argument("learner_id", type=int, help="the learner's id")
    erase.add_argument("--yes", action="store_true", help="confirm: this cannot be undone")
    erase.set_defaults(handler=cmd_learner_erase)

    worker = commands.add_parser("worker", help="run an arq worker (embedded Redis when REDIS_URL is unset)")
    worker.set_defaults(handler=cmd_worker)

    run = commands.add_parser("run", help="web app and worker in one process (small organisations)")
    run.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    run.add_argument("--port", type=int, default=8000, help="port to listen on (default: 8000)")
    run.set_defaults(handler=cmd_run)

    demo = commands.add_parser("demo", help="a time-warped demo with simulated learners, on localhost")
    demo.add_argument("--speed", type=float, default=3600.0, help="virtual seconds per real second")
    demo.add_argument("--days", type=float, default=100.0, help="virtual days to play before stopping")
    demo.add_argument("--port", type=int, default=8000, help="port of the demo's web app (default: 8000)")
    demo.add_argument("--campaign", default="suivi-standard", help="the campaign played (default: suivi-standard)")
    demo.add_argument("--keep", action="store_true", help="keep the previous demo database")
    demo.add_argument("--stop-at-end", action="store_true", help="exit once --days have been played")
    demo.add_argument("--data-dir", type=Path, help="where the demo keeps its SQLite file and Redis (var/demo)")
    demo.add_argument("--no-run", action="store_true",
                      help="prepare the data (accounts, past sessions) and exit, for `ancrage run`")
    demo.add_argument("--history-learners", type=int, default=25, metavar="N",
                      help="learners in each past session played before the demo (0: no history)")
    demo.set_defaults(handler=cmd_demo)


_ENROL_HELP = """Adds the attendees of a CSV file to a session, all or nothing: every bad row is
reported with its line and nothing is imported until the file is right.
Learners already known (same phone, else same e-mail) are reused. If the session
has ended, they are enrolled at once; otherwise when it ends."""

_RELATIVE = re.compile(r"^(today|yesterday|tomorrow|[+-]\d+d)(?:[ T](\d{1,2}:\d{2}))?$")


def csv_columns_help() -> str:
    """The accepted CSV columns and their header names, for --help (the README says the same)."""
    from engine.services.attendees import ACCEPTED_COLUMNS

    lines = ["CSV columns (comma, semicolon or tab; header names are case-insensitive):"]
    for field, names in ACCEPTED_COLUMNS.items():
        lines.append(f"  {field:<17} {', '.join(names)}")
    lines += ["first_name and last_name are required, and a phone or an e-mail; phones in national",
              "form are read for ANCRAGE_DEFAULT_REGION (FR); e-mails are checked (no DNS look-up).",
              "consent_* cells: oui/non, yes/no, 1/0, x; empty means ANCRAGE_DEFAULT_CONSENT",
              "(default: every channel). Two rows with the same phone or e-mail are reported."]
    return "\n".join(lines)


def _parse_local(text: str, zone: ZoneInfo, *, today: date | None = None) -> datetime:
    """An ISO date-time, or a relative form ('today 17:30', '-3d 17:30'), in ``zone``."""
    relative = _RELATIVE.match(text.strip().lower())
    if relative:
        day = today or datetime.now(zone).date()
        word, clock = relative.groups()
        shift = {"today": 0, "yesterday": -1, "tomorrow": 1}.get(word)
        day += timedelta(days=shift if shift is not None else int(word[:-1]))
        hour, minute = map(int, (clock or "00:00").split(":"))
        return datetime.combine(day, time(hour, minute), tzinfo=zone)
    moment = datetime.fromisoformat(text)
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from engine.commands.progress import progress
    from engine.store.migrate import upgrade

    settings = Settings()
    with progress("applying migrations", threshold=1) as bar:
        upgrade(settings, progress=bar)
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
                                     location=args.location, trainer_email=args.trainer))
    if isinstance(result, str):
        print(f"ancrage: {result}", file=sys.stderr)
        return 1
    print(f"session {result} created")
    return 0


def cmd_session_list(args: argparse.Namespace) -> int:
    from engine.services.operations import list_sessions

    print(asyncio.run(list_sessions(Settings())))
    return 0


def cmd_enrol(args: argparse.Namespace) -> int:
    from engine.commands.progress import progress
    from engine.services.operations import enrol_csv

    try:
        text = args.csv.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"ancrage: cannot read {args.csv}: {exc}", file=sys.stderr)
        return 2
    with progress(threshold=1) as shown:
        report = asyncio.run(enrol_csv(Settings(), session_id=args.session, csv_text=text, campaign=args.campaign,
                                       start=args.start, progress=shown))
    for line in report.errors:
        print(f"{args.csv}:{line}" if line.startswith("line ") else f"ancrage: {line}", file=sys.stderr)
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


def log_at_info() -> None:
    """``run`` and ``worker`` say what they do: one line per tick (counts, no personal data)."""
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    quiet_client_logs()


#: HTTP clients that log every request at INFO: twilio's, ten lines per message (its headers and
#: URL), and httpx's (a line per FCM call). At volume that was most of a worker's log, and a share
#: of its CPU; their warnings and errors still show.
CHATTY_LOGGERS = ("twilio.http_client", "twilio.async_http_client", "httpx", "httpcore")


def quiet_client_logs() -> None:
    import logging

    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def cmd_worker(args: argparse.Namespace) -> int:
    from engine.commands.processes import run_worker

    log_at_info()
    return run_worker(Settings())


def cmd_run(args: argparse.Namespace) -> int:
    from engine.commands.processes import run_all

    log_at_info()
    return run_all(Settings(), host=args.host, port=args.port)


def cmd_demo(args: argparse.Namespace) -> int:
    from engine.demo.runner import run_demo

    return run_demo(speed=args.speed, days=args.days, port=args.port, campaign=args.campaign,
                    fresh=not args.keep, exit_at_end=args.stop_at_end, data_dir=args.data_dir,
                    no_run=args.no_run, history_learners=args.history_learners)
