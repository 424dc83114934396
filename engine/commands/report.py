"""``ancrage report qualiopi``: the evidence pack (PDF summary, XLSX workbook, CSV tables) as a ZIP."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import date
from pathlib import Path
from typing import TypeAlias

from engine.settings import Settings

Commands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def register(commands: Commands) -> None:
    report = commands.add_parser("report", help="quality reports (Qualiopi evidence pack)")
    kinds = report.add_subparsers(dest="report", required=True, metavar="REPORT")
    pack = kinds.add_parser("qualiopi", help="the evidence pack for indicators 2, 30, 31 and 32 (ZIP)")
    pack.add_argument("--from", dest="start", required=True, type=_day, help="first day, e.g. 2026-01-01")
    pack.add_argument("--to", dest="end", required=True, type=_day, help="last day (included)")
    pack.add_argument("--session", dest="session_id", type=int, help="only this session")
    pack.add_argument("--out", type=Path, default=Path("preuves-qualiopi.zip"), help="the ZIP to write")
    pack.set_defaults(handler=cmd_qualiopi)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a date (YYYY-MM-DD)") from None


def cmd_qualiopi(args: argparse.Namespace) -> int:
    from engine.services.evidence import qualiopi_pack

    if args.end < args.start:
        print("--to is before --from", file=sys.stderr)
        return 2
    pack = asyncio.run(qualiopi_pack(Settings(), start=args.start, end=args.end, session_id=args.session_id))
    args.out.write_bytes(pack.zip_bytes)
    rows = {table.name: len(table.rows) for table in pack.tables}
    print(f"{args.out}: {len(pack.zip_bytes) // 1024} Kio — " + ", ".join(f"{k} {v}" for k, v in rows.items()))
    return 0
