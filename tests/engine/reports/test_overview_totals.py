"""The overview's figures, summed by the database, equal the session page's (read reply by reply),
including answers that are not integers and months with no rating at all."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.reports import figures
from engine.reports.overview import overview
from engine.reports.scope import Viewer
from engine.reports.session_page import session_page
from engine.store.models import CampaignVersion
from tests.support.dashboard_support import add_answer, add_enrolled, seed_dashboard

NOW = datetime(2025, 3, 4, 9, 30, tzinfo=UTC)
JAN, FEB, MAR = (datetime(2025, month, day, 10, tzinfo=UTC) for month, day in ((1, 15), (2, 10), (3, 1)))
QUIZ = "management/quiz-sbi#sbi-impact"


async def test_overview_totals_match_the_session_page(session_maker: async_sessionmaker[AsyncSession]) -> None:
    seeded = await seed_dashboard(session_maker, now=NOW, learners=0, learners_b=0)
    # (name, month, accueil rating as stored, NPS, first quiz answer right?)
    people: list[tuple[str, datetime, object, int, bool | None]] = [
        ("Ana", JAN, 5, 9, True), ("Bob", JAN, "5", 7, False), ("Cyd", FEB, 4.5, 6, None), ("Dan", FEB, 3, 10, None)]
    async with session_maker() as db:
        [pinned] = (await db.exec(select(CampaignVersion))).all()
        for name, at, accueil, nps, right in people:
            lid, eid = await add_enrolled(db, seeded.a.id, pinned.id or 0, name, "Y", at)
            await add_answer(db, lid, eid, "satisfaction-chaud", "survey", "satisfaction-chaud#accueil", at, accueil,
                             str(accueil))
            await add_answer(db, lid, eid, "satisfaction-chaud", "survey", "satisfaction-chaud#nps", at, nps, str(nps))
            if right is not None:
                await add_answer(db, lid, eid, "quiz-j7", "quiz", QUIZ, at, "B" if right else "C", "B", right)
            if name == "Dan":  # a review only, in March: a month in the trend with nothing to rate
                await add_answer(db, lid, eid, "revision", "review", QUIZ, MAR, "B", "B", True)
        await db.commit()
    quality = Viewer(trainer_id=seeded.quality, name="Q", role="quality")
    async with session_maker() as db:
        view = await session_page(db, quality, seeded.a.id, now=NOW)
        page = await overview(db, quality, now=NOW, period="all")
    [row] = [s for s in page.sessions if s.id == seeded.a.id]
    # "5" (text) and 4.5 are not 1–5 scores: Ana's 5 and Dan's 3 are.
    assert row.satisfied == view.satisfied == figures.Rate(part=1, n=2)
    assert row.nps == view.nps == figures.Nps(promoters=2, passives=1, detractors=1)
    assert row.quiz == figures.Rate(part=1, n=2)
    assert page.totals is not None and page.totals.nps == row.nps and page.totals.learners == 4
    assert [(p.month.month, p.satisfied, p.nps) for p in page.trend] == [
        (1, figures.Rate(part=1, n=1), figures.Nps(promoters=1, passives=1)),
        (2, figures.Rate(part=0, n=1), figures.Nps(promoters=1, detractors=1)),
        (3, figures.Rate(part=0, n=0), figures.Nps())]
