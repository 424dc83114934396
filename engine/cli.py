"""The ``ancrage`` command: one sub-command per job, each a thin call into the engine."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence

from engine.commands import designer, report, runtime

Handler = Callable[[argparse.Namespace], int]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ancrage",
        description="Post-training follow-up: YAML campaigns over SMS, WhatsApp, push and email.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    designer.register(commands)
    runtime.register(commands)
    report.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Parses the command line and runs one command; returns the exit status."""
    args = _parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except KeyboardInterrupt:
        print("\nstopped.", file=sys.stderr)
        return 130


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
