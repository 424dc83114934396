"""The catalog an import reads is parsed once per process, and read again as soon as a file changes."""

from __future__ import annotations

import shutil
from pathlib import Path

from engine.services.catalog import Catalog

ROOT = Path(__file__).resolve().parents[3]


def _copy(tmp_path: Path) -> tuple[Path, Path]:
    campaigns, content = tmp_path / "campaigns", tmp_path / "content"
    shutil.copytree(ROOT / "campaigns", campaigns)
    shutil.copytree(ROOT / "content", content)
    return campaigns, content


def test_an_unchanged_catalog_is_not_parsed_again(tmp_path: Path) -> None:
    campaigns, content = _copy(tmp_path)
    first = Catalog.load_cached(campaigns, content)
    assert "suivi-standard" in first.campaigns
    assert Catalog.load_cached(campaigns, content) is first


def test_an_edited_added_or_removed_file_is_seen_at_once(tmp_path: Path) -> None:
    campaigns, content = _copy(tmp_path)
    first = Catalog.load_cached(campaigns, content)
    standard = campaigns / "suivi-standard.yaml"
    text = standard.read_text(encoding="utf-8")
    # Same size, and written within the same second: only the bytes tell.
    standard.write_text(text.replace("campaign: suivi-standard", "campaign: suivi-standarx"), encoding="utf-8")
    edited = Catalog.load_cached(campaigns, content)
    assert "suivi-standarx" in edited.campaigns and "suivi-standard" not in edited.campaigns
    (campaigns / "copie.yaml").write_text(text.replace("campaign: suivi-standard", "campaign: copie"),
                                          encoding="utf-8")
    added = Catalog.load_cached(campaigns, content)
    assert "copie" in added.campaigns
    (campaigns / "copie.yaml").unlink()
    standard.write_text(text, encoding="utf-8")
    back = Catalog.load_cached(campaigns, content)
    assert sorted(back.campaigns) == sorted(first.campaigns) and back is not first


def test_an_edited_content_file_is_seen_too(tmp_path: Path) -> None:
    campaigns, content = _copy(tmp_path)
    first = Catalog.load_cached(campaigns, content)
    victim = sorted(p for p in content.rglob("*.yaml") if p.name != "faq.yaml")[0]
    victim.write_text("{not: [valid yaml\n", encoding="utf-8")
    broken = Catalog.load_cached(campaigns, content)
    assert broken is not first
    assert any(d.file.endswith(victim.name) for d in broken.diagnostics)
