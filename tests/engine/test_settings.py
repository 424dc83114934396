"""Where the organisation's folders come from: ``ANCRAGE_HOME`` or the working folder, never the package."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cli import main
from engine.settings import PROJECT_ROOT, Settings


def test_folders_are_read_from_the_working_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANCRAGE_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    settings = Settings()
    assert (settings.campaigns_dir, settings.content_dir, settings.data_dir) == (
        tmp_path.resolve() / "campaigns", tmp_path.resolve() / "content", tmp_path.resolve() / "var")


def test_ancrage_home_and_relative_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANCRAGE_HOME", str(tmp_path))
    monkeypatch.setenv("ANCRAGE_CONTENT_DIR", "bibliotheque")
    settings = Settings()
    assert settings.campaigns_dir == tmp_path.resolve() / "campaigns"
    assert settings.content_dir == tmp_path.resolve() / "bibliotheque"
    assert Settings(data_dir=Path("/srv/ancrage")).data_dir == Path("/srv/ancrage")


def test_validate_in_a_copy_reads_that_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("ANCRAGE_HOME", raising=False)
    org = tmp_path / "org"
    assert main(["init", str(org)]) == 0
    (org / "campaigns" / "broken.yaml").write_text("campaign: broken\ntitle: B\nsteps: 3\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    capsys.readouterr()
    assert main(["--root", str(org), "validate"]) == 1  # the copy's own broken campaign, not the checkout's
    assert "broken.yaml" in capsys.readouterr().out
    monkeypatch.chdir(org)
    assert main(["validate", "campaigns", "content"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert [line for line in out if "error" in line and "broken.yaml" not in line] == [out[-1]]
    assert Path.cwd() != PROJECT_ROOT


def test_init_refuses_to_overwrite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", str(tmp_path)]) == 0
    (tmp_path / "campaigns" / "mine.yaml").write_text("x", encoding="utf-8")
    assert main(["init", str(tmp_path)]) == 1
    assert (tmp_path / "campaigns" / "mine.yaml").read_text(encoding="utf-8") == "x"
    assert "already exists" in capsys.readouterr().err


def test_the_readme_documents_every_setting() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    names = [str(field.validation_alias or f"ANCRAGE_{name.upper()}")
             for name, field in Settings.model_fields.items()]
    assert len(names) > 20
    assert [name for name in names if f"`{name}`" not in readme] == []
