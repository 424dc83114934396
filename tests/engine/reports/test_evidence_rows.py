"""The loader turns a seeded history into the indicators' rows in a constant number of queries,
and the figures match the seed's rules counted by hand."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.core.indicators import Period, all_indicators, by_key
from engine.demo.quality_history import seed_history
from engine.reports.evidence.rows import load_evidence

YEAR = Period(date(2026, 1, 1), date(2026, 12, 31))
NOW = datetime(2026, 12, 31, 12, tzinfo=UTC)
FIRST_END = datetime(2026, 3, 2, 16, tzinfo=UTC)


async def _load(engine: AsyncEngine, maker: async_sessionmaker[AsyncSession]) -> tuple[int, object]:
    statements: list[str] = []

    def count(*args: object) -> None:
        statements.append(str(args[2]))

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        async with maker() as session:
            loaded = await load_evidence(session, period=YEAR, now=NOW)
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
    return len(statements), loaded


async def test_rows_match_the_seed_rules(store_engine: AsyncEngine,
                                         session_maker: async_sessionmaker[AsyncSession]) -> None:
    await seed_history(store_engine, sessions=2, learners_per_session=8, first_end=FIRST_END)
    queries, loaded = await _load(store_engine, session_maker)
    rows = loaded.rows  # type: ignore[attr-defined]
    figures = by_key(all_indicators(rows, YEAR, now=NOW))
    # Per session, k = 0..7: answered hot survey unless k % 4 == 3 → 6 of 8; reminders for k % 4 in (2, 3).
    hot = figures["reponse.hot"]
    assert (hot.population, hot.n, hot.count("relances"), hot.count("repondus_apres_relance")) == (16, 12, 8, 4)
    # Ratings of respondents k = 0, 1, 2, 4, 5, 6: 5, 4, 5, 5, 2, 5 → satisfied 5 of 6.
    assert figures["satisfaction.global"].value == 5 / 6
    # 12 answers, 11 respondents: learner 0 of session 1 is learner 0 of session 2 too.
    assert (figures["satisfaction.accueil"].count("notes"), figures["satisfaction.accueil"].n) == (12, 11)
    # NPS of the same: 10, 8, 10, 10, 3, 10 → 4 promoters, 1 passive, 1 detractor → +50.
    assert figures["nps.hot"].value == 50.0 and figures["nps.hot"].count("detracteurs") == 2
    # Cold: answered by even k (4 per session), applied when k % 4 == 0 (2 per session).
    assert (figures["froid.application"].value, figures["froid.application"].n) == (0.5, 8)
    # Tickets: one question per session (5 h), one complaint in session 1 (60 h).
    assert figures["demandes.delai"].value == 2 / 3
    assert figures["reclamations.taux"].count("reclamations") == 1
    # Learner 0 of session 1 attends session 2: 15 distinct learners, 1 came back.
    assert figures["reinscription.learner"].count("revenus") == 1 and figures["reinscription.learner"].n == 15
    # k % 5 == 4 opts out 10 days after: k = 4 in each session → 2 of 16 enrolments.
    assert figures["suivi.abandon"].value == 2 / 16
    assert figures["quiz.reussite"].count("reponses") == 32
    assert figures["quiz.retention"].value is not None
    assert queries <= 12


async def test_query_count_does_not_grow_with_the_data(store_engine: AsyncEngine,
                                                       session_maker: async_sessionmaker[AsyncSession]) -> None:
    await seed_history(store_engine, sessions=1, learners_per_session=3, first_end=FIRST_END)
    small, _ = await _load(store_engine, session_maker)
    async with session_maker() as session:
        loaded = await load_evidence(session, period=YEAR, now=NOW, session_id=1)
    assert len(loaded.rows.enrolments) == 3
    assert small <= 12
