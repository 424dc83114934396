"""A new organisation's folder, laid out from the examples shipped with the engine.

An organisation keeps its campaigns and content in its own repository; ``ancrage
init DIR`` gives it a working start: the French example campaigns and content,
the JSON Schema that editors read from each campaign's first line, and a
``.gitignore`` that keeps ``var/`` (the database, the private Redis) out of Git.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from engine.campaign.jsonschema import campaign_json_schema

GITIGNORE = "# Ancrage's working data: database, private Redis, demo (never in Git)\nvar/\n"
SCHEMA_FILE = Path("docs") / "campaign.schema.json"  # campaigns say $schema=../docs/campaign.schema.json


def shipped_examples() -> Path:
    """The example ``campaigns/`` and ``content/``: inside the installed package, or the
    source checkout's own folders for an editable install."""
    packaged = Path(str(resources.files("engine"))) / "examples"
    if (packaged / "campaigns").is_dir():
        return packaged
    return Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Layout:
    """What ``init`` wrote, for the command to report."""

    root: Path
    campaigns: int
    content: int


class FolderNotEmpty(Exception):
    """``init`` never overwrites an organisation's files."""


def lay_out(root: Path, *, examples: Path | None = None) -> Layout:
    """Creates ``root`` with campaigns/, content/, the schema and .gitignore; refuses to
    overwrite an existing campaigns/ or content/ folder."""
    source = examples or shipped_examples()
    root = root.expanduser().resolve()
    for name in ("campaigns", "content"):
        if (root / name).exists():
            raise FolderNotEmpty(f"{root / name} already exists")
    root.mkdir(parents=True, exist_ok=True)
    for name in ("campaigns", "content"):
        shutil.copytree(source / name, root / name)
    (root / SCHEMA_FILE).parent.mkdir(parents=True, exist_ok=True)
    schema = json.dumps(campaign_json_schema(), indent=2, ensure_ascii=False) + "\n"
    (root / SCHEMA_FILE).write_text(schema, encoding="utf-8")
    gitignore = root / ".gitignore"
    existing = gitignore.read_text(encoding="utf-8") if gitignore.exists() else ""
    if "var/" not in existing.split():
        gitignore.write_text(existing + ("\n" if existing and not existing.endswith("\n") else "")
                             + GITIGNORE, encoding="utf-8")
    (root / "var").mkdir(exist_ok=True)
    return Layout(root=root,
                  campaigns=sum(1 for _ in (root / "campaigns").glob("*.yaml")),
                  content=sum(1 for p in (root / "content").rglob("*") if p.is_file()))
