"""``ancrage validate``: campaigns and content checked together, one report."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from engine.campaign.lint import lint_campaign
from engine.campaign.loader import LoadedCampaign, campaign_files, load_campaign
from engine.content.library import ContentLibrary, FileProgress
from engine.diagnostics import Diagnostic


@dataclass
class ValidationReport:
    """What ``validate`` found, across every file it read."""

    files: int = 0
    campaigns: list[LoadedCampaign] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)

    @property
    def errors(self) -> int:
        return sum(1 for d in self.diagnostics if d.severity == "error")

    @property
    def warnings(self) -> int:
        return sum(1 for d in self.diagnostics if d.severity == "warning")

    def text(self) -> str:
        lines = [d.format() for d in self.diagnostics]
        lines.append(
            f"{self.files} files checked: {self.errors} error(s), {self.warnings} warning(s)"
        )
        return "\n".join(lines)

    def json(self) -> str:
        return json.dumps(
            {
                "files": self.files,
                "errors": self.errors,
                "warnings": self.warnings,
                "diagnostics": [d.as_dict() for d in self.diagnostics],
            },
            ensure_ascii=False,
            indent=2,
        )


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def validate_paths(paths: list[Path], *, content_dir: Path,
                   progress: FileProgress | None = None) -> ValidationReport:
    """Validates the content library and every campaign file among ``paths``.

    A path inside ``content_dir`` (or the folder itself) selects the library's own
    diagnostics; anything else is read as campaign files. The library's errors are
    always reported, once, in the file that has them: a campaign naming a broken
    quiz does not also say "unknown quiz".
    """
    report = ValidationReport()
    library, library_diagnostics = ContentLibrary.load(content_dir, progress=progress)
    wants_content = any(_inside(p, content_dir) for p in paths)
    campaign_paths = [p for p in paths if not _inside(p, content_dir)]
    missing = [p for p in campaign_paths if not p.exists()]
    for path in missing:
        report.diagnostics.append(Diagnostic("error", str(path), 0, 0, "no such file or folder"))
    if wants_content:
        report.files += len(library.files)
        report.diagnostics.extend(library_diagnostics)
    else:  # the campaigns read this library: its errors are theirs too (its warnings wait for content/)
        report.diagnostics.extend(d for d in library_diagnostics if d.severity == "error")
    for path in campaign_files([p for p in campaign_paths if p.exists()]):
        loaded = load_campaign(path)
        report.files += 1
        report.diagnostics.extend(loaded.diagnostics)
        report.diagnostics.extend(lint_campaign(loaded, library))
        report.campaigns.append(loaded)
    return report
