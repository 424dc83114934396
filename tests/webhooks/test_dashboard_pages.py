"""Dashboard pages: login, every page renders for each role, forms post → redirect → get."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from dashboard_client import login, post_form
from dashboard_support import Seeded, seed_dashboard
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import async_sessionmaker
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from web_support import NOW

from engine.store.models import Delivery, LearnerNote, Ticket


@pytest.fixture
async def seeded(session_maker: async_sessionmaker[AsyncSession]) -> Seeded:
    return await seed_dashboard(session_maker, now=NOW)


@pytest.fixture
async def web(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="https://testserver") as c:
        yield c


def _pages(s: Seeded) -> list[str]:
    return ["/dashboard/", "/dashboard/?period=all&q=manager", f"/dashboard/sessions/{s.a.id}",
            f"/dashboard/learners/{s.a.learner_ids[0]}", "/dashboard/inbox", "/dashboard/inbox?state=all",
            f"/dashboard/inbox/{s.a.ticket_ids[0]}", "/dashboard/at-risk", "/dashboard/tasks",
            "/dashboard/alerts", f"/dashboard/exports/sessions/{s.a.id}.csv", "/dashboard/exports/inbox.csv"]


async def test_anonymous_visitors_are_sent_to_the_login_page(web: httpx.AsyncClient, seeded: Seeded) -> None:
    response = await web.get(f"/dashboard/sessions/{seeded.a.id}")
    assert response.status_code == 303
    assert response.headers["location"] == f"/dashboard/login?next=/dashboard/sessions/{seeded.a.id}"


@pytest.mark.parametrize("role", ["trainer", "quality"])
async def test_every_page_renders_for_each_role(web: httpx.AsyncClient, seeded: Seeded, role: str) -> None:
    response = await login(web, seeded.emails[role])
    assert response.status_code == 303
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" in cookie
    for path in _pages(seeded):
        page = await web.get(path)
        assert page.status_code == 200, (path, page.text[:500])
    overview = (await web.get("/dashboard/")).text
    assert "Manager coach — Lyon" in overview
    assert ("Manager coach — Nantes" in overview) == (role == "quality")
    session = (await web.get(f"/dashboard/sessions/{seeded.a.id}")).text
    assert "Accueil" in session and "low_rating" not in session
    assert '<mark class="flag">' in session  # "Déçu" highlighted in the verbatims


async def test_forms_redirect_and_show_errors_beside_fields(web: httpx.AsyncClient, seeded: Seeded,
                                                            session_maker: async_sessionmaker[AsyncSession]) -> None:
    await login(web, seeded.emails["trainer"])
    learner = f"/dashboard/learners/{seeded.a.learner_ids[0]}"
    empty = await post_form(web, learner, f"{learner}/notes", {"body": "  "})
    assert empty.status_code == 422 and 'id="body-error"' in empty.text
    saved = await post_form(web, learner, f"{learner}/notes", {"body": "Appelée : tout va bien"})
    assert saved.status_code == 303 and saved.headers["location"].endswith("ok=saved")
    ticket_id = seeded.a.ticket_ids[0]
    ticket_page = f"/dashboard/inbox/{ticket_id}"
    answered = await post_form(web, ticket_page, f"{ticket_page}/answer",
                               {"text": "Votre attestation part demain.", "close": "0"})
    assert answered.status_code == 303
    triaged = await post_form(web, ticket_page, f"{ticket_page}/triage",
                              {"category": "reclamation", "assignee": str(seeded.trainer_a)})
    assert triaged.status_code == 303
    async with session_maker() as db:
        ticket = await db.get(Ticket, ticket_id)
        assert ticket is not None
        assert (ticket.status, ticket.category, ticket.assignee_id) == ("answered", "reclamation", seeded.trainer_a)
        assert ticket.first_response_at is not None
        sent = (await db.exec(select(Delivery).where(col(Delivery.step_id) == "ticket"))).all()
        assert [d.rendered for d in sent] == [{"body": "Votre attestation part demain."}]
        notes = (await db.exec(select(LearnerNote))).all()
        assert [n.body for n in notes] == ["Appelée : tout va bien"]
