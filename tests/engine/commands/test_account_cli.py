"""Account commands: trainer add (password from stdin), apikey create/list/revoke, session add --trainer."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from sqlmodel import select

from engine.cli import main
from engine.services.accounts import authenticate, hash_api_key
from engine.settings import Settings
from engine.store.db import create_engine, session_factory
from engine.store.models import ApiKey, Trainer, TrainingSession
from engine.store.types import utc_now


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'accounts.sqlite3'}")
    monkeypatch.setenv("ANCRAGE_DATA_DIR", str(tmp_path / "data"))


def _rows(model: type) -> list:  # type: ignore[type-arg]
    async def run() -> list:  # type: ignore[type-arg]
        engine = create_engine(Settings())
        try:
            async with session_factory(engine)() as session:
                return list((await session.exec(select(model))).all())
        finally:
            await engine.dispose()
    return asyncio.run(run())


def _login(email: str, password: str) -> object:
    async def run() -> object:
        engine = create_engine(Settings())
        try:
            async with session_factory(engine)() as session:
                return await authenticate(session, email=email, password=password, now=utc_now())
        finally:
            await engine.dispose()
    return asyncio.run(run())


def test_trainer_add_reads_the_password_from_stdin_and_refuses_duplicates(
        env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("un-mot-de-passe-long\n"))
    assert main(["trainer", "add", "--email", "Qualite@Org.fr", "--name", "Inès Q", "--role", "quality",
                 "--password-stdin"]) == 0
    [trainer] = _rows(Trainer)
    assert (trainer.email, trainer.role) == ("qualite@org.fr", "quality")
    assert trainer.password_hash.startswith("$argon2")
    assert isinstance(_login("qualite@org.fr", "un-mot-de-passe-long"), Trainer)
    monkeypatch.setattr("sys.stdin", io.StringIO("un-mot-de-passe-long\n"))
    assert main(["trainer", "add", "--email", "qualite@org.fr", "--name", "X", "--password-stdin"]) == 1
    monkeypatch.setattr("sys.stdin", io.StringIO("court\n"))
    assert main(["trainer", "add", "--email", "b@org.fr", "--name", "B", "--password-stdin"]) == 2
    assert len(_rows(Trainer)) == 1


def test_apikey_create_list_revoke_and_session_assignment(
        env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("un-mot-de-passe-long\n"))
    assert main(["trainer", "add", "--email", "f@org.fr", "--name", "F", "--password-stdin"]) == 0
    capsys.readouterr()
    assert main(["apikey", "create", "--name", "CRM", "--trainer", "f@org.fr"]) == 0
    plaintext = capsys.readouterr().out.strip()
    [key] = _rows(ApiKey)
    assert key.key_hash == hash_api_key(plaintext) and key.trainer_id == _rows(Trainer)[0].id
    assert main(["apikey", "create", "--name", "CRM", "--trainer", "nobody@org.fr"]) == 1
    assert main(["apikey", "list"]) == 0
    listing = capsys.readouterr().out
    assert "active\tf@org.fr\tCRM" in listing and plaintext not in listing
    assert main(["apikey", "revoke", str(key.id)]) == 0
    assert _rows(ApiKey)[0].revoked_at is not None
    assert main(["apikey", "revoke", str(key.id)]) == 1
    assert main(["session", "add", "--title", "Manager coach", "--ends-at", "2025-03-04T17:30",
                 "--campaign", "suivi-standard", "--trainer", "f@org.fr"]) == 0
    assert _rows(TrainingSession)[0].trainer_id == _rows(Trainer)[0].id
    assert main(["session", "add", "--title", "X", "--ends-at", "2025-03-04T17:30",
                 "--trainer", "nobody@org.fr"]) == 1
