""""Figures equal the dashboard's": one seeded history, and every figure the evidence pack and the
dashboard both show (satisfaction overall and per criterion, criterion means, NPS with its counts,
the all-questions response rate, cold-survey application) is equal, overall and per session.
The pack's survey response rates and its quiz figure (every attempt, reviews included) are defined
differently from the dashboard's and labelled so on both sides."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.core.indicators import CRITERIA, Indicator, Period, by_key
from engine.demo.quality_history import seed_history
from engine.reports.evidence.pack import build_pack
from engine.reports.figures import Nps, Rate
from engine.reports.overview import overview
from engine.reports.scope import Viewer
from engine.reports.session_page import session_page

#: Sessions end from 2 March 2026; every answer of theirs falls inside the period.
PERIOD = Period(date(2026, 1, 1), date(2026, 12, 31))
NOW = datetime(2026, 12, 31, 12, tzinfo=UTC)
QUALITY = Viewer(trainer_id=0, name="Qualité", role="quality")


def _same_share(indicator: Indicator, rate: Rate) -> None:
    assert indicator.value is not None and rate.value is not None
    assert rate.value == pytest.approx(indicator.value)
    assert rate.n == indicator.count("notes") and rate.part == indicator.count("satisfaits")


def _same_rate(indicator: Indicator, rate: Rate, part: str, whole: str | None) -> None:
    """Same value, same numerator and denominator (``whole`` None: the indicator's n)."""
    assert rate.value is not None and rate.value == pytest.approx(indicator.value)
    assert (rate.part, rate.n) == (indicator.count(part), indicator.n if whole is None else indicator.count(whole))


def _same_nps(indicator: Indicator, nps: Nps) -> None:
    assert nps.score is not None and nps.score == pytest.approx(indicator.value)
    assert (nps.promoters, nps.passives, nps.detractors) == (
        indicator.count("promoteurs"), indicator.count("passifs"), indicator.count("detracteurs"))


async def test_the_packs_indicators_equal_the_dashboards_figures(
        store_engine: AsyncEngine, session_maker: async_sessionmaker[AsyncSession]) -> None:
    seeded = await seed_history(store_engine, sessions=3, learners_per_session=8,
                                first_end=datetime(2026, 3, 2, 16, tzinfo=UTC))
    async with session_maker() as db:
        whole = by_key((await build_pack(db, period=PERIOD, now=NOW)).indicators)
        totals = (await overview(db, QUALITY, now=NOW, period="all")).totals
        assert totals is not None
        _same_share(whole["satisfaction.global"], totals.satisfied)
        _same_nps(whole["nps.hot"], totals.nps)
        # The dashboard's « taux de réponse (toutes questions) »: the pack prints it beside its survey rates.
        _same_rate(whole["reponse.toutes"], totals.response, "repondues", "questions")
        for session_id in range(1, seeded.sessions + 1):  # the history numbers its sessions from 1
            pack = by_key((await build_pack(db, period=PERIOD, now=NOW, session_id=session_id)).indicators)
            page = await session_page(db, QUALITY, session_id, now=NOW)
            _same_share(pack["satisfaction.global"], page.satisfied)
            _same_nps(pack["nps.hot"], page.nps)
            _same_rate(pack["reponse.toutes"], page.response, "repondues", "questions")
            _same_rate(pack["froid.application"], page.cold_applied, "oui", None)
            means = {row.criterion: row.summary for row in page.criteria}
            for criterion in CRITERIA:
                _same_share(pack[f"satisfaction.{criterion}"], means[criterion].satisfied)
                assert means[criterion].mean == pytest.approx(pack[f"moyenne.{criterion}"].value)
