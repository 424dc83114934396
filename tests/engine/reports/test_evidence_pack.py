"""The evidence pack from a seeded database: the ZIP holds a PDF whose first page renders
(pdftoppm) and whose text carries the figures, an XLSX with the expected sheets and row
counts, and the same tables as CSV."""

from __future__ import annotations

import io
import re
import subprocess
import zipfile
from datetime import UTC, date, datetime
from pathlib import Path
from xml.etree import ElementTree

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.core.indicators import Period, by_key
from engine.demo.quality_history import seed_history
from engine.reports.evidence.pack import build_pack
from engine.services.improvements import create_action
from engine.services.testimonials import withdraw
from engine.store import models

PERIOD = Period(date(2026, 3, 1), date(2026, 12, 31))
NOW = datetime(2026, 12, 31, 12, tzinfo=UTC)
SHEETS = ["Indicateurs", "Réponses", "Sollicitations", "Réclamations", "Améliorations", "Témoignages"]
_NS = {"m": "http://schemas.openxmlformats.org/spreadsheetml/2006/main"}


def _sheet_rows(xlsx: bytes) -> dict[str, int]:
    """Sheet name → number of rows (header included), read from the workbook's XML."""
    with zipfile.ZipFile(io.BytesIO(xlsx)) as book:
        names = [s.get("name") for s in ElementTree.fromstring(book.read("xl/workbook.xml")).iter(
            f"{{{_NS['m']}}}sheet")]
        return {str(name): len(ElementTree.fromstring(book.read(f"xl/worksheets/sheet{i}.xml")).findall(
            ".//m:sheetData/m:row", _NS)) for i, name in enumerate(names, start=1)}


async def test_the_pack_holds_pdf_xlsx_and_csv(store_engine: AsyncEngine,
                                               session_maker: async_sessionmaker[AsyncSession],
                                               tmp_path: Path) -> None:
    await seed_history(store_engine, sessions=3, learners_per_session=8,
                       first_end=datetime(2026, 3, 2, 16, tzinfo=UTC))
    async with session_maker() as session, session.begin():
        await create_action(session, source_kind="ticket", source_id=2, finding="Support de cours introuvable",
                            decision="Envoyer le support par e-mail à la fin de chaque session",
                            now=datetime(2026, 3, 10, tzinfo=UTC))
        await create_action(session, source_kind="criterion", source_ref="moyens", finding="Moyens notés 2/5",
                            decision="Changer de salle", now=datetime(2026, 3, 11, tzinfo=UTC))
        for learner in (1, 2):
            session.add(models.Testimonial(learner_id=learner, session_id=1, text=f"Très utile {learner}", scope="website",
                                    named=True, consent_at=datetime(2026, 3, 3, tzinfo=UTC)))
    async with session_maker() as session, session.begin():
        await withdraw(session, learner_id=2, now=datetime(2026, 4, 1, tzinfo=UTC))
    async with session_maker() as session:
        pack = await build_pack(session, period=PERIOD, now=NOW)
    figures = by_key(pack.indicators)

    with zipfile.ZipFile(io.BytesIO(pack.zip_bytes)) as archive:
        names = archive.namelist()
        pdf = archive.read("synthese-qualiopi-20260301-20261231.pdf")
        xlsx = archive.read("preuves-qualiopi-20260301-20261231.xlsx")
        csv_names = sorted(n for n in names if n.startswith("csv/"))
        complaints_csv = archive.read("csv/reclamations.csv").decode("utf-8-sig")
    assert csv_names == ["csv/ameliorations.csv", "csv/indicateurs.csv", "csv/reclamations.csv", "csv/reponses.csv",
                         "csv/sollicitations.csv", "csv/temoignages.csv"]

    # The PDF opens: its first page renders to a PNG, and its text carries the figures.
    (tmp_path / "pack.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-png", "-r", "40", "-f", "1", "-l", "1", str(tmp_path / "pack.pdf"),
                    str(tmp_path / "page")], check=True, timeout=60)
    png = next(tmp_path.glob("page*.png")).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 1000
    text = subprocess.run(["pdftotext", "-layout", str(tmp_path / "pack.pdf"), "-"], check=True, timeout=60,
                          capture_output=True, text=True).stdout
    for heading in ("Indicateur 2", "Indicateur 30", "Indicateur 31", "Indicateur 32", "Dossier de preuves Qualiopi"):
        assert heading in text
    # 24 attendances, 18 answered the hot survey (k % 4 != 3): 75 %; satisfaction 5 of 6 → 83 %; NPS +50.
    assert figures["reponse.hot"].formatted() == "75 %" and figures["satisfaction.global"].formatted() == "83 %"
    assert figures["nps.hot"].formatted() == "+50"
    flat = re.sub(r"\s+", " ", text)
    # value, n and population: 16 distinct respondents (learner 0 attends all three sessions), 24 asked
    assert "Satisfaction (notes 4 et 5) 83 % 16 24" in flat
    assert "NPS à chaud +50" in flat and "Taux de réponse au questionnaire à chaud 75 %" in flat
    assert "2 actions au registre : Prévue 2" in flat and "Changer de" in flat

    rows = _sheet_rows(xlsx)
    assert list(rows) == SHEETS
    solicitations = 24 * 2 + 12  # a hot and a cold survey each, and a reminder for k % 4 in (2, 3)
    answers = 18 * 6 + 6 + 12 + 6  # hot ratings+NPS, comments (k % 3 == 0), cold applique, cold results
    expected = {"Réponses": answers, "Sollicitations": solicitations, "Réclamations": 3 + 2,
                "Améliorations": 2, "Témoignages": 1}
    for sheet, count in expected.items():
        assert rows[sheet] == count + 1, sheet  # + the header
    assert rows["Indicateurs"] == len(next(t for t in pack.tables if t.slug == "indicateurs").rows) + 1
    # The complaints register shows the corrective action the ticket led to.
    assert any(line.split(";")[0] == "2" and line.rstrip().endswith(";1") for line in complaints_csv.splitlines())
    assert "Très utile 2" not in pack.zip_bytes.decode("latin-1")  # withdrawn: in no export


async def test_a_session_pack_counts_that_session_only(store_engine: AsyncEngine,
                                                       session_maker: async_sessionmaker[AsyncSession]) -> None:
    await seed_history(store_engine, sessions=2, learners_per_session=4,
                       first_end=datetime(2026, 3, 2, 16, tzinfo=UTC))
    async with session_maker() as session:
        pack = await build_pack(session, period=PERIOD, now=NOW, session_id=2, pdf=False)
    assert by_key(pack.indicators)["reponse.hot"].population == 4
    sheet = next(t for t in pack.tables if t.slug == "sollicitations")
    assert {row[4] for row in sheet.rows} == {2}



async def test_a_session_packs_complaint_rate_is_over_its_own_learners(
        store_engine: AsyncEngine, session_maker: async_sessionmaker[AsyncSession]) -> None:
    """The demo's per-session pack divided the session's complaints by every learner of the
    organisation, and printed « 0,0 pour 100 » for programmes outside the session."""
    await seed_history(store_engine, sessions=2, learners_per_session=4,
                       first_end=datetime(2026, 3, 2, 16, tzinfo=UTC))
    seen = 0
    async with session_maker() as session:
        for session_id in (1, 2):
            pack = await build_pack(session, period=PERIOD, now=NOW, session_id=session_id, pdf=False)
            tables = {t.slug: t for t in pack.tables}
            complaints = sum(1 for row in tables["reclamations"].rows if row[3] == "Réclamation")
            seen += complaints
            whole = by_key(pack.indicators)["reclamations.taux"]
            assert (whole.n, whole.value) == (4, complaints * 100 / 4), session_id  # its four attendees
            programmes = {row[1] for row in tables["indicateurs"].rows}
            assert len(programmes) == 2, programmes  # "Tous" and this session's programme only
    assert seen == 1  # one of the two sessions has a complaint
