"""`ancrage report qualiopi` on the demo's data: the real commands, one after the other, and a ZIP
whose PDF states the satisfaction the dashboard shows and whose workbook has every sheet."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
import zipfile
from datetime import timedelta
from pathlib import Path

from engine.reports.inbox import inbox
from engine.reports.overview import overview
from engine.reports.scope import Viewer
from engine.services.bootstrap import build_runtime, close_runtime
from engine.settings import Settings

ANCRAGE = str(Path(sys.executable).with_name("ancrage"))
SHEETS = ["Indicateurs", "Réponses", "Sollicitations", "Réclamations", "Améliorations", "Témoignages"]


def _run(*args: str, data_dir: Path) -> str:
    env = {**os.environ, "ANCRAGE_DATA_DIR": str(data_dir)}
    env.pop("DATABASE_URL", None)
    env.pop("REDIS_URL", None)
    done = subprocess.run([ANCRAGE, *args], capture_output=True, text=True, env=env, timeout=240, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


async def test_the_pack_of_the_demo_data_says_what_the_dashboard_shows(tmp_path: Path,
                                                                      demo_data: tuple[Path, str]) -> None:
    data, _ = demo_data  # a copy of `demo --no-run`'s folder, prepared once (tests/support/demo_data.py)
    rt = await build_runtime(Settings(data_dir=data, REDIS_URL=None, DATABASE_URL=None))
    try:
        now = rt.now()
        async with rt.sessions() as db:
            quality = Viewer(trainer_id=0, name="Qualité", role="quality")
            totals = (await overview(db, quality, now=now, period="all")).totals
            complaints = (await inbox(db, quality, now=now, state="all", category="reclamation")).total
    finally:
        await close_runtime(rt)
    assert totals is not None and totals.satisfied.value is not None
    today = now.date()
    out = tmp_path / "pack.zip"
    _run("report", "qualiopi", "--from", (today - timedelta(days=365)).isoformat(), "--to", today.isoformat(),
         "--out", str(out), data_dir=data)
    with zipfile.ZipFile(out) as archive:
        names = archive.namelist()
        [pdf] = [n for n in names if n.endswith(".pdf")]
        [xlsx] = [n for n in names if n.endswith(".xlsx")]
        (tmp_path / "summary.pdf").write_bytes(archive.read(pdf))
        with zipfile.ZipFile(io.BytesIO(archive.read(xlsx))) as book:
            workbook = book.read("xl/workbook.xml").decode()
        indicators = archive.read("csv/indicateurs.csv").decode("utf-8-sig").splitlines()
    text = subprocess.run(["pdftotext", "-layout", str(tmp_path / "summary.pdf"), "-"], capture_output=True,
                          text=True, check=True).stdout
    line = next(row for row in text.splitlines() if row.startswith("Satisfaction (notes 4 et 5)"))
    shown = round(totals.satisfied.value * 100)  # the dashboard's "Satisfaits (≥ 4/5)", as a whole percentage
    assert re.search(rf"\b{shown} %", line), (line, shown)
    for sheet in SHEETS:
        assert f'name="{sheet}"' in workbook, sheet
    # The demo writes a complaint in every past session, even a small one; the pack counts exactly the
    # complaints the inbox shows (the same guessed category), per 100 of the period's learners.
    assert complaints >= 1
    [rate] = [row.split(";") for row in indicators if row.startswith("Réclamations pour 100 stagiaires;Tous;")]
    assert rate[7] == f"reclamations : {complaints}" and not rate[2].startswith("0,0"), rate
