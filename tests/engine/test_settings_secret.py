"""The signing key: refused when weak or public outside the sandbox, made per data folder in it."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import ValidationError

from engine.cli import main
from engine.settings import Settings

STRONG = "k3Y-" + "a1B2c3D4e5F6g7H8i9J0" * 2


@pytest.mark.parametrize("secret", ["", "change-me-in-production", "short-but-random-9", "a" * 64])
def test_outside_the_sandbox_a_weak_or_public_key_is_refused(tmp_path: Path, secret: str) -> None:
    with pytest.raises(ValidationError, match=r"secrets\.token_urlsafe\(32\)"):
        Settings(sandbox=False, secret_key=secret, data_dir=tmp_path)
    assert not (tmp_path / "secret_key").exists()


def test_outside_the_sandbox_a_strong_key_is_used_as_given(tmp_path: Path) -> None:
    assert Settings(sandbox=False, secret_key=STRONG, data_dir=tmp_path).secret_key == STRONG


def test_the_sandbox_makes_one_private_key_per_data_folder(tmp_path: Path) -> None:
    first = Settings(sandbox=True, data_dir=tmp_path / "a")
    path = tmp_path / "a" / "secret_key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(first.secret_key) >= 32 and first.secret_key != "change-me-in-production"
    again = Settings(sandbox=True, data_dir=tmp_path / "a", secret_key="change-me-in-production")
    assert again.secret_key == first.secret_key  # the public default is never the key
    assert Settings(sandbox=True, data_dir=tmp_path / "b").secret_key != first.secret_key
    assert first.secret_key not in repr(first)


def test_the_cli_says_how_to_make_a_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ANCRAGE_SANDBOX", "false")
    monkeypatch.setenv("ANCRAGE_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("ANCRAGE_SECRET_KEY", raising=False)
    assert main(["worker"]) == 2
    err = capsys.readouterr().err
    assert "ANCRAGE_SECRET_KEY" in err and "secrets.token_urlsafe(32)" in err
