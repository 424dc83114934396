"""``ancrage report qualiopi`` writes the pack the dashboard downloads."""

from __future__ import annotations

import asyncio
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.cli import main
from engine.demo.quality_history import seed_history
from engine.store.db import create_engine
from engine.store.migrate import upgrade_async


def test_report_qualiopi_writes_the_zip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'a.db'}"

    async def seed() -> None:
        engine = create_engine(url)
        await upgrade_async(engine)
        await seed_history(engine, sessions=2, learners_per_session=4, first_end=datetime(2026, 3, 2, 16, tzinfo=UTC))
        await engine.dispose()

    asyncio.run(seed())
    monkeypatch.setenv("DATABASE_URL", url)
    out = tmp_path / "pack.zip"
    assert main(["report", "qualiopi", "--from", "2026-03-01", "--to", "2026-06-30", "--session", "1",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    # 4 hot surveys, their 2 reminders (k % 4 in (2, 3)) and 4 cold surveys (90 days later: 31 May)
    assert "Sollicitations 10," in printed and "Réclamations 2," in printed
    with zipfile.ZipFile(out) as archive:
        assert sorted(n.rsplit(".", 1)[1] for n in archive.namelist() if "/" not in n) == ["pdf", "xlsx"]
    assert main(["report", "qualiopi", "--from", "2026-03-01", "--to", "2026-01-01", "--out", str(out)]) == 2
