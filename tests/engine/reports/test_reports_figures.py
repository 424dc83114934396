"""The dashboard's figures: pure functions (table-driven) and the view models on an exact small session."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.reports import figures
from engine.reports.inbox import guess_category
from engine.reports.overview import overview
from engine.reports.scope import NotVisible, Viewer
from engine.reports.session_page import session_page
from engine.reports.verbatims import highlight
from engine.store.models import CampaignVersion
from tests.support.dashboard_support import add_answer, add_enrolled, seed_dashboard

NOW = datetime(2025, 3, 4, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(("ratings", "part", "n"), [([], 0, 0), ([4, 5, 3], 2, 3), ([1, 2, 3], 0, 3), ([4], 1, 1)])
def test_satisfied_share_counts_four_and_five(ratings: list[int], part: int, n: int) -> None:
    assert figures.satisfied_share(ratings) == figures.Rate(part=part, n=n)


@pytest.mark.parametrize(("scores", "expected"), [([], None), ([10, 9, 8, 7, 6, 0], 0.0), ([10, 10, 3], 100 / 3),
                                                  ([6, 6], -100.0)])
def test_nps_is_promoters_minus_detractors(scores: list[int], expected: float | None) -> None:
    assert figures.nps(scores).score == expected


def test_rating_summary_and_helpers() -> None:
    summary = figures.rating_summary([5, 4, 4, 1])
    assert (summary.mean, summary.distribution, summary.satisfied.value) == (3.5, [1, 0, 0, 2, 1], 0.75)
    assert guess_category("Je suis déçu, c'est scandaleux") == "reclamation"
    assert guess_category("Je n'arrive pas à faire le TCD") == "difficulte"
    assert guess_category("Où est mon attestation ?") == "question"
    assert [p.text for p in highlight("Très déçue de la formation") if p.flagged] == ["déçue"]
    assert all(not p.flagged for p in highlight("Pas déçu du tout, merci"))


async def test_session_view_on_an_exact_small_session(session_maker: async_sessionmaker[AsyncSession]) -> None:
    seeded = await seed_dashboard(session_maker, now=NOW, learners=0, learners_b=0)
    at = NOW - timedelta(days=5)
    async with session_maker() as db:
        [pinned] = (await db.exec(select(CampaignVersion))).all()
        for first, score, nps, right in (("Ana", 5, 10, True), ("Bob", 2, 3, False), ("Cyd", None, None, None)):
            lid, eid = await add_enrolled(db, seeded.a.id, pinned.id or 0, first, "X", at)
            await add_answer(db, lid, eid, "satisfaction-chaud", "survey", "satisfaction-chaud#accueil", at,
                             score, str(score))
            await add_answer(db, lid, eid, "satisfaction-chaud", "survey", "satisfaction-chaud#nps", at, nps, str(nps))
            await add_answer(db, lid, eid, "quiz-j7", "quiz", "management/quiz-sbi#sbi-impact", at,
                             None if right is None else ("B" if right else "C"), "B", right)
        await db.commit()
    quality = Viewer(trainer_id=seeded.quality, name="Q", role="quality")
    async with session_maker() as db:
        view = await session_page(db, quality, seeded.a.id, now=NOW)
        assert view.learners == 3
        assert view.response == figures.Rate(part=6, n=9)
        accueil = next(c for c in view.criteria if c.criterion == "accueil")
        assert (accueil.summary.mean, accueil.summary.satisfied.n, accueil.summary.distribution) == (
            3.5, 2, [0, 1, 0, 0, 1])
        assert (view.nps.promoters, view.nps.detractors, view.nps.score) == (1, 1, 0.0)
        [item] = view.quiz_items
        assert item.first == figures.Rate(part=1, n=2)
        assert item.misconception is not None and item.misconception.startswith("C — ")
        states = {row.name: [c.state if c else None for c in row.cells] for row in view.grid}
        assert states["Ana X"][view.steps.index(("quiz-j7", "Quiz SBI à une semaine"))] == "correct"
        assert states["Cyd X"][0] == "silent"
        page = await overview(db, quality, now=NOW, period="all")
        [row] = [s for s in page.sessions if s.id == seeded.a.id]
        assert (row.response, row.satisfied, row.nps, row.quiz) == (view.response, view.satisfied, view.nps,
                                                                     figures.Rate(part=1, n=2))
        assert [(p.month.month, p.satisfied, p.nps.n) for p in page.trend] == [(2, figures.Rate(part=1, n=2), 2)]
        trainer_b = Viewer(trainer_id=seeded.trainer_b, name="B")
        with pytest.raises(NotVisible):
            await session_page(db, trainer_b, seeded.a.id, now=NOW)
