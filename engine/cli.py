"""The ``ancrage`` command: one sub-command per job, each a thin call into the engine."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from pydantic import ValidationError

from engine.commands import designer, runtime

Handler = Callable[[argparse.Namespace], int]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ancrage",
        description="Post-training follow-up: YAML campaigns over SMS, WhatsApp, push and email.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    designer.register(commands)
    runtime.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parses the command line and runs one command; returns the exit status."""
    try:
        args = _parser().parse_args(argv)
        handler: Handler = args.handler
        return handler(args)
    except ValidationError as exc:  # the environment's settings (ANCRAGE_*) are unusable
        for error in exc.errors():
            print(f"ancrage: {error['msg'].removeprefix('Value error, ')}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nstopped.", file=sys.stderr)
        return 130


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
