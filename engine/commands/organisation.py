"""``ancrage init DIR``: a new organisation folder to start from."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    Commands = argparse._SubParsersAction[argparse.ArgumentParser]


def register(commands: Commands) -> None:
    init = commands.add_parser("init", help="lay out a new organisation folder from the shipped examples")
    init.add_argument("directory", type=Path, nargs="?",
                      help="the folder to create or fill (default: --root, else the working folder)")
    init.set_defaults(handler=cmd_init)


def cmd_init(args: argparse.Namespace) -> int:
    from engine.services.starter import FolderNotEmpty, lay_out

    try:
        layout = lay_out(args.directory or args.root or Path.cwd())
    except FolderNotEmpty as exc:
        print(f"ancrage: {exc}: nothing changed", file=sys.stderr)
        return 1
    print(f"{layout.root}: {layout.campaigns} campaigns, {layout.content} content files, "
          "docs/campaign.schema.json, .gitignore (var/)")
    print(f"next: cd {layout.root} && ancrage validate")
    return 0
