"""The public indicators page and JSON (no login, embeddable): only the chosen figures, each
with its period and n, never one on fewer respondents than the threshold; and the
testimonial withdrawal link."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from engine.demo.quality_history import seed_history
from engine.services.digests import stop_link
from engine.services.public_indicators import choose
from engine.services.runtime import Runtime
from engine.services.testimonials import testimonial_rows, withdraw_link
from engine.store import models
from tests.support.web_support import NOW


async def _history(rt: Runtime, maker: async_sessionmaker[AsyncSession], *, learners: int) -> None:
    # Three sessions in the 12 months before NOW, one per programme.
    await seed_history(rt.engine, sessions=3, learners_per_session=learners,
                       first_end=NOW - timedelta(days=200), every=timedelta(days=1))
    async with maker() as session, session.begin():
        assert await choose(session, keys=["satisfaction.global", "nps.hot"], trainer_id=None, now=NOW) == []


async def test_published_figures_with_period_and_n(client: httpx.AsyncClient, rt: Runtime,
                                                   session_maker: async_sessionmaker[AsyncSession]) -> None:
    await _history(rt, session_maker, learners=8)
    data = (await client.get("/public/indicateurs.json")).json()
    overall, *programmes = data["groups"]
    assert overall["programme"] is None
    assert [f["key"] for f in overall["figures"]] == ["satisfaction.global", "nps.hot"]
    nps = overall["figures"][1]
    assert (nps["display"], nps["n"]) == ("+50", 18) and nps["period_start"] and nps["period_end"]
    # Per programme: 6 respondents each (k % 4 != 3 of 8) — at or above the threshold of 5.
    assert len(programmes) == 3 and all(g["figures"][0]["n"] >= 5 for g in programmes)
    page = await client.get("/public/indicateurs")
    assert page.status_code == 200 and "frame-ancestors *" in page.headers["content-security-policy"]
    assert "Nos résultats" in page.text and "+50" in page.text and "Toutes nos formations" in page.text
    assert "Taux de réponse" not in page.text  # not chosen


async def test_no_figure_under_the_threshold(client: httpx.AsyncClient, rt: Runtime,
                                             session_maker: async_sessionmaker[AsyncSession]) -> None:
    await _history(rt, session_maker, learners=4)  # 3 respondents per programme, 9 overall (8 distinct)
    data = (await client.get("/public/indicateurs.json")).json()
    assert [g["programme"] for g in data["groups"]] == [None]
    assert all(f["n"] >= data["threshold"] for g in data["groups"] for f in g["figures"])


async def test_nothing_published_until_chosen(client: httpx.AsyncClient, rt: Runtime) -> None:
    await seed_history(rt.engine, sessions=1, learners_per_session=8, first_end=NOW - timedelta(days=40))
    assert (await client.get("/public/indicateurs.json")).json()["groups"] == []
    assert "Aucun résultat publié" in (await client.get("/public/indicateurs")).text


async def test_the_withdrawal_link_removes_the_testimonial_everywhere(
        client: httpx.AsyncClient, rt: Runtime, session_maker: async_sessionmaker[AsyncSession]) -> None:
    await seed_history(rt.engine, sessions=1, learners_per_session=2, first_end=NOW - timedelta(days=40))
    async with session_maker() as session, session.begin():
        session.add(models.Testimonial(learner_id=1, session_id=1, text="Top", scope="website", named=True,
                                       consent_at=datetime(2026, 1, 1, tzinfo=UTC)))
    link = withdraw_link(rt.settings.secret_key, "http://testserver", learner_id=1, now=NOW)
    path = link.removeprefix("http://testserver")
    form = await client.get(path)
    assert form.status_code == 200 and "Retirer mon accord" in form.text
    async with session_maker() as session:
        assert len(await testimonial_rows(session)) == 1  # a GET changes nothing
    done = await client.post(path)
    assert done.status_code == 200 and "retiré" in done.text
    async with session_maker() as session:
        assert await testimonial_rows(session) == []
        stored = (await session.exec(select(models.Testimonial))).one()
        assert stored.withdrawn_at is not None
    assert (await client.get(path[:-3] + "abc")).status_code == 404


async def test_the_digest_stop_link_is_one_click(client: httpx.AsyncClient, rt: Runtime,
                                                 session_maker: async_sessionmaker[AsyncSession]) -> None:
    await seed_history(rt.engine, sessions=1, learners_per_session=1, first_end=NOW)
    path = stop_link(rt.settings.secret_key, "", trainer_id=1, now=NOW)
    assert "Ne plus le recevoir" in (await client.get(path)).text
    done = await client.post(path, content="List-Unsubscribe=One-Click",
                             headers={"content-type": "application/x-www-form-urlencoded"})
    assert done.status_code == 200
    async with session_maker() as session:
        trainer = await session.get(models.Trainer, 1)
        assert trainer is not None and trainer.digest_opt_out is True
    assert (await client.post(path + "x")).status_code == 404
