"""The ``ancrage`` command: one sub-command per job, each a thin call into the engine."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from pydantic import ValidationError

from engine.commands import accounts, designer, operator, organisation, report

Handler = Callable[[argparse.Namespace], int]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ancrage",
        description="Post-training follow-up: YAML campaigns over SMS, WhatsApp, push and email.",
    )
    parser.add_argument("--root", type=Path, metavar="DIR",
                        help="the organisation's folder (campaigns/, content/, var/); "
                             "default: $ANCRAGE_HOME, else the working folder")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    organisation.register(commands)
    designer.register(commands)
    operator.register(commands)
    accounts.register(commands)
    report.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parses the command line and runs one command; returns the exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:  # bare ``ancrage`` (or ``ancrage session``): the help, not an error
        parser.print_help()
        return 0
    try:
        with _home(args.root):
            return handler(args)
    except ValidationError as exc:  # the environment's settings (ANCRAGE_*) are unusable
        for error in exc.errors():
            print(f"ancrage: {error['msg'].removeprefix('Value error, ')}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nstopped.", file=sys.stderr)
        return 130


@contextmanager
def _home(root: Path | None) -> Iterator[None]:
    """``--root`` is ``ANCRAGE_HOME`` for this one command (every ``Settings()`` then reads it)."""
    if root is None:
        yield
        return
    previous = os.environ.get("ANCRAGE_HOME")
    os.environ["ANCRAGE_HOME"] = str(root.resolve())
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("ANCRAGE_HOME", None)
        else:
            os.environ["ANCRAGE_HOME"] = previous


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
