"""Loads campaign files into :class:`Campaign` models, keeping positions for diagnostics."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import ValidationError

from engine.campaign.schema import STEP_KINDS, Campaign, Step
from engine.diagnostics import Diagnostic
from engine.diagnostics.pydantic_errors import diagnostics_from_validation
from engine.diagnostics.yaml_reader import Source, parse_yaml


@dataclass
class LoadedCampaign:
    """A campaign file: the model when it is valid, and what was found wrong with it."""

    path: Path
    campaign: Campaign | None
    document: Source | None
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.campaign is not None and not any(
            d.severity == "error" for d in self.diagnostics
        )


def load_campaign_text(text: str, file: str) -> LoadedCampaign:
    """Parses and validates one campaign document (shape only; see lint for references)."""
    doc, problems = parse_yaml(text, file)
    if doc is None:
        return LoadedCampaign(Path(file), None, None, problems)
    if not isinstance(doc.data, dict):
        found = type(doc.data).__name__ if doc.data is not None else "an empty file"
        message = f"a campaign file is a mapping with 'campaign', 'title' and 'steps' (found {found})"
        return LoadedCampaign(Path(file), None, doc, [Diagnostic("error", file, 1, 1, message)])
    try:
        campaign = Campaign.model_validate(doc.data)
    except ValidationError as exc:
        return LoadedCampaign(Path(file), None, doc, diagnostics_from_validation(
            exc, doc, Campaign, kinds={Step: ("step", STEP_KINDS)}))
    return LoadedCampaign(Path(file), campaign, doc, [])


def load_campaign(path: Path) -> LoadedCampaign:
    """Reads a campaign file; unreadable files become diagnostics, never exceptions."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        diag = Diagnostic("error", str(path), 1, 1, f"not UTF-8 text ({exc.reason})")
        return LoadedCampaign(path, None, None, [diag])
    except OSError as exc:
        diag = Diagnostic("error", str(path), 0, 0, f"cannot read file: {exc.strerror}")
        return LoadedCampaign(path, None, None, [diag])
    return load_campaign_text(text, str(path))


def campaign_files(paths: list[Path]) -> list[Path]:
    """Expands directories into their ``*.yaml``/``*.yml`` files, sorted, keeping given files."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.suffix in (".yaml", ".yml")))
        else:
            found.append(path)
    return found


def content_hash(campaign: Campaign, snapshot: Mapping[str, object]) -> str:
    """A stable hash of a campaign and the content it uses: enrolments pin this version."""
    payload = json.dumps(
        {"campaign": campaign.model_dump(mode="json", by_alias=True), "content": snapshot},
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()
